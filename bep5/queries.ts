import { type BencodeDict, type BencodeValue, type Encodable, encode, isCanonicalDecoding } from './bencode.js';
import {
  BEP44_MAX_SALT_BYTES,
  BEP44_MAX_VALUE_BYTES,
  BEP44_PUBLIC_KEY_BYTES,
  BEP44_SIGNATURE_BYTES,
  ID_BYTES,
  KRPC_ERROR_SALT_TOO_BIG,
  KRPC_ERROR_VALUE_TOO_BIG,
  MAX_TOKEN_BYTES,
  MAX_WANT_ITEMS,
} from './constants.js';
import { getField, optionalBytes, optionalFlag, optionalInt, optionalList, requireBytes, requireInt } from './fields.js';
import { FieldError } from './errors.js';

/**
 * The arguments (`a`) of every query we send or answer, typed, and their validation.
 * BEP 5 (ping, find_node, get_peers, announce_peer), BEP 32 (`want`), BEP 33 (`noseed`,
 * `scrape`, `seed`), BEP 51 (sample_infohashes), BEP 44 (get, put). Unknown extra arguments
 * are ignored, as BEP 5's extensibility requires; known ones are checked for type and length.
 */

export const METHODS = ['ping', 'find_node', 'get_peers', 'announce_peer', 'sample_infohashes', 'get', 'put'] as const;
export type Method = (typeof METHODS)[number];

export function isMethod(name: string): name is Method {
  return (METHODS as readonly string[]).includes(name);
}

/** BEP 32 `want`: which node lists the reply should carry. Absent means "my own family". */
export interface Want {
  n4: boolean;
  n6: boolean;
}

export interface PingQuery {
  method: 'ping';
  id: Buffer;
}

export interface FindNodeQuery {
  method: 'find_node';
  id: Buffer;
  target: Buffer;
  want?: Want;
}

export interface GetPeersQuery {
  method: 'get_peers';
  id: Buffer;
  infoHash: Buffer;
  want?: Want;
  /** BEP 33: prefer non-seeds in `values`. */
  noseed?: boolean;
  /** BEP 33: include `BFsd` / `BFpe` bloom filters. */
  scrape?: boolean;
}

export interface AnnouncePeerQuery {
  method: 'announce_peer';
  id: Buffer;
  infoHash: Buffer;
  /** The announced port; meaningless when `impliedPort` is set (may then be 0). */
  port: number;
  /** BEP 5: use the datagram's source port instead of `port`. */
  impliedPort?: boolean;
  token: Buffer;
  /** BEP 33: the announcer is a seed. */
  seed?: boolean;
}

export interface SampleInfohashesQuery {
  method: 'sample_infohashes';
  id: Buffer;
  target: Buffer;
  want?: Want;
}

/** BEP 44 get: the item stored under `target`, a write token, and the nodes closest to it. */
export interface GetQuery {
  method: 'get';
  id: Buffer;
  target: Buffer;
  /** Send the item only if its sequence number is greater than this (mutable items). */
  seq?: number;
  want?: Want;
}

/**
 * BEP 44 put. Immutable without `k`; mutable with `k`, `sig` and `seq` (then `salt` and `cas`
 * are read too). Sequence numbers are integers 0..2^53-1: BEP 44 allows up to 2^63-1, but our
 * decoder holds integers up to 2^53-1 only, so a put with a larger seq (or cas) does not decode
 * at all: the datagram is dropped as undecodable, unanswered (no 203: without a decoded
 * message there is no transaction id to answer to).
 */
export interface PutQuery {
  method: 'put';
  id: Buffer;
  token: Buffer;
  /** The value, decoded (byte strings are views: copy to keep). */
  v: BencodeValue;
  /**
   * Its bencoded bytes (a fresh buffer): what is hashed, signed, stored and sent. Equal to the
   * bytes that arrived, since `v` with unsorted keys is refused (bencode.ts isCanonicalDecoding).
   */
  vBytes: Buffer;
  /** Mutable items: the 32-byte ed25519 public key. */
  k?: Buffer;
  /** Mutable items: the 64-byte signature of salt, seq and v (bep44.ts). */
  sig?: Buffer;
  seq?: number;
  /** Mutable items: appended to `k` for the target; absent is the same as empty. */
  salt?: Buffer;
  /** Mutable items: store only if the stored item's seq is this (compare and swap). */
  cas?: number;
}

export type Query = PingQuery | FindNodeQuery | GetPeersQuery | AnnouncePeerQuery | SampleInfohashesQuery | GetQuery | PutQuery;
export type QueryOf<M extends Method> = Extract<Query, { method: M }>;

function parseWant(args: BencodeDict): Want | undefined {
  const items = optionalList(args, 'want', MAX_WANT_ITEMS);
  if (items === undefined) return undefined;
  const want: Want = { n4: false, n6: false };
  for (const item of items) {
    // BEP 32: unknown strings are ignored; a non-string is not a flag at all.
    if (!Buffer.isBuffer(item)) throw new FieldError('want items must be strings');
    if (item.length === 2 && item[0] === 0x6e /* n */) {
      if (item[1] === 0x34 /* 4 */) want.n4 = true;
      else if (item[1] === 0x36 /* 6 */) want.n6 = true;
    }
  }
  return want;
}

const id = (args: BencodeDict, key: string): Buffer => requireBytes(args, key, { length: ID_BYTES });

/**
 * Validates the arguments of a query whose method is known. Byte fields are views into the
 * datagram (queries are answered and forgotten); anything kept long-term must be copied. Throws FieldError with a short
 * reason (to be answered with error 203) when a field has the wrong type or length.
 */
export function parseQueryArgs<M extends Method>(method: M, args: BencodeDict): QueryOf<M>;
export function parseQueryArgs(method: Method, args: BencodeDict): Query {
  const sender = id(args, 'id');
  switch (method) {
    case 'ping':
      return { method, id: sender };
    case 'find_node':
      return { method, id: sender, target: id(args, 'target'), want: parseWant(args) };
    case 'sample_infohashes':
      return { method, id: sender, target: id(args, 'target'), want: parseWant(args) };
    case 'get_peers':
      return {
        method,
        id: sender,
        infoHash: id(args, 'info_hash'),
        want: parseWant(args),
        noseed: optionalFlag(args, 'noseed'),
        scrape: optionalFlag(args, 'scrape'),
      };
    case 'announce_peer': {
      const impliedPort = optionalFlag(args, 'implied_port');
      // With implied_port the port argument is ignored (still type-checked, may be absent);
      // without it, the port must be usable.
      if (impliedPort) optionalInt(args, 'port');
      const port = impliedPort ? 0 : requireInt(args, 'port', { min: 1, max: 65_535 });
      return {
        method,
        id: sender,
        infoHash: id(args, 'info_hash'),
        port,
        impliedPort,
        token: requireBytes(args, 'token', { min: 1, max: MAX_TOKEN_BYTES }),
        seed: optionalFlag(args, 'seed'),
      };
    }
    case 'get':
      return { method, id: sender, target: id(args, 'target'), seq: optionalInt(args, 'seq', { min: 0 }), want: parseWant(args) };
    case 'put':
      return parsePut(sender, args);
  }
}

function parsePut(sender: Buffer, args: BencodeDict): PutQuery {
  const token = requireBytes(args, 'token', { min: 1, max: MAX_TOKEN_BYTES });
  const v = getField(args, 'v');
  if (v === undefined) throw new FieldError('missing v');
  // BEP 44: a v with invalid bencoding (unsorted keys) MUST be refused, SHOULD be with 203.
  // Every other non-canonical form never decodes at all.
  if (!isCanonicalDecoding(v)) throw new FieldError('v is not canonical bencoding');
  const vBytes = encode(v);
  if (vBytes.length > BEP44_MAX_VALUE_BYTES) throw new FieldError(`v too big (${vBytes.length} bytes)`, KRPC_ERROR_VALUE_TOO_BIG);
  const put: PutQuery = { method: 'put', id: sender, token, v, vBytes };
  if (getField(args, 'k') === undefined && getField(args, 'sig') === undefined && getField(args, 'seq') === undefined) return put;
  const salt = optionalBytes(args, 'salt');
  if (salt !== undefined && salt.length > BEP44_MAX_SALT_BYTES) throw new FieldError('salt too big', KRPC_ERROR_SALT_TOO_BIG);
  put.k = requireBytes(args, 'k', { length: BEP44_PUBLIC_KEY_BYTES });
  put.sig = requireBytes(args, 'sig', { length: BEP44_SIGNATURE_BYTES });
  put.seq = requireInt(args, 'seq', { min: 0 });
  // An empty salt is as if none was given (BEP 44).
  if (salt !== undefined && salt.length > 0) put.salt = salt;
  const cas = optionalInt(args, 'cas', { min: 0 });
  if (cas !== undefined) put.cas = cas;
  return put;
}

/** BEP 32: `want` is a list of one or more strings, so an empty want is left out. */
function encodeWant(want: Want | undefined): Buffer[] | undefined {
  if (want === undefined) return undefined;
  const out: Buffer[] = [];
  if (want.n4) out.push(Buffer.from('n4'));
  if (want.n6) out.push(Buffer.from('n6'));
  return out.length > 0 ? out : undefined;
}

const flag = (b: boolean | undefined): number | undefined => (b ? 1 : undefined);

/** The `a` dictionary for an outgoing query. Only set flags are written, as deployed clients expect. */
export function encodeQueryArgs(query: Query): Encodable {
  switch (query.method) {
    case 'ping':
      return { id: query.id };
    case 'find_node':
    case 'sample_infohashes':
      return { id: query.id, target: query.target, want: encodeWant(query.want) };
    case 'get_peers':
      return {
        id: query.id,
        info_hash: query.infoHash,
        want: encodeWant(query.want),
        noseed: flag(query.noseed),
        scrape: flag(query.scrape),
      };
    case 'announce_peer':
      return {
        id: query.id,
        info_hash: query.infoHash,
        port: query.port,
        implied_port: flag(query.impliedPort),
        token: query.token,
        seed: flag(query.seed),
      };
    case 'get':
      return { id: query.id, target: query.target, seq: query.seq, want: encodeWant(query.want) };
    case 'put':
      return {
        id: query.id,
        token: query.token,
        v: query.v,
        k: query.k,
        salt: query.salt !== undefined && query.salt.length > 0 ? query.salt : undefined,
        seq: query.seq,
        sig: query.sig,
        cas: query.cas,
      };
  }
}

/** Checks our own outgoing query before it leaves, so a programming error fails loudly here. */
export function assertValidQuery(query: Query): void {
  const check = (b: Buffer, what: string): void => {
    if (!Buffer.isBuffer(b) || b.length !== ID_BYTES) throw new TypeError(`${query.method}: ${what} must be ${ID_BYTES} bytes`);
  };
  check(query.id, 'id');
  if (query.method === 'announce_peer' && !Buffer.isBuffer(query.token)) throw new TypeError('announce_peer: token must be a Buffer');
  if (query.method === 'find_node' || query.method === 'sample_infohashes' || query.method === 'get') check(query.target, 'target');
  if (query.method === 'get' && query.seq !== undefined) checkSeq(query, 'seq', query.seq);
  if (query.method === 'put') assertValidPut(query);
  if (query.method === 'get_peers' || query.method === 'announce_peer') check(query.infoHash, 'infoHash');
  if (query.method === 'announce_peer') {
    if (!Number.isInteger(query.port) || query.port < 0 || query.port > 65_535) throw new TypeError('announce_peer: bad port');
    if (!query.impliedPort && query.port === 0) throw new TypeError('announce_peer: port 0 needs impliedPort');
    if (query.token.length < 1 || query.token.length > MAX_TOKEN_BYTES) throw new TypeError('announce_peer: bad token length');
  }
}

function checkSeq(query: Query, what: string, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new TypeError(`${query.method}: ${what} must be an integer 0..2^53-1`);
}

function assertValidPut(query: PutQuery): void {
  const bad = (what: string): TypeError => new TypeError(`put: ${what}`);
  if (!Buffer.isBuffer(query.token) || query.token.length < 1 || query.token.length > MAX_TOKEN_BYTES) throw bad('bad token');
  if (!Buffer.isBuffer(query.vBytes) || query.vBytes.length > BEP44_MAX_VALUE_BYTES) throw bad(`vBytes must be a Buffer of at most ${BEP44_MAX_VALUE_BYTES} bytes`);
  // What is sent is v encoded; what was signed is vBytes: they must be the same bytes.
  if (!encode(query.v).equals(query.vBytes)) throw bad('vBytes is not the encoding of v');
  if (query.k === undefined) return;
  if (!Buffer.isBuffer(query.k) || query.k.length !== BEP44_PUBLIC_KEY_BYTES) throw bad(`k must be ${BEP44_PUBLIC_KEY_BYTES} bytes`);
  if (!Buffer.isBuffer(query.sig) || query.sig.length !== BEP44_SIGNATURE_BYTES) throw bad(`sig must be ${BEP44_SIGNATURE_BYTES} bytes`);
  checkSeq(query, 'seq', query.seq ?? -1);
  if (query.cas !== undefined) checkSeq(query, 'cas', query.cas);
  if (query.salt !== undefined && (!Buffer.isBuffer(query.salt) || query.salt.length > BEP44_MAX_SALT_BYTES)) throw bad(`salt must be at most ${BEP44_MAX_SALT_BYTES} bytes`);
}
