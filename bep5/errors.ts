import { KRPC_ERROR_PROTOCOL } from './constants.js';

/**
 * Every error bep5 throws, in one place. Each has a stable `code` string (like undici's) so
 * callers and metrics can switch on it without parsing messages. First the errors a query can
 * end with, then one per module for arguments and data it refuses, each with a short `reason`.
 */

/** Base class: every query failure is a KrpcQueryError. */
export class KrpcQueryError extends Error {
  override readonly name: string = 'KrpcQueryError';
  readonly code: string = 'ERR_KRPC_QUERY';
}

/** No answer from the queried address within the timeout. */
export class KrpcTimeoutError extends KrpcQueryError {
  override readonly name = 'KrpcTimeoutError';
  override readonly code = 'ERR_KRPC_TIMEOUT';
  constructor(readonly timeoutMs: number) {
    // Without a stack: timeouts are routine (half the contacts a crawl hears of never answer,
    // thousands a second), and the stack would only say that a timer fired.
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(`no reply within ${timeoutMs} ms`);
    Error.stackTraceLimit = limit;
  }
}

/** The remote node answered with a KRPC error (201 generic, 202 server, 203 protocol, 204 method unknown, …). */
export class KrpcRemoteError extends KrpcQueryError {
  override readonly name = 'KrpcRemoteError';
  override readonly code = 'ERR_KRPC_REMOTE';
  constructor(
    readonly krpcCode: number,
    readonly remoteMessage: string,
  ) {
    super(`remote error ${krpcCode}: ${remoteMessage}`);
  }
}

/** The remote node answered, but not with a valid reply to what we asked (wrong or malformed fields). */
export class KrpcInvalidReplyError extends KrpcQueryError {
  override readonly name = 'KrpcInvalidReplyError';
  override readonly code = 'ERR_KRPC_INVALID_REPLY';
  constructor(readonly reason: string) {
    super(`invalid reply: ${reason}`);
  }
}

/** The caller's AbortSignal fired. Named AbortError, as the platform's own aborts are. */
export class KrpcAbortError extends KrpcQueryError {
  override readonly name = 'AbortError';
  override readonly code = 'ABORT_ERR';
  constructor(readonly reason?: unknown) {
    super('query aborted');
  }
}

/** Too many queries already in flight on this socket; the query was not sent. */
export class KrpcInflightLimitError extends KrpcQueryError {
  override readonly name = 'KrpcInflightLimitError';
  override readonly code = 'ERR_KRPC_INFLIGHT_LIMIT';
  constructor(readonly limit: number) {
    super(`${limit} queries already in flight`);
  }
}

/** The socket was closed before the query ended, or was never bound. */
export class KrpcSocketClosedError extends KrpcQueryError {
  override readonly name = 'KrpcSocketClosedError';
  override readonly code = 'ERR_KRPC_SOCKET_CLOSED';
  constructor() {
    super('socket closed');
  }
}

/** The datagram could not be sent (bad address, oversized, OS error). */
export class KrpcSendError extends KrpcQueryError {
  override readonly name = 'KrpcSendError';
  override readonly code = 'ERR_KRPC_SEND';
  constructor(message: string, cause?: unknown) {
    super(message, { cause });
  }
}

/**
 * Thrown by a query handler to answer with a specific KRPC error, e.g.
 * `throw new QueryRejection(203, 'bad token')`. Any other exception from a handler is
 * answered with 202 and reported, never propagated to the socket.
 */
export class QueryRejection extends Error {
  override readonly name = 'QueryRejection';
  readonly code = 'ERR_KRPC_QUERY_REJECTED';
  constructor(
    readonly krpcCode: number,
    readonly reason: string,
  ) {
    super(`${krpcCode} ${reason}`);
  }
}

export class BootstrapAddressError extends Error {
  override readonly name = 'BootstrapAddressError';
  readonly code = 'ERR_BOOTSTRAP_ADDRESS';
}

export type RoutingTableFailure = 'bad-option' | 'bad-json';

export class RoutingTableError extends Error {
  override readonly name = 'RoutingTableError';
  readonly code = 'ERR_ROUTING_TABLE';
  constructor(
    readonly reason: RoutingTableFailure,
    detail: string,
  ) {
    super(`routing table: ${reason}: ${detail}`);
  }
}

/** Why a decode failed; stable strings, safe to count in metrics. */
export type BencodeFailure =
  | 'empty'
  | 'too-large'
  | 'truncated'
  | 'unexpected-byte'
  | 'bad-integer'
  | 'leading-zero'
  | 'negative-zero'
  | 'integer-out-of-range'
  | 'negative-length'
  | 'bad-length'
  | 'oversized-length'
  | 'length-past-end'
  | 'too-deep'
  | 'key-not-string'
  | 'duplicate-key'
  | 'trailing-bytes';

export class BencodeDecodeError extends Error {
  override readonly name = 'BencodeDecodeError';
  readonly code = 'ERR_BENCODE_DECODE';
  constructor(
    readonly reason: BencodeFailure,
    readonly offset: number,
  ) {
    super(`bencode: ${reason} at byte ${offset}`);
  }
}

export type BencodeEncodeFailure = 'unsupported-type' | 'not-a-safe-integer' | 'non-latin1-key' | 'undefined-in-list';

export class BencodeEncodeError extends Error {
  override readonly name = 'BencodeEncodeError';
  readonly code = 'ERR_BENCODE_ENCODE';
  constructor(
    readonly reason: BencodeEncodeFailure,
    detail: string,
  ) {
    super(`bencode: cannot encode (${reason}): ${detail}`);
  }
}

export type NodeIdFailure = 'bad-length' | 'bad-hex' | 'bad-prefix-bits' | 'bad-prefix';

export class NodeIdError extends Error {
  override readonly name = 'NodeIdError';
  readonly code = 'ERR_NODE_ID';
  constructor(
    readonly reason: NodeIdFailure,
    detail: string,
  ) {
    super(`node id: ${reason}: ${detail}`);
  }
}

export type TokenFailure = 'bad-host' | 'bad-option';

export class TokenError extends Error {
  override readonly name = 'TokenError';
  readonly code = 'ERR_TOKEN';
  constructor(
    readonly reason: TokenFailure,
    detail: string,
  ) {
    super(`token: ${reason}: ${detail}`);
  }
}

export type PeerStoreFailure = 'bad-infohash' | 'bad-peer' | 'bad-argument' | 'bad-option';

export class PeerStoreError extends Error {
  override readonly name = 'PeerStoreError';
  readonly code = 'ERR_PEER_STORE';
  constructor(
    readonly reason: PeerStoreFailure,
    detail: string,
  ) {
    super(`peer store: ${reason}: ${detail}`);
  }
}

/** Text that is not an infohash or a magnet link holding one; the message says what was expected. */
export class InfohashError extends Error {
  override readonly name = 'InfohashError';
  readonly code = 'ERR_INFOHASH';
}

export type Bep42Failure = 'bad-host' | 'bad-address-length';

export class Bep42Error extends Error {
  override readonly name = 'Bep42Error';
  readonly code = 'ERR_BEP42';
  constructor(
    readonly reason: Bep42Failure,
    detail: string,
  ) {
    super(`bep42: ${reason}: ${detail}`);
  }
}

export type IpFailure = 'bad-length' | 'bad-cidr';

export class IpError extends Error {
  override readonly name = 'IpError';
  readonly code = 'ERR_IP';
  constructor(
    readonly reason: IpFailure,
    detail: string,
  ) {
    super(`ip: ${reason}: ${detail}`);
  }
}

/**
 * A field of the wrong type or length. A query with one is answered with `krpcCode`: 203
 * (BEP 5), or BEP 44's 205 (`v` too big) and 207 (salt too big).
 */
export class FieldError extends Error {
  override readonly name = 'FieldError';
  readonly code = 'ERR_KRPC_FIELD';
  constructor(
    readonly reason: string,
    readonly krpcCode: number = KRPC_ERROR_PROTOCOL,
  ) {
    super(reason);
  }
}

export type Bep44Failure = 'bad-seed' | 'bad-public-key' | 'bad-seq' | 'bad-salt' | 'bad-target' | 'value-too-big' | 'bad-value' | 'bad-host' | 'bad-option';

/** A BEP 44 value, key, salt or sequence number we were asked to sign, put or store that cannot be, or a bad store option (bep5/bep44*.ts, item-store.ts). */
export class Bep44Error extends Error {
  override readonly name = 'Bep44Error';
  readonly code = 'ERR_BEP44';
  constructor(
    readonly reason: Bep44Failure,
    detail: string,
  ) {
    super(`bep44: ${reason}: ${detail}`);
  }
}

export type BloomFailure = 'bad-length' | 'bad-host' | 'bad-index';

export class BloomError extends Error {
  override readonly name = 'BloomError';
  readonly code = 'ERR_BLOOM';
  constructor(
    readonly reason: BloomFailure,
    detail: string,
  ) {
    super(`bloom: ${reason}: ${detail}`);
  }
}

export type CompactFailure = 'bad-length' | 'bad-host' | 'bad-port' | 'bad-id' | 'wrong-family';

export class CompactError extends Error {
  override readonly name = 'CompactError';
  readonly code = 'ERR_COMPACT';
  constructor(
    readonly reason: CompactFailure,
    detail: string,
  ) {
    super(`compact: ${reason}: ${detail}`);
  }
}

export type RateLimitFailure = 'bad-option' | 'bad-cost';

export class RateLimitError extends Error {
  override readonly name = 'RateLimitError';
  readonly code = 'ERR_RATE_LIMIT';
  constructor(
    readonly reason: RateLimitFailure,
    detail: string,
  ) {
    super(`rate limit: ${reason}: ${detail}`);
  }
}

/**
 * A datagram that decoded but is not a usable KRPC message. When `replyTo` is set, it was a
 * query with a usable transaction ID, and the sender gets error 203 with `reason`.
 */
export class MalformedMessageError extends Error {
  override readonly name = 'MalformedMessageError';
  readonly code = 'ERR_KRPC_MALFORMED';
  constructor(
    readonly reason: string,
    readonly replyTo?: Buffer,
  ) {
    super(`malformed KRPC message: ${reason}`);
  }
}
