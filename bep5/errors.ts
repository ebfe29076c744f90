/**
 * Errors a query can end with. Each has a stable `code` string (like undici's) so callers
 * and metrics can switch on it without parsing messages.
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
    super(`no reply within ${timeoutMs} ms`);
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
