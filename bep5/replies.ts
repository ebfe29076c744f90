import { type BencodeDict, type Encodable } from './bencode.js';
import { decodeNodes, decodePeer, encodeNodes, encodePeer, type NodeInfo, type PeerAddress } from './compact.js';
import { CompactError, FieldError } from './errors.js';
import { BLOOM_FILTER_BYTES, ID_BYTES, MAX_SAMPLE_INTERVAL_SECONDS, MAX_TOKEN_BYTES } from './constants.js';
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

export interface ReplyMap {
  ping: PingReply;
  find_node: FindNodeReply;
  get_peers: GetPeersReply;
  announce_peer: AnnouncePeerReply;
  sample_infohashes: SampleInfohashesReply;
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
      return { id };
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
      // An empty token is read as none: it cannot authorise an announce either way.
      const rawToken = optionalBytes(r, 'token', { max: MAX_TOKEN_BYTES });
      const token = rawToken && rawToken.length > 0 ? rawToken : undefined;
      const bfsd = optionalBytes(r, 'BFsd', { length: BLOOM_FILTER_BYTES });
      const bfpe = optionalBytes(r, 'BFpe', { length: BLOOM_FILTER_BYTES });
      return {
        id,
        token: token && Buffer.from(token),
        values: values ?? [],
        nodes: nodes ?? [],
        nodes6: nodes6 ?? [],
        bfsd: bfsd && Buffer.from(bfsd),
        bfpe: bfpe && Buffer.from(bfpe),
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
      return { id: reply.id };
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
      : ReplyMap[M];
