import { type IndexKeys, SCHEMA_4_VERSION } from './keys.js';
import { type RedisClient } from '../redis/client.js';
import { LuaScript } from '../redis/lua-script.js';
import { multiResults } from './multi-results.js';
import { DEFAULT_RETRY_POLICY, MAX_CANDIDATES, type MetadataRetryPolicy } from './metadata-constants.js';
import { checkInfohash, InfohashNotIndexedError, MetadataInputError, SchemaMismatchError } from './errors.js';

/**
 * Which infohashes still need their metadata fetched, and what happened to the fetches that
 * failed: what the metadata queue asks before and after each fetch (SCHEMA.md "Torrent
 * metadata").
 *
 * - An infohash needs metadata when it has none (`ih:<hex>:meta`) and is not waiting for a
 *   retry (`metadata:wait` holds it with a time still in the future).
 * - Candidates are taken from `popular` (infohashes with live peers at their last write, most
 *   first): those without metadata that never failed, plus those whose retry is due.
 * - A failure (recordMetadataFailure) counts an attempt in `ih:<hex>:fetch` and puts the
 *   infohash in `metadata:wait` until base × 2^(attempts−1) later (at most maxDelayMs); after
 *   maxAttempts failures it is given up on for giveUpForMs, then tried again once per period.
 *   A successful store (storeMetadata) deletes both.
 */

export interface MetadataFailure {
  /** The failure's stable code (MetadataError.code: ERR_METADATA_FETCH_FAILED, ...). */
  code: string;
  /** When the attempt ended (ms). The same `at` recorded twice counts once (a redelivered job). */
  at: number;
  /** Overrides of DEFAULT_RETRY_POLICY. */
  policy?: Partial<MetadataRetryPolicy>;
}

export interface FailureResult {
  /**
   * `recorded`: counted. `duplicate`: this `at` was recorded already (nothing changed).
   * `has-metadata`: the metadata arrived meanwhile (nothing recorded).
   */
  status: 'recorded' | 'duplicate' | 'has-metadata';
  /** Failed attempts so far (0 for has-metadata). */
  attempts: number;
  /** When the next attempt is due (ms); null for has-metadata. */
  nextAttemptAt: number | null;
  gaveUp: boolean;
}

export interface MetadataState {
  infohash: string;
  /** The infohash has a record in the index. */
  indexed: boolean;
  hasMetadata: boolean;
  fetchedAt: number | null;
  /** Failed attempts counted (the record expires retainMs after its next attempt time). */
  attempts: number;
  lastAttemptAt: number | null;
  lastError: string | null;
  /** When it may be tried again (ms), if it is waiting. */
  nextAttemptAt: number | null;
  gaveUp: boolean;
  /** Has no metadata and is not waiting for a later retry: fetch it now. */
  needsMetadata: boolean;
}

export interface MetadataCandidate {
  infohash: string;
  /** Live peers at its last write (its `popular` score). */
  peers: number;
  /** True when an earlier fetch failed and its retry is due. */
  retry: boolean;
}

/** What a failure code may be: both schemas check it on the way in, schema 5 also when decoding a stored one. */
export const CODE_RE = /^[A-Za-z0-9_.:-]{1,64}$/;

/** What both schemas' failure scripts return: {-1, version}, {-2}, or {1 | 0, status, attempts, next attempt, gave up}. */
export type FailureReply = [number, string, number?, string?, number?];

/** A failure script's reply as a FailureResult; its refusals as SchemaMismatchError or InfohashNotIndexedError. */
export function failureResultOf(reply: FailureReply, hex: string, version: number): FailureResult {
  if (reply[0] === -1) throw new SchemaMismatchError(Number(reply[1]), version);
  if (reply[0] === -2) throw new InfohashNotIndexedError(hex);
  const [, status, attempts, next, gaveUp] = reply;
  return {
    status: status as FailureResult['status'],
    attempts: Number(attempts ?? 0),
    nextAttemptAt: next === undefined || next === '' || next === null ? null : Number(next),
    gaveUp: gaveUp === 1,
  };
}

/** Checks a failure (MetadataInputError) and returns its retry policy with the defaults filled in; both schemas' writers use it. */
export function checkFailure(failure: MetadataFailure): MetadataRetryPolicy {
  if (typeof failure.code !== 'string' || !CODE_RE.test(failure.code)) throw new MetadataInputError('failure code must be 1-64 of A-Z a-z 0-9 _ . : -');
  if (!Number.isSafeInteger(failure.at) || failure.at < 0) throw new MetadataInputError('failure time must be a time in ms');
  return resolvePolicy(failure.policy);
}

function resolvePolicy(partial: Partial<MetadataRetryPolicy> | undefined): MetadataRetryPolicy {
  const p = { ...DEFAULT_RETRY_POLICY, ...partial };
  for (const [k, v] of Object.entries(p)) {
    if (!Number.isSafeInteger(v) || v < 1) throw new MetadataInputError(`retry policy ${k} must be a positive integer, got ${String(v)}`);
  }
  return p;
}

const failureScript = LuaScript.fromFile(new URL('./lua/fetch-failure.lua', import.meta.url));

/**
 * Records a failed metadata fetch of `infohash` and schedules its retry (or gives up on it
 * for a while). Atomic (one script). Throws MetadataInputError, InfohashNotIndexedError or
 * SchemaMismatchError.
 */
export async function recordMetadataFailure(redis: RedisClient, keys: IndexKeys, infohash: string, failure: MetadataFailure): Promise<FailureResult> {
  const hex = checkInfohash(infohash);
  const p = checkFailure(failure);
  const reply = (await failureScript.run(
    redis,
    [keys.schemaVersion, keys.infohash(hex), keys.infohashMetadata(hex), keys.infohashFetch(hex), keys.metadataWait],
    [SCHEMA_4_VERSION, hex, failure.code, failure.at, p.baseDelayMs, p.maxDelayMs, p.maxAttempts, p.giveUpForMs, p.retainMs, p.waitCap].map(String),
  )) as FailureReply;
  return failureResultOf(reply, hex, SCHEMA_4_VERSION);
}

const numberOrNull = (v: string | null | undefined): number | null => (v === null || v === undefined ? null : Number(v));

/** Everything known about `infohash`'s metadata fetching, in one round trip. */
export async function metadataState(redis: RedisClient, keys: IndexKeys, infohash: string, opts: { now?: number } = {}): Promise<MetadataState> {
  const hex = checkInfohash(infohash);
  const now = opts.now ?? Date.now();
  const m = redis.multi();
  m.exists(keys.infohash(hex));
  m.hget(keys.infohashMetadata(hex), 'fetchedAt');
  m.hgetall(keys.infohashFetch(hex));
  m.zscore(keys.metadataWait, hex);
  const [indexed, fetchedAt, fetch, wait] = multiResults(await m.exec()) as [number, string | null, Record<string, string>, string | null];
  const nextAttemptAt = numberOrNull(wait);
  const hasMetadata = fetchedAt !== null;
  return {
    infohash: hex,
    indexed: indexed === 1,
    hasMetadata,
    fetchedAt: numberOrNull(fetchedAt),
    attempts: Number(fetch['attempts'] ?? 0),
    lastAttemptAt: numberOrNull(fetch['lastAttemptAt']),
    lastError: fetch['lastError'] ?? null,
    nextAttemptAt,
    gaveUp: fetch['gaveUp'] === '1',
    needsMetadata: !hasMetadata && (nextAttemptAt === null || nextAttemptAt <= now),
  };
}

/**
 * The cheap check before a fetch: true when `infohash` has no metadata and is not waiting
 * for a later retry. One round trip (EXISTS + ZSCORE). It does not look at peers: callers
 * take infohashes from metadataCandidates or from a peers event.
 */
export async function needsMetadata(redis: RedisClient, keys: IndexKeys, infohash: string, opts: { now?: number } = {}): Promise<boolean> {
  const hex = checkInfohash(infohash);
  const m = redis.multi();
  m.exists(keys.infohashMetadata(hex));
  m.zscore(keys.metadataWait, hex);
  const [has, wait] = multiResults(await m.exec()) as [number, string | null];
  return has === 0 && (wait === null || Number(wait) <= (opts.now ?? Date.now()));
}

/**
 * KEYS: 1 popular, 2 metadata registry, 3 wait set. ARGV: 1 now (ms), 2 how many.
 * Read-only. `popular` is capped (10,000 by default), so both set operations are bounded.
 */
const candidatesScript = LuaScript.fromFile(new URL('./lua/fetch-candidates.lua', import.meta.url));

/**
 * Up to `limit` infohashes to fetch metadata for now, most live peers first: from `popular`,
 * without metadata, never failed or with their retry due. Read-only; the same infohashes come
 * back until they are stored or fail, so the caller dedupes (for example a BullMQ job id per
 * infohash). Their peers: getInfohash / pagePeers (queries.ts).
 */
export async function metadataCandidates(redis: RedisClient, keys: IndexKeys, opts: { limit: number; now?: number }): Promise<MetadataCandidate[]> {
  if (!Number.isSafeInteger(opts.limit) || opts.limit < 1 || opts.limit > MAX_CANDIDATES) throw new RangeError(`limit must be an integer in 1..${MAX_CANDIDATES}`);
  const flat = (await candidatesScript.run(redis, [keys.popular, keys.metadataFetched, keys.metadataWait], [String(opts.now ?? Date.now()), String(opts.limit)])) as Array<string | number>;
  const out: MetadataCandidate[] = [];
  for (let i = 0; i + 2 < flat.length; i += 3) out.push({ infohash: String(flat[i]), peers: Number(flat[i + 1]), retry: flat[i + 2] === 1 });
  return out;
}
