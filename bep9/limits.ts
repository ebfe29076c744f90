import {
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_HANDSHAKE_TIMEOUT_MS,
  DEFAULT_MAX_LISTED_FILES,
  DEFAULT_MAX_MESSAGE_LENGTH,
  DEFAULT_MAX_MESSAGES,
  DEFAULT_MAX_METADATA_SIZE,
  DEFAULT_REQUEST_WINDOW,
  DEFAULT_TOTAL_TIMEOUT_MS,
  MAX_UT_METADATA_HEADER_BYTES,
  METADATA_PIECE_BYTES,
} from './constants.js';

/** Bounds on everything a peer controls, per connection. Defaults and reasons: constants.ts. */
export interface MetadataLimits {
  /** Largest metadata_size accepted (bytes). */
  maxMetadataSize: number;
  /** Largest message length prefix accepted (bytes, id included). */
  maxMessageLength: number;
  /** Messages accepted per connection after the handshake, keep-alives included. */
  maxMessages: number;
  /** TCP connect. */
  connectTimeoutMs: number;
  /** From connect until both the BEP 3 and the BEP 10 handshake have arrived. */
  handshakeTimeoutMs: number;
  /** The whole connection, connect included. */
  totalTimeoutMs: number;
  /** ut_metadata requests outstanding at once. */
  requestWindow: number;
  /** Files listed in the InfoSummary. */
  maxListedFiles: number;
}

export const DEFAULT_LIMITS: Readonly<MetadataLimits> = Object.freeze({
  maxMetadataSize: DEFAULT_MAX_METADATA_SIZE,
  maxMessageLength: DEFAULT_MAX_MESSAGE_LENGTH,
  maxMessages: DEFAULT_MAX_MESSAGES,
  connectTimeoutMs: DEFAULT_CONNECT_TIMEOUT_MS,
  handshakeTimeoutMs: DEFAULT_HANDSHAKE_TIMEOUT_MS,
  totalTimeoutMs: DEFAULT_TOTAL_TIMEOUT_MS,
  requestWindow: DEFAULT_REQUEST_WINDOW,
  maxListedFiles: DEFAULT_MAX_LISTED_FILES,
});

/** A full data message must fit the framing limit: id, extended id, header, one piece. */
const MIN_MESSAGE_LENGTH = 2 + MAX_UT_METADATA_HEADER_BYTES + METADATA_PIECE_BYTES;

/** Defaults overlaid with `overrides`; a value that is not a positive safe integer is a caller bug (RangeError). */
export function resolveLimits(overrides: Partial<MetadataLimits> = {}): MetadataLimits {
  const limits: MetadataLimits = { ...DEFAULT_LIMITS };
  for (const key of Object.keys(DEFAULT_LIMITS) as (keyof MetadataLimits)[]) {
    const value = overrides[key];
    if (value === undefined) continue;
    limits[key] = positiveInteger(`limits.${key}`, value);
  }
  if (limits.maxMessageLength < MIN_MESSAGE_LENGTH) {
    throw new RangeError(`limits.maxMessageLength must be at least ${MIN_MESSAGE_LENGTH} (one metadata piece)`);
  }
  return limits;
}

/** `value` if it is a positive safe integer; otherwise a caller bug: RangeError naming the option. */
export function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value <= 0) throw new RangeError(`${name} must be a positive integer, got ${String(value)}`);
  return value;
}
