/**
 * Why fetching metadata from a peer (or from all of an infohash's peers) failed. Every error
 * has a stable `code` (like undici's and bep5/errors.ts), safe to count in metrics and store;
 * messages are for humans and may change. Strings quoted from a peer never appear unescaped.
 */

export type MetadataErrorCode =
  | 'ERR_PEER_ADDRESS'
  | 'ERR_PEER_IP_LIMIT'
  | 'ERR_PEER_CONNECT'
  | 'ERR_PEER_TIMEOUT'
  | 'ERR_PEER_CLOSED'
  | 'ERR_PEER_PROTOCOL'
  | 'ERR_PEER_MESSAGE_TOO_LARGE'
  | 'ERR_PEER_TOO_MANY_MESSAGES'
  | 'ERR_PEER_NO_METADATA_EXTENSION'
  | 'ERR_PEER_METADATA_REJECTED'
  | 'ERR_METADATA_SIZE_INVALID'
  | 'ERR_METADATA_TOO_LARGE'
  | 'ERR_METADATA_PIECE_INVALID'
  | 'ERR_METADATA_HASH_MISMATCH'
  | 'ERR_METADATA_INVALID'
  | 'ERR_METADATA_FETCH_FAILED'
  | 'ABORT_ERR';

/** Base class: everything the fetcher throws on purpose is a MetadataError. */
export abstract class MetadataError extends Error {
  abstract override readonly name: string;
  abstract readonly code: MetadataErrorCode;
}

/**
 * A MetadataError class whose detail is one `reason` string (stable, kebab-case where it names a
 * rule), for the several errors that differ only in name, code and wording.
 */
function reasonError<Code extends MetadataErrorCode>(name: string, code: Code, prefix: string) {
  return class extends MetadataError {
    override readonly name: string = name;
    readonly code: Code = code;
    constructor(
      readonly reason: string,
      cause?: unknown,
    ) {
      super(`${prefix}: ${reason}`, { cause });
    }
  };
}

/** A MetadataError class for a peer-chosen `size` (bytes) over our `limit`. */
function overLimitError<Code extends MetadataErrorCode>(name: string, code: Code, what: string) {
  return class extends MetadataError {
    override readonly name: string = name;
    readonly code: Code = code;
    constructor(
      readonly size: number,
      readonly limit: number,
    ) {
      super(`${what} of ${size} bytes exceeds the ${limit}-byte limit`);
    }
  };
}

/** The address is not one we connect to: not an IP literal, a bad port, or not public (without allowPrivate). */
export class PeerAddressError extends reasonError('PeerAddressError', 'ERR_PEER_ADDRESS', 'peer address') {}

/** Skipped without connecting: this IP's connection attempt budget (per fetch or process-wide) is spent. */
export class PeerIpLimitError extends MetadataError {
  override readonly name = 'PeerIpLimitError';
  readonly code = 'ERR_PEER_IP_LIMIT';
  constructor(readonly scope: 'fetch' | 'process') {
    super(`too many connection attempts to this IP (${scope} limit)`);
  }
}

/** The TCP connection could not be made (refused, unreachable, reset during connect). */
export class PeerConnectError extends MetadataError {
  override readonly name = 'PeerConnectError';
  readonly code = 'ERR_PEER_CONNECT';
  constructor(cause: unknown) {
    super(`connect failed: ${errorCodeOf(cause)}`, { cause });
  }
}

export type TimeoutPhase = 'connect' | 'handshake' | 'total';

/** A per-peer time limit ran out: TCP connect, the two handshakes, or the whole connection. */
export class PeerTimeoutError extends MetadataError {
  override readonly name = 'PeerTimeoutError';
  readonly code = 'ERR_PEER_TIMEOUT';
  constructor(
    readonly phase: TimeoutPhase,
    readonly timeoutMs: number,
  ) {
    super(`${phase} timeout after ${timeoutMs} ms`);
  }
}

/** The peer closed or reset the connection before we had the metadata. */
export class PeerClosedError extends MetadataError {
  override readonly name = 'PeerClosedError';
  readonly code = 'ERR_PEER_CLOSED';
  constructor(cause?: unknown) {
    super(cause === undefined ? 'peer closed the connection' : `connection lost: ${errorCodeOf(cause)}`, { cause });
  }
}

/** The peer sent bytes that break BEP 3/9/10: `reason` says which rule. */
export class PeerProtocolError extends reasonError('PeerProtocolError', 'ERR_PEER_PROTOCOL', 'protocol violation') {}

/** A length prefix above the limit (checked as soon as its 4 bytes arrive). */
export class PeerMessageTooLargeError extends overLimitError('PeerMessageTooLargeError', 'ERR_PEER_MESSAGE_TOO_LARGE', 'message') {}

/** More messages than the per-connection limit. */
export class PeerTooManyMessagesError extends MetadataError {
  override readonly name = 'PeerTooManyMessagesError';
  readonly code = 'ERR_PEER_TOO_MANY_MESSAGES';
  constructor(readonly limit: number) {
    super(`more than ${limit} messages`);
  }
}

export type NoMetadataReason = 'no-extension-protocol' | 'no-ut-metadata' | 'no-metadata-size';

/**
 * The peer cannot give us the metadata: no extension protocol bit (BEP 10), no ut_metadata in
 * its extended handshake (BEP 9; private torrents disable it), or no metadata_size (it does not
 * have the metadata itself, e.g. it is fetching it too).
 */
export class PeerNoMetadataExtensionError extends MetadataError {
  override readonly name = 'PeerNoMetadataExtensionError';
  readonly code = 'ERR_PEER_NO_METADATA_EXTENSION';
  constructor(readonly reason: NoMetadataReason) {
    super(`peer cannot serve metadata: ${reason}`);
  }
}

/** The peer answered a request with a ut_metadata reject. */
export class PeerMetadataRejectedError extends MetadataError {
  override readonly name = 'PeerMetadataRejectedError';
  readonly code = 'ERR_PEER_METADATA_REJECTED';
  constructor(readonly piece: number) {
    super(`peer rejected metadata piece ${piece}`);
  }
}

/** metadata_size is 0, negative or not an integer. */
export class MetadataSizeInvalidError extends reasonError('MetadataSizeInvalidError', 'ERR_METADATA_SIZE_INVALID', 'invalid metadata_size') {}

/** metadata_size above the limit: refused before any request. */
export class MetadataTooLargeError extends overLimitError('MetadataTooLargeError', 'ERR_METADATA_TOO_LARGE', 'metadata_size') {}

/** A data message that does not fit what we asked for: `reason` says how. */
export class MetadataPieceInvalidError extends MetadataError {
  override readonly name = 'MetadataPieceInvalidError';
  readonly code = 'ERR_METADATA_PIECE_INVALID';
  constructor(
    readonly piece: number,
    readonly reason: string,
  ) {
    super(`invalid metadata piece ${piece}: ${reason}`);
  }
}

/** The assembled metadata's SHA-1 is not the infohash: the peer sent other (or corrupt) metadata. */
export class MetadataHashMismatchError extends MetadataError {
  override readonly name = 'MetadataHashMismatchError';
  readonly code = 'ERR_METADATA_HASH_MISMATCH';
  constructor(
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`metadata SHA-1 ${actual} is not the infohash ${expected}`);
  }
}

/**
 * The metadata's SHA-1 matched, but it is not an info dict we accept (strict bencode, BEP 3
 * fields). This is a property of the infohash, not of the peer: no other peer can do better,
 * so fetchMetadata stops and throws it as is.
 */
export class MetadataInvalidError extends reasonError('MetadataInvalidError', 'ERR_METADATA_INVALID', 'invalid info dictionary') {}

/** One peer tried by fetchMetadata, and how it ended. */
export interface PeerAttempt {
  /** `ip:port`, or `[ipv6]:port`. */
  peer: string;
  /** 'OK' for the peer that delivered, else the error code. */
  code: MetadataErrorCode | 'OK';
  /** Human-readable detail (escaped; never raw peer bytes). */
  message: string;
  /** From the start of the attempt (after waiting for the connection gate) to its end; 0 if skipped. */
  durationMs: number;
}

/** No peer delivered valid metadata; `attempts` says why for each, in the order they ended. */
export class MetadataFetchError extends MetadataError {
  override readonly name = 'MetadataFetchError';
  readonly code = 'ERR_METADATA_FETCH_FAILED';
  constructor(readonly attempts: readonly PeerAttempt[]) {
    super(
      attempts.length === 0
        ? 'no peers to try'
        : `no peer delivered the metadata (${attempts.length} tried: ${summarizeCodes(attempts)})`,
    );
  }
}

/** The caller's AbortSignal fired. Named AbortError, as the platform's own aborts are. */
export class MetadataAbortError extends MetadataError {
  override readonly name = 'AbortError';
  readonly code = 'ABORT_ERR';
  constructor(readonly reason?: unknown) {
    super('metadata fetch aborted');
  }
}

function errorCodeOf(err: unknown): string {
  if (err instanceof Error) return (err as NodeJS.ErrnoException).code ?? err.message;
  return String(err);
}

function summarizeCodes(attempts: readonly PeerAttempt[]): string {
  const counts = new Map<string, number>();
  for (const a of attempts) counts.set(a.code, (counts.get(a.code) ?? 0) + 1);
  return [...counts].map(([code, n]) => `${code} x${n}`).join(', ');
}
