import { type Clock } from './clock.js';
import { type NodeInfo, type PeerAddress } from './compact.js';
import { type AddressScope } from './address-scope.js';
import { type DatagramSocket, type SocketFamily } from './krpc-socket-types.js';
import { type LookupResult } from './lookup.js';
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
