import { type BencodeValue, type Encodable } from './bencode.js';
import { type Bep44KeyPair } from './bep44.js';
import { type Clock } from './clock.js';
import { type NodeInfo, type PeerAddress } from './compact.js';
import { type AddressScope } from './address-scope.js';
import { type DatagramSocket, type SocketFamily } from './krpc-socket-types.js';
import { type ClosestNode, type LookupResult } from './lookup.js';
import { type Method } from './queries.js';
import { type RandomSource } from './random.js';

/** The DhtNode's public shapes: its options (every default is in constants.ts), events and results. */

export type Family = 4 | 6;

export interface DhtNodeOptions {
  /** Our node ID; default: saved one, else random (replaced by a BEP 42 one once learned). */
  id?: Buffer;
  /** Address families to run (default [4]). */
  families?: Family[];
  /** Bind address per family (default 0.0.0.0 / ::). */
  host?: string;
  host6?: string;
  /** UDP port (0: any free port). Both families use the same port. */
  port?: number;
  /** "host:port" entries, or [] for none. Default: the well-known routers. */
  bootstrap?: string[];
  /** Where the routing table is saved; none when unset. */
  dataDir?: string;
  /** Accept private and loopback addresses in tables (addressScope 'private'). */
  allowPrivate?: boolean;
  /**
   * Which addresses we send to and keep (bep5/address-scope.ts); wins over allowPrivate.
   * Default: 'loopback' when every bootstrap entry is loopback, 'private' when every one is
   * private or loopback, else 'public'.
   */
  addressScope?: AddressScope;
  /** Per-IP incoming query limit; private and loopback sources are exempt unless `limitPrivate`. */
  queryRatePerIp?: number;
  queryBurstPerIp?: number;
  limitPrivate?: boolean;
  /** Our own outgoing packets per second (all lookups, pings and refreshes together). */
  outgoingRate?: number;
  outgoingBurst?: number;
  /** Adopt a BEP 42 ID once enough nodes agree on our external address (default true). */
  adoptBep42Id?: boolean;
  /** Enforce BEP 42 on lookups (tokens, termination) and on announces we store. */
  enforceBep42?: boolean;
  k?: number;
  alpha?: number;
  clock?: Clock;
  random?: RandomSource;
  /** Supplies sockets, e.g. with injected latency and loss for a test network. */
  socketFactory?: (type: SocketFamily) => DatagramSocket;
  /** SO_RCVBUF of the sockets the node creates (see KrpcSocketOptions.recvBufferSize); default the kernel's. */
  recvBufferSize?: number;
  version?: Buffer | null;
  /** Per-query timeout (ms). */
  queryTimeoutMs?: number;
  /** Queries in flight per socket (a crawler raises it). */
  maxInflight?: number;
  /** Answer BEP 51 sample_infohashes (default true); false answers it with 204, as older clients do. */
  bep51?: boolean;
  /** Store BEP 44 items and answer get / put (default true); false answers them with 204. */
  bep44?: boolean;
  /**
   * BEP 43 read-only: our queries carry ro=1 and we answer none, so other nodes do not put us
   * in their tables. For short-lived clients (`peers`, `announce`) that will be gone soon.
   */
  readOnly?: boolean;
}

export interface DhtNodeEvents {
  listening: [info: { family: Family; host: string; port: number; id: string }];
  bootstrapped: [info: { family: Family; nodes: number; queries: number }];
  'bootstrap-failed': [info: { family: Family; reason: string; retryInMs: number }];
  'id-changed': [info: { id: string; externalAddress: string }];
  /** Someone announced a peer to us (passive observation). */
  announce: [info: { infoHash: Buffer; peer: PeerAddress; seed: boolean }];
  /** Someone looked up an infohash at us (passive observation). */
  'get-peers': [info: { infoHash: Buffer; from: PeerAddress }];
  /**
   * A valid reply to one of our queries arrived, with its round trip: every query on the
   * node's sockets, a crawler's sharing them included (for latency metrics).
   */
  rpc: [info: { family: Family; method: Method; rttMs: number }];
  warning: [message: string];
}

export interface AnnounceOutcome {
  lookup: LookupResult;
  /** Nodes that accepted our announce_peer. */
  announced: NodeInfo[];
  failed: number;
}

/** A BEP 44 item that verified: its value hashes to the target, or (mutable) its key and salt do and the signature holds. */
export interface Bep44Item {
  target: Buffer;
  /** The value, decoded. */
  v: BencodeValue;
  /** The value's bencoded bytes (what was hashed and signed). */
  vBytes: Buffer;
  /** Mutable items: public key, sequence number, signature, and the salt the lookup was given. */
  k?: Buffer;
  seq?: number;
  sig?: Buffer;
  salt?: Buffer;
}

export interface Bep44GetOptions {
  /** Mutable items: the salt the item was put with (needed: BEP 44 never sends it back). */
  salt?: Buffer;
  /** Mutable items: accept only items signed with this key. Without it, any key whose SHA-1 (with the salt) is the target. */
  publicKey?: Buffer;
  /** Mutable items: ask only for a seq greater than this (nodes holding no newer one answer with their seq only). */
  seq?: number;
  family?: Family;
  signal?: AbortSignal;
}

export interface Bep44GetResult {
  target: Buffer;
  /** The item; for a mutable one, the valid answer with the highest seq. Undefined when none was found. */
  item?: Bep44Item;
  /** Nodes whose answer carried a valid item (of any seq), in the order they answered. */
  holders: NodeInfo[];
  /** The K closest nodes that answered, closest first, with the write tokens they gave. */
  closest: ClosestNode[];
  queries: number;
  answered: number;
  failed: number;
  /** Answers whose item did not verify (wrong hash, bad signature, other key, over 1,000 bytes): ignored. */
  invalid: number;
}

export interface Bep44PutOptions {
  family?: Family;
  signal?: AbortSignal;
}

export interface Bep44MutablePutOptions extends Bep44PutOptions {
  /** The 32-byte ed25519 seed to sign with (or `keyPair`). */
  seed?: Buffer;
  keyPair?: Bep44KeyPair;
  /** Any bencodable value whose encoding is at most 1,000 bytes (strings are written as UTF-8). */
  value: Encodable;
  /** At most 64 bytes; an empty salt is the same as none. */
  salt?: Buffer;
  /** Default: the highest seq the lookup found plus 1 (1 when it found none). */
  seq?: number;
  /** Compare and swap: store only where the current seq is this (sent only to nodes that returned the item, as BEP 44 asks). */
  cas?: number;
}

export interface Bep44PutResult {
  target: Buffer;
  /** Nodes that acknowledged the put. */
  storedAt: NodeInfo[];
  /** KRPC errors the nodes answered with, by code: 301 (CAS mismatch), 302 (seq not newer), 203, ... */
  errors: Record<number, number>;
  /** Puts that got no answer (timeout, send failure). */
  failed: number;
  /** The get lookup that found the nodes (and what they held before the put). */
  lookup: Bep44GetResult;
}

export interface Bep44MutablePutResult extends Bep44PutResult {
  seq: number;
  publicKey: Buffer;
}
