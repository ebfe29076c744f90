import { type RemoteInfo } from 'node:dgram';
import { type Clock } from './clock.js';
import { type PeerAddress } from './compact.js';
import {
  KRPC_ERROR_CAS_MISMATCH,
  KRPC_ERROR_GENERIC,
  KRPC_ERROR_INVALID_SIGNATURE,
  KRPC_ERROR_METHOD_UNKNOWN,
  KRPC_ERROR_PROTOCOL,
  KRPC_ERROR_SALT_TOO_BIG,
  KRPC_ERROR_SEQ_TOO_LOW,
  KRPC_ERROR_SERVER,
  KRPC_ERROR_VALUE_TOO_BIG,
} from './constants.js';
import { type BencodeFailure } from './errors.js';
import { type Method, type QueryOf } from './queries.js';
import { type RandomSource } from './random.js';
import { type ReplyInput, type ReplyOf } from './replies.js';

/** The KrpcSocket's public shapes: the datagram socket it wraps, its options, results, handlers, stats and events. */

/** The subset of dgram.Socket we use, so tests and the testnet can inject latency and loss. */
export interface DatagramSocket {
  send(msg: Uint8Array, port: number, address: string, callback: (err: Error | null) => void): void;
  bind(port: number, address: string, callback: () => void): void;
  close(callback?: () => void): void;
  address(): { address: string; port: number };
  on(event: 'message', listener: (msg: Buffer, rinfo: RemoteInfo) => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  off(event: 'error', listener: (err: Error) => void): unknown;
  once(event: 'error', listener: (err: Error) => void): unknown;
}

export type SocketFamily = 'udp4' | 'udp6';

export interface KrpcSocketOptions {
  type?: SocketFamily;
  /** Supply a socket (for latency/loss injection); default: a fresh dgram socket of `type`. */
  socket?: DatagramSocket;
  /**
   * SO_RCVBUF of the socket this creates (bytes; not used with `socket`). A crawler's burst of
   * replies can overflow the kernel's default (rmem_default, often 208 KiB) and the kernel
   * drops what does not fit; Linux caps the value at net.core.rmem_max.
   */
  recvBufferSize?: number;
  clock?: Clock;
  random?: RandomSource;
  /** Per-query timeout (ms), overridable per query. */
  timeoutMs?: number;
  maxInflight?: number;
  /** Concurrent asynchronous handler calls; more incoming queries are dropped while full. */
  maxPendingHandlers?: number;
  /** Our `v`; null to send none. */
  version?: Buffer | null;
  /** BEP 43: mark our queries read-only and answer no queries. */
  readOnly?: boolean;
  /** BEP 42: put the requester's address in every response and error (default true). */
  replyWithIp?: boolean;
  /** Largest datagram sent (default MAX_SEND_BYTES, 1,232); a reply over it becomes error 202. */
  maxSendBytes?: number;
  /** The same for BEP 44 get / put replies and queries (default MAX_BEP44_SEND_BYTES, 1,452): they carry values of up to 1,000 bytes. */
  maxBep44SendBytes?: number;
  /**
   * Asked before an incoming query is handled (after it proved to be a well-formed query);
   * false drops it, counted as 'rate-limited'. The node's per-IP limiter goes here.
   */
  admitQuery?: (from: PeerAddress) => boolean;
}

export interface QueryOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
}

export interface QueryResult<M extends Method> {
  reply: ReplyOf<M>;
  from: PeerAddress;
  rttMs: number;
  /** The responder's client version, if it sent one. */
  v?: Buffer;
  /** BEP 42: our address as the responder saw it. */
  ip?: PeerAddress;
}

export interface QueryContext {
  from: PeerAddress;
  /** The size of the query's datagram in bytes (BEP 44's reflection budget weighs replies against it). */
  bytes: number;
  v?: Buffer;
  /** BEP 43: do not add this querier to a routing table. */
  readOnly: boolean;
}

export type QueryHandler<M extends Method> = (
  query: QueryOf<M>,
  context: QueryContext,
) => ReplyInput<M> | Promise<ReplyInput<M>>;

/** How errorsInByCode names a KRPC error code: the four BEP 5 codes, BEP 44's five, or "other". */
export type KrpcErrorCodeLabel = '201' | '202' | '203' | '204' | '205' | '206' | '207' | '301' | '302' | 'other';

/** Every label but "other", in order: a fixed set, so a peer cannot mint metric series. */
export const KRPC_ERROR_CODE_LABELS: readonly KrpcErrorCodeLabel[] = Object.freeze(['201', '202', '203', '204', '205', '206', '207', '301', '302']);

const KNOWN_ERROR_CODES: ReadonlySet<number> = new Set([
  KRPC_ERROR_GENERIC,
  KRPC_ERROR_SERVER,
  KRPC_ERROR_PROTOCOL,
  KRPC_ERROR_METHOD_UNKNOWN,
  KRPC_ERROR_VALUE_TOO_BIG,
  KRPC_ERROR_INVALID_SIGNATURE,
  KRPC_ERROR_SALT_TOO_BIG,
  KRPC_ERROR_CAS_MISMATCH,
  KRPC_ERROR_SEQ_TOO_LOW,
]);

/** The errorsInByCode key of a received error code. */
export function errorCodeLabel(code: number): KrpcErrorCodeLabel {
  return KNOWN_ERROR_CODES.has(code) ? (String(code) as KrpcErrorCodeLabel) : 'other';
}

/** Why an incoming datagram was dropped without being delivered. Stable strings for metrics. */
export type DropReason =
  | 'too-large'
  | 'undecodable'
  | 'malformed'
  | 'unknown-transaction'
  | 'wrong-source'
  | 'invalid-reply'
  | 'handlers-busy'
  | 'read-only'
  | 'rate-limited'
  | 'reply-too-large';

export interface KrpcSocketStats {
  datagramsIn: number;
  datagramsOut: number;
  bytesIn: number;
  bytesOut: number;
  queriesIn: Record<string, number>;
  queriesOut: Record<string, number>;
  repliesIn: number;
  /** Replies we sent to others' queries. */
  repliesOut: number;
  errorsIn: number;
  /**
   * Errors we received, by KRPC code: "201" to "204", anything else (a remote's own code) as
   * "other", so a hostile node cannot grow this record.
   */
  errorsInByCode: Partial<Record<KrpcErrorCodeLabel, number>>;
  /** Errors we sent, by KRPC code. */
  errorsOut: Record<number, number>;
  timeouts: number;
  dropped: Record<DropReason, number>;
  /** For 'undecodable' drops: which decoder check failed. */
  decodeFailures: Partial<Record<BencodeFailure, number>>;
  handlerFailures: number;
  sendFailures: number;
  /** Exceptions from our own code while handling a datagram: always a bug; tests assert 0. */
  internalErrors: number;
}

export interface KrpcSocketEvents {
  /** A valid query arrived and was handed to its handler (for passive observers). */
  query: [query: QueryOf<Method>, context: QueryContext];
  /** A valid reply to one of our queries arrived (for routing-table upkeep). */
  response: [method: Method, result: QueryResult<Method>];
  drop: [reason: DropReason, from: PeerAddress];
  /** A handler threw something other than QueryRejection; the querier got 202. */
  'handler-error': [error: unknown, method: Method];
  /** An error from the OS socket; never fatal for the KrpcSocket. */
  'socket-error': [error: Error];
  /** A bug of ours surfaced while handling a datagram; the datagram was dropped, the socket lives on. */
  'internal-error': [error: unknown];
}
