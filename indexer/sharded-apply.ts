import { type Discovery } from '../crawler/discovery.js';
import { type RedisClient } from '../redis/client.js';
import { LuaScript } from '../redis/lua-script.js';
import { BatchTooLargeError, SchemaMismatchError } from './errors.js';
import { type IndexConfig, resolveConfig } from './index-config.js';
import { aggregateBatch } from './batch-aggregate.js';
import { CensusStatsPlanner } from './census-stats-plan.js';
import { compactPeer } from './peer-pack.js';
import { SHARDS, shardOf } from './shard.js';
import { type ShardKeys, type ShardedIndexKeys } from './sharded-keys.js';

/**
 * Schema 5's writer of infohash sightings and peers (indexer/SCHEMA.md, "Schema 5"): a batch,
 * aggregated per infohash in JS as today, split by shard, and applied by one script per shard it touches
 * (lua/apply-shard.lua). Each script touches one shard's keys only, so it runs on Redis Cluster,
 * and each has its own applied marker: a batch redelivered after a crash between two shards'
 * scripts applies the shards it had not applied yet, and only those. Not wired into the workers
 * yet: census, stats and metadata come next, then migration 005 switches the index over.
 */

export const SHARDED_SCHEMA_VERSION = 5;

const applyShardScript = LuaScript.fromFile(new URL('./lua/apply-shard.lua', import.meta.url));

export interface ShardedApplyOptions {
  keys: ShardedIndexKeys;
  /** Fixed when the batch was sealed (batch-id.ts); names one applied marker per shard. */
  batchId: string;
  config?: Partial<IndexConfig>;
  /** The current time in ms: which peers are live, which statistics days are kept. Default Date.now(). */
  now?: number;
  /** Events the caller dropped as malformed (counted in shard 0's totals). Default 0. */
  invalid?: number;
}

const HOUR_MS = 3_600_000;
export const hourOf = (ms: number): number => Math.floor(ms / HOUR_MS);

export interface ShardPlan {
  shard: ShardKeys;
  keys: string[];
  args: [string];
}

export interface ShardedApplyResult {
  /** Shards the batch touched. */
  shards: number;
  /** Of those, the ones applied now (the others had applied it before). */
  applied: number;
  newInfohashes: number;
}

/** `recent` and `popular` are kept per shard; their top N over all shards needs each shard's top N (N ≤ this cap). */
export function shardCap(cap: number): number {
  return Math.ceil(cap / SHARDS) * 4;
}

/** The shard of an event: of its infohash, of its node's ID, or (a sample) of its node's address. */
function shardOfEvent(e: Discovery): number {
  if (e.type === 'infohash' || e.type === 'peers') return shardOf(e.infohash);
  if (e.type === 'node') return shardOf(e.id.toLowerCase());
  let h = 0x811c9dc5;
  for (let i = 0; i < e.node.length; i++) h = Math.imul(h ^ e.node.charCodeAt(i), 0x01000193) >>> 0;
  return h % SHARDS;
}

/**
 * One plan per shard the batch touches (shard 0 always: it counts the batch). Pure (no Redis).
 * Each shard's events are summed up as schema 4 sums a whole batch (batch-aggregate.ts).
 */
export function planShardedBatch(events: readonly Discovery[], opts: ShardedApplyOptions): ShardPlan[] {
  const config = resolveConfig(opts.config);
  const invalid = opts.invalid ?? 0;
  if (!Number.isSafeInteger(invalid) || invalid < 0) throw new RangeError(`invalid must be a count of dropped events, got ${String(invalid)}`);
  if (events.length + invalid > config.maxBatchEvents) {
    throw new BatchTooLargeError(`a batch holds at most ${config.maxBatchEvents} events, got ${events.length + invalid}`);
  }
  const now = opts.now ?? Date.now();
  const cutoff = now - config.peerTtlMs;
  const liveHours: number[] = [];
  for (let h = hourOf(cutoff); h <= hourOf(now); h++) liveHours.push(h);

  const byShard = new Map<number, Discovery[]>([[0, []]]);
  for (const e of events) {
    const s = shardOfEvent(e);
    const list = byShard.get(s);
    if (list === undefined) byShard.set(s, [e]);
    else list.push(e);
  }
  return [...byShard]
    .sort(([a], [b]) => a - b)
    .map(([s, shardEvents]) => {
      const shard = opts.keys.shards[s]!;
      const keys = [
        shard.applied(opts.batchId),
        shard.schemaVersion,
        shard.counts,
        shard.recent,
        shard.popular,
        shard.census.nodes,
        shard.census.nodeVersions,
        shard.census.totals,
      ];
      const index = new Map<string, number>();
      const add = (key: string): number => {
        let k = index.get(key);
        if (k === undefined) {
          keys.push(key);
          index.set(key, (k = keys.length));
        }
        return k;
      };
      const agg = aggregateBatch(shardEvents, { config, now, invalid: s === 0 ? invalid : 0, countBatch: s === 0 });
      const census = new CensusStatsPlanner(agg, shard.census, add);
      const ih = [...agg.infohashes].map(([hex, a]) => {
        const bucket = opts.keys.locate(hex).bucket;
        const entry: Record<string, unknown> = { k: add(shard.records(bucket)), h: hex, f: String(a.first), l: String(a.last), n: a.seen, s: [...a.sources], p: [], w: [] };
        const byHour = new Map<number, Array<[string, number]>>();
        for (const [address, at] of a.peers) {
          const compact = compactPeer(address);
          if (compact === null) continue;
          const list = byHour.get(hourOf(at)) ?? [];
          list.push([compact.toString('hex'), Math.floor(at / 1000)]);
          byHour.set(hourOf(at), list);
        }
        if (byHour.size > 0) {
          entry['p'] = [...byHour].map(([hour, e]) => ({ k: add(shard.peers(bucket, hour)), x: String((hour + 1) * HOUR_MS + config.peerTtlMs), e }));
          entry['w'] = liveHours.map((hour) => add(shard.peers(bucket, hour)));
        }
        const counted = census.countNew(a.first);
        if (counted !== null) Object.assign(entry, counted);
        return entry;
      });
      const plan = {
        v: String(SHARDED_SCHEMA_VERSION),
        ttl: config.appliedTtlSec,
        cutoff: Math.floor(cutoff / 1000),
        caps: { recent: shardCap(config.recentCap), popular: shardCap(config.popularCap), peers: config.peersCap, versions: config.versionsCap },
        ih,
        ...census.plan(),
      };
      return { shard, keys, args: [JSON.stringify(plan)] as [string] };
    });
}

/** Runs one shard's plan: true when applied now, false when that shard had applied the batch. */
export async function applyShardPlan(redis: RedisClient, plan: ShardPlan): Promise<{ applied: boolean; newInfohashes: number }> {
  const [status, detail] = (await applyShardScript.run(redis, plan.keys, plan.args)) as [number, number | string];
  if (status === -1) throw new SchemaMismatchError(Number(detail), SHARDED_SCHEMA_VERSION);
  return { applied: status === 1, newInfohashes: status === 1 ? Number(detail) : 0 };
}

/** Applies a batch's sightings, shard by shard (see the module comment). */
export async function applyShardedBatch(redis: RedisClient, events: readonly Discovery[], opts: ShardedApplyOptions): Promise<ShardedApplyResult> {
  const plans = planShardedBatch(events, opts);
  let applied = 0;
  let newInfohashes = 0;
  for (const plan of plans) {
    const r = await applyShardPlan(redis, plan);
    if (r.applied) applied++;
    newInfohashes += r.newInfohashes;
  }
  return { shards: plans.length, applied, newInfohashes };
}
