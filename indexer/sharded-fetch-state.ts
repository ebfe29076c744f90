import { type RedisClient } from '../redis/client.js';
import { LuaScript } from '../redis/lua-script.js';
import { checkInfohash, MetadataBlobError } from './errors.js';
import { blobFetchedAt } from './metadata-blob.js';
import { MAX_CANDIDATES, METADATA_FAILURE_CODES } from './metadata-constants.js';
import { CODE_RE, checkFailure, type FailureReply, type FailureResult, failureResultOf, type MetadataCandidate, type MetadataFailure, type MetadataState } from './metadata-fetch-state.js';
import { BUCKET_BITS } from './shard.js';
import { SHARDED_SCHEMA_VERSION, shardCap } from './sharded-apply.js';
import { type ShardKeys, type ShardedIndexKeys } from './sharded-keys.js';

/**
 * Schema 5's fetch attempts and candidates: schema 4's recordMetadataFailure, metadataState,
 * needsMetadata and metadataCandidates (metadata-fetch-state.ts) with the same semantics and
 * result types, over per-shard keys:
 *
 * - the state after failed fetches is a packed value (below) in the bucket HASH `fetch(bucket)`,
 *   deleted by a store; the record's FETCH_FAILED flag says there is one (set by a failure,
 *   cleared by a store and when the state is dropped), so retention knows which records have a
 *   state to delete with them;
 * - `metadataWait` is per shard (hex → next attempt), capped at shardCap(waitCap) with schema
 *   4's rule past the cap (the soonest-due entries go, so they become due at once);
 * - schema 4's fetch key expired `retainMs` after its next attempt time, then attempts counted
 *   from 0 again. A field of a bucket HASH cannot expire, so the state carries that time
 *   (`expiresAt`): readers treat a state past it as absent, and every failure written to a
 *   bucket drops that bucket's states past it (as of the failure's time). Retention deletes a
 *   state with its record. So a bucket keeps at most one state per record, and a stale one only
 *   until the next failure in its bucket or its record's retention, whichever comes first.
 *
 * The packed state, big-endian (lua/includes/fetch-state.lua writes it):
 *
 *    0  u8   format (1)
 *    1  u32  attempts (failed fetches counted)
 *    5  u56  firstFailedAt     12  u56  lastAttemptAt     19  u56  nextAttemptAt
 *   26  u56  expiresAt (nextAttemptAt + retainMs: the state counts as gone from then on)
 *   33  u8   gaveUp (0 or 1)
 *   34  u8   lastError: 1 + its index in METADATA_FAILURE_CODES, or 0 and then
 *   35  u8   the code's length and its text (codes outside the list)
 *
 * 35 bytes for a listed code: with its 20-byte field it stays under the 64 bytes of
 * `hash-max-listpack-value`, so fetch buckets keep the compact encoding.
 */

export const FETCH_STATE_FORMAT = 1;
const FETCH_STATE_BYTES = 35;
const U48 = 2 ** 48;

export interface FetchState {
  attempts: number;
  firstFailedAt: number;
  lastAttemptAt: number;
  nextAttemptAt: number;
  expiresAt: number;
  gaveUp: boolean;
  lastError: string;
}


function bad(what: string): never {
  throw new MetadataBlobError(`fetch state: ${what}`);
}

function u56(b: Buffer, at: number): number {
  const v = b[at]! * U48 + b.readUIntBE(at + 1, 6);
  if (!Number.isSafeInteger(v)) bad(`a time at offset ${at} is not a safe integer`);
  return v;
}

/** The packed state's content; MetadataBlobError for bytes the script would not have written. */
export function decodeFetchState(bytes: Uint8Array): FetchState {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  if (b.length < FETCH_STATE_BYTES) bad(`${b.length} bytes`);
  if (b[0] !== FETCH_STATE_FORMAT) bad(`unknown format ${b[0]}`);
  const gaveUp = b[33]!;
  if (gaveUp > 1) bad(`gaveUp ${gaveUp}`);
  const index = b[34]!;
  let lastError: string;
  if (index === 0) {
    const n = b[35];
    if (n === undefined || b.length !== FETCH_STATE_BYTES + 1 + n) bad('the code text does not fill the value');
    lastError = b.subarray(36).toString('latin1');
    if (!CODE_RE.test(lastError)) bad('the code text is not a failure code');
  } else {
    if (b.length !== FETCH_STATE_BYTES) bad(`${b.length} bytes`);
    const code = METADATA_FAILURE_CODES[index - 1];
    if (code === undefined) bad(`unknown code index ${index}`);
    lastError = code;
  }
  return {
    attempts: b.readUInt32BE(1),
    firstFailedAt: u56(b, 5),
    lastAttemptAt: u56(b, 12),
    nextAttemptAt: u56(b, 19),
    expiresAt: u56(b, 26),
    gaveUp: gaveUp === 1,
    lastError,
  };
}

/** The bytes lua/includes/fetch-state.lua writes for `s` (tests check the two agree). */
export function encodeFetchState(s: FetchState): Buffer {
  const index = METADATA_FAILURE_CODES.indexOf(s.lastError) + 1;
  if (index === 0 && !CODE_RE.test(s.lastError)) bad('lastError is not a failure code');
  const b = Buffer.alloc(FETCH_STATE_BYTES + (index === 0 ? 1 + s.lastError.length : 0));
  b[0] = FETCH_STATE_FORMAT;
  if (!Number.isInteger(s.attempts) || s.attempts < 0 || s.attempts > 2 ** 32 - 1) bad('attempts out of range');
  b.writeUInt32BE(s.attempts, 1);
  for (const [at, v] of [[5, s.firstFailedAt], [12, s.lastAttemptAt], [19, s.nextAttemptAt], [26, s.expiresAt]] as const) {
    if (!Number.isSafeInteger(v) || v < 0) bad('times are non-negative safe integers');
    b[at] = Math.floor(v / U48);
    b.writeUIntBE(v % U48, at + 1, 6);
  }
  b[33] = s.gaveUp ? 1 : 0;
  b[34] = index;
  if (index === 0) {
    b[35] = s.lastError.length;
    b.write(s.lastError, 36, 'latin1');
  }
  return b;
}

const failureScript = LuaScript.fromFile(new URL('./lua/shard-fetch-failure.lua', import.meta.url));

/**
 * Records a failed metadata fetch of `infohash` and schedules its retry (or gives up on it for a
 * while), as recordMetadataFailure does in schema 4. Atomic (one script in the infohash's
 * shard). Throws MetadataInputError, InfohashNotIndexedError or SchemaMismatchError.
 */
export async function recordShardedMetadataFailure(redis: RedisClient, keys: ShardedIndexKeys, infohash: string, failure: MetadataFailure): Promise<FailureResult> {
  const hex = checkInfohash(infohash);
  const p = checkFailure(failure);
  const { shard, bucket } = keys.locate(hex);
  const index = METADATA_FAILURE_CODES.indexOf(failure.code) + 1;
  const reply = (await failureScript.run(
    redis,
    [shard.schemaVersion, shard.records(bucket), shard.meta(bucket), shard.fetch(bucket), shard.metadataWait],
    [
      String(SHARDED_SCHEMA_VERSION),
      Buffer.from(hex, 'hex'),
      hex,
      String(index),
      index === 0 ? failure.code : '',
      ...[failure.at, p.baseDelayMs, p.maxDelayMs, p.maxAttempts, p.giveUpForMs, p.retainMs, shardCap(p.waitCap)].map(String),
    ],
  )) as FailureReply;
  return failureResultOf(reply, hex, SHARDED_SCHEMA_VERSION);
}

/**
 * The state if it has not expired by `now` (schema 4's key would be gone). A value that is not
 * a state (only a hand edit makes one) counts as none, as the failure script counts it (and
 * drops it at the bucket's next failure).
 */
function liveState(raw: Buffer | null, now: number): FetchState | null {
  if (raw === null) return null;
  try {
    const s = decodeFetchState(raw);
    return s.expiresAt > now ? s : null;
  } catch (err) {
    if (err instanceof MetadataBlobError) return null;
    throw err;
  }
}

/** Everything known about `infohash`'s metadata fetching (schema 4's metadataState): four reads in its shard, sent at once. */
export async function shardedMetadataState(redis: RedisClient, keys: ShardedIndexKeys, infohash: string, opts: { now?: number } = {}): Promise<MetadataState> {
  const hex = checkInfohash(infohash);
  const now = opts.now ?? Date.now();
  const { shard, bucket } = keys.locate(hex);
  const field = Buffer.from(hex, 'hex');
  const [record, blob, raw, wait] = await Promise.all([
    redis.hgetBuffer(shard.records(bucket), field),
    redis.hgetBuffer(shard.meta(bucket), field),
    redis.hgetBuffer(shard.fetch(bucket), field),
    redis.zscore(shard.metadataWait, hex),
  ]);
  const state = liveState(raw, now);
  const nextAttemptAt = wait === null ? null : Number(wait);
  const hasMetadata = blob !== null;
  return {
    infohash: hex,
    indexed: record !== null,
    hasMetadata,
    fetchedAt: blob === null ? null : blobFetchedAt(blob),
    attempts: state?.attempts ?? 0,
    lastAttemptAt: state?.lastAttemptAt ?? null,
    lastError: state?.lastError ?? null,
    nextAttemptAt,
    gaveUp: state?.gaveUp ?? false,
    needsMetadata: !hasMetadata && (nextAttemptAt === null || nextAttemptAt <= now),
  };
}

/** True when `infohash` has no metadata and is not waiting for a later retry (schema 4's needsMetadata): two reads. */
export async function shardedNeedsMetadata(redis: RedisClient, keys: ShardedIndexKeys, infohash: string, opts: { now?: number } = {}): Promise<boolean> {
  const hex = checkInfohash(infohash);
  const { shard, bucket } = keys.locate(hex);
  const [has, wait] = await Promise.all([redis.hexists(shard.meta(bucket), Buffer.from(hex, 'hex')), redis.zscore(shard.metadataWait, hex)]);
  return has === 0 && (wait === null || Number(wait) <= (opts.now ?? Date.now()));
}

/**
 * KEYS: 1 popular, 2 wait (one shard). ARGV: 1 now. Read-only: that shard's never-tried and
 * due members of popular, before their records are checked.
 */
const candidatesScript = LuaScript.fromFile(new URL('./lua/shard-candidates.lua', import.meta.url));

/**
 * KEYS: records buckets, ARGV: the candidates' fields (one shard's). Read-only: '1' per
 * candidate whose record has METADATA, else '0'.
 */
const flagsScript = LuaScript.fromFile(new URL('./lua/shard-candidate-flags.lua', import.meta.url));

interface Candidate {
  infohash: string;
  peers: number;
}

const split = (joined: string): string[] => (joined === '' ? [] : joined.split(','));

/**
 * One shard's never-tried and due members without metadata (their records' METADATA flag
 * unset; no record, pruned meanwhile, counts as no metadata, as schema 4's registry would say).
 * Popular members are hex written by the batch script, so their bucket is read straight from
 * the first 5 digits instead of going through ShardedIndexKeys.locate's checks: this loop runs
 * over every popular member of every shard on each sweep.
 */
async function shardCandidates(redis: RedisClient, shard: ShardKeys, now: number): Promise<{ fresh: Candidate[]; due: Candidate[] }> {
  const [fm, fs, dm, ds] = (await candidatesScript.run(redis, [shard.popular, shard.metadataWait], [String(now)])) as [string, string, string, string];
  const list = (members: string, scores: string): Candidate[] => {
    const s = split(scores);
    return split(members).map((infohash, i) => ({ infohash, peers: Number(s[i]) }));
  };
  const fresh = list(fm, fs);
  const due = list(dm, ds);
  const all = [...fresh, ...due];
  if (all.length === 0) return { fresh, due };
  const keys: string[] = [];
  const fields: Buffer[] = [];
  for (const c of all) {
    keys.push(shard.records(Number.parseInt(c.infohash.slice(0, 5), 16) >>> (20 - BUCKET_BITS)));
    fields.push(Buffer.from(c.infohash, 'hex'));
  }
  const flags: string[] = [];
  for (let i = 0; i < all.length; i += CANDIDATE_FLAGS_PER_CALL) {
    flags.push((await flagsScript.run(redis, keys.slice(i, i + CANDIDATE_FLAGS_PER_CALL), fields.slice(i, i + CANDIDATE_FLAGS_PER_CALL))) as string);
  }
  const has = flags.join('');
  return { fresh: fresh.filter((_, i) => has[i] !== '1'), due: due.filter((_, i) => has[fresh.length + i] !== '1') };
}

/** Records checked per call: a shard's popular is capped (628 by default), but popularCap is a setting. */
const CANDIDATE_FLAGS_PER_CALL = 2_000;

/**
 * Up to `limit` infohashes to fetch metadata for now, most live peers first (schema 4's
 * metadataCandidates): from each shard's `popular`, without metadata, never failed or with
 * their retry due. Two round trips per shard, every shard at once: the shard's candidates
 * (one script over popular and wait), then their records' flags (the buckets are only known
 * once the members are). Merged in Node exactly as schema 4's script orders them: the best
 * `limit` never-tried ones (peers, then infohash, descending), with the due ones, sorted by
 * peers descending then infohash ascending.
 *
 * Cost: every popular member that is not waiting has its record read on each call, and once the
 * fetcher has caught up that is most of popular (members with metadata stay there).
 * bench/metadata-layout.ts: 105 ms with 22,500 members over the shards, against schema 4's 16 ms
 * over its 10,000 (one ZDIFF with `metadata:fetched`), on a busy 2-core machine; the scheduler
 * calls it every 15 s. A per-shard ZSET of the popular members without metadata, kept by the
 * batch script (it holds the record, flags included, when it writes popular) and by the store,
 * would make this one read-only script per shard again.
 */
export async function shardedMetadataCandidates(redis: RedisClient, keys: ShardedIndexKeys, opts: { limit: number; now?: number }): Promise<MetadataCandidate[]> {
  if (!Number.isSafeInteger(opts.limit) || opts.limit < 1 || opts.limit > MAX_CANDIDATES) throw new RangeError(`limit must be an integer in 1..${MAX_CANDIDATES}`);
  const now = opts.now ?? Date.now();
  const parts = await Promise.all(keys.shards.map((shard) => shardCandidates(redis, shard, now)));
  const byHex = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
  const fresh = parts
    .flatMap((p) => p.fresh)
    .sort((a, b) => b.peers - a.peers || byHex(b.infohash, a.infohash))
    .slice(0, opts.limit)
    .map((c): MetadataCandidate => ({ ...c, retry: false }));
  const due = parts.flatMap((p) => p.due).map((c): MetadataCandidate => ({ ...c, retry: true }));
  return [...fresh, ...due].sort((a, b) => b.peers - a.peers || byHex(a.infohash, b.infohash)).slice(0, opts.limit);
}
