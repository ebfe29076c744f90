import { Cluster } from 'ioredis';
import { type RedisClient } from '../redis/client.js';
import { LuaScript } from '../redis/lua-script.js';
import { SchemaMismatchError } from './errors.js';
import { DEFAULT_INDEX_CONFIG } from './index-config.js';
import { BUCKETS, SHARDS, bucketOf } from './shard.js';
import { tokensOfBlob } from './sharded-metadata.js';
import { shardedInfohashCount } from './sharded-queries.js';
import { HOUR_MS, SHARDED_SCHEMA_VERSION, hourOf } from './sharded-apply.js';
import { type ShardKeys, type ShardedIndexKeys } from './sharded-keys.js';

/**
 * Schema 5's retention (indexer/SCHEMA.md, "Schema 5"): the same two rules as schema 4's
 * prune.ts, infohashes last seen before a time go, and past a cap the least recently seen go,
 * without schema 4's registry ZSET (142 bytes per infohash, bench/layout.ts).
 *
 * - **Cap as a cutoff.** Each shard keeps how many of its records were last seen in each hour
 *   (`lastSeenHours`, kept by the batch script). Summed over the shards, that histogram turns
 *   "keep the N most recently seen" into "drop what was last seen before hour H", where H is
 *   the newest hour that cannot be kept whole. The pass keeps at most N, and drops at most one
 *   hour's worth more than needed (the records of hour H that would have fit).
 * - **A walk over buckets.** A pass reads the buckets in order, one script per shard and chunk of
 *   buckets, and each script removes the records it finds older than the cutoff, with their
 *   peers and their entries in the shard's views. The histogram also says when there is nothing
 *   to prune: then no bucket is read at all.
 * - **Records with metadata or fetch state** are returned by the walk and removed by a second
 *   step: Node reads their blobs and tokenizes their names, since the script that removes them
 *   must declare their search postings; that script checks each is still past the cutoff and
 *   its blob unchanged, and leaves the others for a later pass (`deferred`).
 */

/** Records per script in the metadata step (each with its blob, fetch state, peers and up to 32 postings). */
const METADATA_CHUNK = 50;

/** Buckets per script: 2,048 per shard, about 76 records each at 10 million infohashes. */
export const SHARDED_PRUNE_BUCKETS = 32;

/** Scripts in flight at once on a cluster (different shards, so different slots, often masters). */
const CLUSTER_CONCURRENCY = 8;

const pruneScript = LuaScript.fromFile(new URL('./lua/shard-prune.lua', import.meta.url));
const pruneMetadataScript = LuaScript.fromFile(new URL('./lua/shard-prune-metadata.lua', import.meta.url));

export interface ShardedPruneOptions {
  keys: ShardedIndexKeys;
  /** Records last seen before this time (ms since the epoch) go. */
  seenBefore?: number;
  /** At most this many records stay: the most recently seen (to the hour, see above). */
  maxInfohashes?: number;
  /** Count what would go, change nothing. */
  dryRun?: boolean;
  /** Buckets per script (default SHARDED_PRUNE_BUCKETS). */
  chunkBuckets?: number;
  /** The current time (ms): which peer hours can still hold peers. Default Date.now(). */
  now?: number;
  /** Ends the pass after the scripts under way. */
  signal?: AbortSignal;
  /**
   * Runs in the metadata step between reading the blobs and the script that removes them, with
   * the infohashes of that call: tests race the pass through it (a blob replaced or a record
   * seen again meanwhile must be left, not removed with stale postings).
   */
  beforeMetadataStep?: (infohashes: readonly string[]) => Promise<void>;
}

export interface ShardedPruneResult {
  /** Records removed (with dryRun: that would be removed now). */
  pruned: number;
  /** Records past the cutoff left for a later pass: their metadata changed while the pass ran. */
  deferred: number;
  /** The last-seen cutoff the pass used (ms); null when no rule applied. */
  cutoff: number | null;
  /** Records read; 0 when the histogram showed nothing to prune. */
  looked: number;
  dryRun: boolean;
}

/** The shards' last-seen histograms summed: hour → records last seen in it. */
export async function lastSeenHistogram(redis: RedisClient, keys: ShardedIndexKeys): Promise<Map<number, number>> {
  const parts = await Promise.all(keys.shards.map((s) => redis.hgetall(s.lastSeenHours)));
  const out = new Map<number, number>();
  for (const part of parts) for (const [hour, n] of Object.entries(part)) out.set(Number(hour), (out.get(Number(hour)) ?? 0) + Number(n));
  return out;
}

/**
 * The last-seen cutoff the rules give: the later of `seenBefore` and the cap's (the start of the
 * hour after the newest hour that does not fit under the cap). Null when neither rule applies.
 */
export function pruneCutoff(histogram: ReadonlyMap<number, number>, opts: Pick<ShardedPruneOptions, 'seenBefore' | 'maxInfohashes'>): number | null {
  let cutoff: number | null = opts.seenBefore ?? null;
  if (opts.maxInfohashes !== undefined) {
    if (!Number.isSafeInteger(opts.maxInfohashes) || opts.maxInfohashes < 0) throw new RangeError(`maxInfohashes must be a non-negative integer, got ${opts.maxInfohashes}`);
    let kept = 0;
    for (const [hour, n] of [...histogram].sort(([a], [b]) => b - a)) {
      kept += n;
      if (kept > opts.maxInfohashes) {
        const byCap = (hour + 1) * HOUR_MS;
        cutoff = cutoff === null ? byCap : Math.max(cutoff, byCap);
        break;
      }
    }
  }
  return cutoff;
}

/** One pass of the rules (see the module comment). */
export async function pruneSharded(redis: RedisClient, opts: ShardedPruneOptions): Promise<ShardedPruneResult> {
  const dryRun = opts.dryRun ?? false;
  const histogram = await lastSeenHistogram(redis, opts.keys);
  const cutoff = pruneCutoff(histogram, opts);
  const result: ShardedPruneResult = { pruned: 0, deferred: 0, cutoff, looked: 0, dryRun };
  if (cutoff === null) return result;
  // Records of the cutoff's own hour may be on either side of it; earlier hours are all stale.
  const stale = [...histogram].reduce((n, [hour, count]) => (hour <= hourOf(cutoff) ? n + count : n), 0);
  if (stale === 0) return result;

  const chunk = opts.chunkBuckets ?? SHARDED_PRUNE_BUCKETS;
  if (!Number.isInteger(chunk) || chunk < 1) throw new RangeError(`chunkBuckets must be a positive integer, got ${chunk}`);
  const now = opts.now ?? Date.now();
  // Peers of a pruned record can only remain in hour buckets that have not expired.
  const peerHours: number[] = [];
  for (let h = hourOf(Math.min(cutoff, now) - DEFAULT_INDEX_CONFIG.peerTtlMs); h <= hourOf(Math.min(cutoff, now)); h++) peerHours.push(h);

  const perShard = BUCKETS / SHARDS;
  const walkShard = async (shard: ShardKeys): Promise<void> => {
    for (let start = shard.shard * perShard; start < (shard.shard + 1) * perShard && !opts.signal?.aborted; start += chunk) {
      const keys = [shard.schemaVersion, shard.counts, shard.recent, shard.popular, shard.lastSeenHours, shard.census.totals, shard.seeders];
      const b: Array<{ r: number; p: number[] }> = [];
      for (let bucket = start; bucket < Math.min(start + chunk, (shard.shard + 1) * perShard); bucket++) {
        keys.push(shard.records(bucket));
        const r = keys.length;
        // The scrape estimate goes with the peers: the script removes the record's field from each.
        const p = [...peerHours.map((h) => keys.push(shard.peers(bucket, h))), keys.push(shard.swarm(bucket))];
        b.push({ r, p });
      }
      const plan = { v: String(SHARDED_SCHEMA_VERSION), cutoff, dry: dryRun ? 1 : 0, b };
      const out = (await pruneScript.run(redis, keys, [JSON.stringify(plan)])) as [number, string[] | string, number];
      if (out[0] === -1) throw new SchemaMismatchError(Number(out[1]), SHARDED_SCHEMA_VERSION);
      result.pruned += out[0];
      result.looked += out[2];
      const withMetadata = out[1] as string[];
      for (let at = 0; at < withMetadata.length; at += METADATA_CHUNK) {
        const part = withMetadata.slice(at, at + METADATA_CHUNK);
        if (dryRun) result.pruned += part.length;
        else {
          const [pruned, changed] = await pruneWithMetadata(redis, shard, part, cutoff, peerHours, opts.beforeMetadataStep);
          result.pruned += pruned;
          result.deferred += changed;
        }
      }
    }
  };
  const concurrency = redis instanceof Cluster ? CLUSTER_CONCURRENCY : 1;
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < SHARDS && !opts.signal?.aborted) await walkShard(opts.keys.shards[next++]!);
    }),
  );
  return result;
}

/** The metadata step for some of one shard's records (see the module comment). */
async function pruneWithMetadata(
  redis: RedisClient,
  shard: ShardKeys,
  hexes: readonly string[],
  cutoff: number,
  peerHours: readonly number[],
  beforeScript: ShardedPruneOptions['beforeMetadataStep'],
): Promise<[number, number]> {
  const keys = [shard.schemaVersion, shard.counts, shard.recent, shard.popular, shard.lastSeenHours, shard.census.totals, shard.metadataWait, shard.seeders];
  const index = new Map(keys.map((k, i) => [k, i + 1]));
  const add = (key: string): number => {
    let i = index.get(key);
    if (i === undefined) {
      keys.push(key);
      index.set(key, (i = keys.length));
    }
    return i;
  };
  const blobs = await Promise.all(hexes.map((hex) => redis.hgetBuffer(shard.meta(bucketOf(hex)), Buffer.from(hex, 'hex'))));
  const args: Buffer[] = [];
  const e = hexes.map((hex, i) => {
    const bucket = bucketOf(hex);
    const blob = blobs[i] ?? null;
    if (blob !== null) args.push(blob);
    return {
      h: hex,
      r: add(shard.records(bucket)),
      m: add(shard.meta(bucket)),
      f: add(shard.fetch(bucket)),
      // The scrape estimate goes with the peers: the script removes the record's field from each.
      p: [...peerHours.map((h) => add(shard.peers(bucket, h))), add(shard.swarm(bucket))],
      t: blob === null ? [] : tokensOfBlob(blob).map((token) => add(shard.postings(token))),
      b: blob === null ? 0 : args.length + 1,
    };
  });
  await beforeScript?.(hexes);
  const out = (await pruneMetadataScript.run(redis, keys, [JSON.stringify({ v: String(SHARDED_SCHEMA_VERSION), cutoff, e }), ...args])) as [number, number | string];
  if (out[0] === -1) throw new SchemaMismatchError(Number(out[1]), SHARDED_SCHEMA_VERSION);
  return [out[0], Number(out[1])];
}

/**
 * A pass in the shape of schema 4's pruneIndex (prune.ts), for `dhtscope prune` and the
 * hourly IndexPruner: `conflicts` are the records left because they changed meanwhile,
 * `remaining` the records after the pass.
 */
export async function pruneIndexed(
  redis: RedisClient,
  opts: { keys: ShardedIndexKeys; seenBefore?: number; maxInfohashes?: number; dryRun?: boolean; signal?: AbortSignal; now?: number },
): Promise<{ pruned: number; conflicts: number; remaining: number; dryRun: boolean }> {
  // The index's own version (the migration runner's): a pass that finds nothing stale reads no
  // shard script, and must still refuse an index it was not written for.
  const version = Number((await redis.get(opts.keys.legacy.schemaVersion)) ?? 0);
  if (version !== SHARDED_SCHEMA_VERSION) throw new SchemaMismatchError(version, SHARDED_SCHEMA_VERSION);
  const r = await pruneSharded(redis, opts);
  const count = await shardedInfohashCount(redis, opts.keys);
  return { pruned: r.pruned, conflicts: r.deferred, remaining: count, dryRun: r.dryRun };
}
