import { type BencodeDict, type BencodeValue, type Encodable, decode, encode } from './bencode.js';
import { decodeNodes, decodePeer, encodeNodes, encodePeer, type NodeInfo, type PeerAddress } from './compact.js';
import { CompactError, FieldError } from './errors.js';
import { BEP44_PUBLIC_KEY_BYTES, BEP44_SIGNATURE_BYTES, BLOOM_FILTER_BYTES, ID_BYTES, MAX_SAMPLE_INTERVAL_SECONDS, MAX_TOKEN_BYTES } from './constants.js';
import { getField, optionalBytes, optionalInt, optionalList, requireBytes } from './fields.js';
import { type Method } from './queries.js';

/**
 * The return values (`r`) of every method, typed, and their validation. A reply is accepted
 * only if it is the right kind of answer for the query we sent: a find_node reply must carry
 * nodes, a sample_infohashes reply must carry samples, and so on. Compact lists must hold
 * whole entries only; a partial entry rejects the reply rather than being silently cut.
 */

export interface PingReply {
  id: Buffer;
}

export interface FindNodeReply {
  id: Buffer;
  nodes: NodeInfo[];
  nodes6: NodeInfo[];
}

export interface GetPeersReply {
  id: Buffer;
  /** BEP 33: may be absent when the node will not take announces for this infohash. */
  token?: Buffer;
  values: PeerAddress[];
  nodes: NodeInfo[];
  nodes6: NodeInfo[];
  /** BEP 33 bloom filters of seeds and of peers, 256 bytes each, when scrape was asked. */
  bfsd?: Buffer;
  bfpe?: Buffer;
}

export interface AnnouncePeerReply {
  id: Buffer;
}

export interface SampleInfohashesReply {
  id: Buffer;
  /** Seconds before this node should be sampled again (BEP 51: 0..21,600). */
  interval: number;
  /** How many infohashes the node stores in total. */
  num: number;
  samples: Buffer[];
  nodes: NodeInfo[];
  nodes6: NodeInfo[];
}

/**
 * BEP 44 get. The item fields are what the node sent, checked for type and length only: that
 * the value hashes to the target and the signature holds is for the caller (bep5/bep44.ts).
 */
export interface GetReply {
  id: Buffer;
  token?: Buffer;
  nodes: NodeInfo[];
  nodes6: NodeInfo[];
  /** The value, decoded from `vBytes` (a copy of the datagram). */
  v?: BencodeValue;
  /**
   * `v` bencoded canonically: the bytes to hash and verify. A node that sent `v` with unsorted
   * keys sent other bytes; the item it meant is this one, and stands or falls by it.
   */
  vBytes?: Buffer;
  k?: Buffer;
  /** Mutable items; alone (without v), the node holds this seq, no newer than the query's `seq`. */
  seq?: number;
  sig?: Buffer;
}

export interface PutReply {
  id: Buffer;
}

export interface ReplyMap {
  ping: PingReply;
  find_node: FindNodeReply;
  get_peers: GetPeersReply;
  announce_peer: AnnouncePeerReply;
  sample_infohashes: SampleInfohashesReply;
  get: GetReply;
  put: PutReply;
}
export type ReplyOf<M extends Method> = ReplyMap[M];
export type Reply = ReplyMap[Method];

/** Up to this many `values` entries; a 64 KiB datagram cannot hold more 6-byte peers anyway. */
const MAX_VALUES = 10_000;

function nodeList(r: BencodeDict, key: 'nodes' | 'nodes6'): NodeInfo[] | undefined {
  const raw = optionalBytes(r, key);
  if (raw === undefined) return undefined;
  try {
    return decodeNodes(raw, key === 'nodes' ? 4 : 6);
  } catch (err) {
    if (err instanceof CompactError) throw new FieldError(`${key}: ${err.reason}`);
    throw err;
  }
}

function peerList(r: BencodeDict): PeerAddress[] | undefined {
  const items = optionalList(r, 'values', MAX_VALUES);
  if (items === undefined) return undefined;
  return items.map((item) => {
    if (!Buffer.isBuffer(item)) throw new FieldError('values items must be strings');
    try {
      return decodePeer(item);
    } catch (err) {
      if (err instanceof CompactError) throw new FieldError(`values: ${err.reason}`);
      throw err;
    }
  });
}

/** A reply's write token, copied; an empty one is read as none: it cannot authorise a write either way. */
function replyToken(r: BencodeDict): Buffer | undefined {
  const raw = optionalBytes(r, 'token', { max: MAX_TOKEN_BYTES });
  return raw && raw.length > 0 ? Buffer.from(raw) : undefined;
}

const copyOf = (b: Buffer | undefined): Buffer | undefined => b && Buffer.from(b);

function parseGetReply(id: Buffer, r: BencodeDict): GetReply {
  const nodes = nodeList(r, 'nodes');
  const nodes6 = nodeList(r, 'nodes6');
  const token = replyToken(r);
  const seq = optionalInt(r, 'seq', { min: 0 });
  const k = optionalBytes(r, 'k', { length: BEP44_PUBLIC_KEY_BYTES });
  const sig = optionalBytes(r, 'sig', { length: BEP44_SIGNATURE_BYTES });
  const raw = getField(r, 'v');
  // As for get_peers: an answer says something (an item, a seq, nodes) or at least gives a token.
  if (raw === undefined && seq === undefined && nodes === undefined && nodes6 === undefined && token === undefined) {
    throw new FieldError('get reply without v, nodes or token');
  }
  const reply: GetReply = { id, token, nodes: nodes ?? [], nodes6: nodes6 ?? [] };
  if (raw !== undefined) {
    reply.vBytes = encode(raw);
    reply.v = decode(reply.vBytes);
  }
  if (k !== undefined) reply.k = copyOf(k);
  if (seq !== undefined) reply.seq = seq;
  if (sig !== undefined) reply.sig = copyOf(sig);
  return reply;
}

function sampleList(r: BencodeDict): Buffer[] {
  const raw = requireBytes(r, 'samples');
  if (raw.length % ID_BYTES !== 0) throw new FieldError('samples: partial entry');
  const out: Buffer[] = [];
  // Copies: samples are kept (deduplicated, indexed) long after the datagram is gone.
  for (let i = 0; i < raw.length; i += ID_BYTES) out.push(Buffer.from(raw.subarray(i, i + ID_BYTES)));
  return out;
}

/**
 * Validates a reply body against the method it answers. Throws FieldError with a short
 * reason when it is malformed or not the right kind of answer.
 */
export function parseReply<M extends Method>(method: M, r: BencodeDict): ReplyOf<M>;
export function parseReply(method: Method, r: BencodeDict): Reply {
  // Copied: a responder's id goes into routing tables that outlive the datagram.
  const id = Buffer.from(requireBytes(r, 'id', { length: ID_BYTES }));
  switch (method) {
    case 'ping':
    case 'announce_peer':
    case 'put':
      return { id };
    case 'get':
      return parseGetReply(id, r);
    case 'find_node': {
      const nodes = nodeList(r, 'nodes');
      const nodes6 = nodeList(r, 'nodes6');
      // A node whose table is empty answers with its id alone (jech/dht in Transmission does,
      // right after it starts): an answer with no contacts. An answer of another kind (values
      // where nodes belong) is still refused.
      if (nodes === undefined && nodes6 === undefined && r.values !== undefined) throw new FieldError('find_node reply without nodes');
      return { id, nodes: nodes ?? [], nodes6: nodes6 ?? [] };
    }
    case 'get_peers': {
      const values = peerList(r);
      const nodes = nodeList(r, 'nodes');
      const nodes6 = nodeList(r, 'nodes6');
      // With neither, only a token makes it an answer: a node with an empty table (jech/dht)
      // still hands out tokens, and one among the closest must be announced to.
      if (values === undefined && nodes === undefined && nodes6 === undefined && r.token === undefined) {
        throw new FieldError('get_peers reply without values or nodes');
      }
      const token = replyToken(r);
      const bfsd = optionalBytes(r, 'BFsd', { length: BLOOM_FILTER_BYTES });
      const bfpe = optionalBytes(r, 'BFpe', { length: BLOOM_FILTER_BYTES });
      return {
        id,
        token,
        values: values ?? [],
        nodes: nodes ?? [],
        nodes6: nodes6 ?? [],
        bfsd: copyOf(bfsd),
        bfpe: copyOf(bfpe),
      };
    }
    case 'sample_infohashes': {
      // BEP 51: `samples` is what tells a supporting node from one that ignored the method.
      if (getField(r, 'samples') === undefined) throw new FieldError('sample_infohashes reply without samples');
      const samples = sampleList(r);
      // The interval is advisory: missing reads as 0, past the BEP's maximum is clamped; the
      // samples are worth keeping either way.
      const interval = Math.min(optionalInt(r, 'interval', { min: 0 }) ?? 0, MAX_SAMPLE_INTERVAL_SECONDS);
      const num = optionalInt(r, 'num', { min: 0 }) ?? samples.length;
      return {
        id,
        interval,
        num,
        samples,
        nodes: nodeList(r, 'nodes') ?? [],
        nodes6: nodeList(r, 'nodes6') ?? [],
      };
    }
  }
}

/** Node lists are written only when non-empty or asked for, so replies stay small. */
function nodesField(nodes: NodeInfo[] | undefined, family: 4 | 6): Buffer | undefined {
  return nodes === undefined ? undefined : encodeNodes(nodes, family);
}

/**
 * The `r` dictionary for an outgoing reply. Node lists given as `undefined` are omitted;
 * an empty array is written as an empty string (the node was asked and knows none).
 */
export function encodeReply<M extends Method>(method: M, reply: ReplyInput<M>): Encodable;
export function encodeReply(method: Method, reply: ReplyInput<Method>): Encodable {
  switch (method) {
    case 'ping':
    case 'announce_peer':
    case 'put':
      return { id: reply.id };
    case 'get': {
      const r = reply as ReplyInput<'get'>;
      // BEP 44 get replies "should always include nodes": with no item and no list, say "none".
      const nodes = r.nodes ?? (r.v === undefined && r.seq === undefined && r.nodes6 === undefined ? [] : undefined);
      return { id: r.id, token: r.token, k: r.k, nodes: nodesField(nodes, 4), nodes6: nodesField(r.nodes6, 6), seq: r.seq, sig: r.sig, v: r.v };
    }
    case 'find_node': {
      const r = reply as ReplyInput<'find_node'>;
      return { id: r.id, nodes: nodesField(r.nodes, 4), nodes6: nodesField(r.nodes6, 6) };
    }
    case 'get_peers': {
      const r = reply as ReplyInput<'get_peers'>;
      const values = r.values && r.values.length > 0 ? r.values.map(encodePeer) : undefined;
      // A get_peers reply must carry values or nodes; with neither, say "no nodes" explicitly.
      const nodes = r.nodes ?? (values === undefined && r.nodes6 === undefined ? [] : undefined);
      return {
        id: r.id,
        token: r.token,
        values,
        nodes: nodesField(nodes, 4),
        nodes6: nodesField(r.nodes6, 6),
        BFsd: r.bfsd,
        BFpe: r.bfpe,
      };
    }
    case 'sample_infohashes': {
      const r = reply as ReplyInput<'sample_infohashes'>;
      for (const sample of r.samples) {
        if (sample.length !== ID_BYTES) throw new TypeError(`sample_infohashes: samples must be ${ID_BYTES} bytes`);
      }
      return {
        id: r.id,
        interval: r.interval,
        num: r.num,
        samples: Buffer.concat(r.samples),
        nodes: nodesField(r.nodes, 4),
        nodes6: nodesField(r.nodes6, 6),
      };
    }
  }
}

/** What a handler returns: like the parsed reply, but node lists may be left out. */
export type ReplyInput<M extends Method> = M extends 'find_node'
  ? { id: Buffer; nodes?: NodeInfo[]; nodes6?: NodeInfo[] }
  : M extends 'get_peers'
    ? Omit<GetPeersReply, 'values' | 'nodes' | 'nodes6'> & { values?: PeerAddress[]; nodes?: NodeInfo[]; nodes6?: NodeInfo[] }
    : M extends 'sample_infohashes'
      ? Omit<SampleInfohashesReply, 'nodes' | 'nodes6'> & { nodes?: NodeInfo[]; nodes6?: NodeInfo[] }
      : M extends 'get'
        ? Omit<GetReply, 'nodes' | 'nodes6' | 'vBytes'> & { nodes?: NodeInfo[]; nodes6?: NodeInfo[] }
        : ReplyMap[M];
