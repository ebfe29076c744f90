import { type Discovery } from '../crawler/discovery.js';
import { type RedisClient } from '../redis/client.js';
import { LuaScript } from '../redis/lua-script.js';
import { SchemaMismatchError } from './errors.js';
import { type IndexConfig, resolveConfig } from './index-config.js';
import { SHARDS } from './shard.js';
import { type ShardKeys, type ShardedIndexKeys } from './sharded-keys.js';

/**
 * Schema 5's writer of infohash sightings (indexer/SCHEMA.md, "Schema 5"): a batch, aggregated
 * per infohash in JS as today, split by shard, and applied by one script per shard it touches
 * (lua/apply-shard.lua). Each script touches one shard's keys only, so it runs on Redis Cluster,
 * and each has its own applied marker: a batch redelivered after a crash between two shards'
 * scripts applies the shards it had not applied yet, and only those. Not wired into the workers
 * yet: peers, census, stats and metadata come next, then migration 005 switches the index over.
 */

export const SHARDED_SCHEMA_VERSION = 5;

const applyShardScript = LuaScript.fromFile(new URL('./lua/apply-shard.lua', import.meta.url));

export interface ShardedApplyOptions {
  keys: ShardedIndexKeys;
  /** Fixed when the batch was sealed (batch-id.ts); names one applied marker per shard. */
  batchId: string;
  config?: Partial<IndexConfig>;
}

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

interface Aggregate {
  first: number;
  last: number;
  seen: number;
  sources: Set<string>;
}

/** `recent` is kept per shard; its top N over all shards needs each shard's top N (N ≤ this cap). */
export function shardRecentCap(config: IndexConfig): number {
  return Math.ceil(config.recentCap / SHARDS) * 4;
}

/** One plan per shard the batch touches. Pure (no Redis). */
export function planShardedBatch(events: readonly Discovery[], opts: ShardedApplyOptions): ShardPlan[] {
  const config = resolveConfig(opts.config);
  const byInfohash = new Map<string, Aggregate>();
  for (const e of events) {
    if (e.type !== 'infohash' && e.type !== 'peers') continue;
    let a = byInfohash.get(e.infohash);
    if (a === undefined) byInfohash.set(e.infohash, (a = { first: e.at, last: e.at, seen: 0, sources: new Set() }));
    if (e.at < a.first) a.first = e.at;
    if (e.at > a.last) a.last = e.at;
    if (e.type === 'infohash') {
      a.seen++;
      a.sources.add(e.node);
    }
  }
  const byShard = new Map<number, { shard: ShardKeys; keys: string[]; index: Map<string, number>; ih: unknown[] }>();
  for (const [hex, a] of byInfohash) {
    const { shard, bucket } = opts.keys.locate(hex);
    let p = byShard.get(shard.shard);
    if (p === undefined) {
      const keys = [shard.applied(opts.batchId), shard.schemaVersion, shard.counts, shard.recent];
      byShard.set(shard.shard, (p = { shard, keys, index: new Map(), ih: [] }));
    }
    const bucketKey = shard.records(bucket);
    let k = p.index.get(bucketKey);
    if (k === undefined) {
      p.keys.push(bucketKey);
      p.index.set(bucketKey, (k = p.keys.length));
    }
    p.ih.push({ k, h: hex, f: String(a.first), l: String(a.last), n: a.seen, s: [...a.sources] });
  }
  return [...byShard.values()]
    .sort((x, y) => x.shard.shard - y.shard.shard)
    .map((p) => ({
      shard: p.shard,
      keys: p.keys,
      args: [JSON.stringify({ v: String(SHARDED_SCHEMA_VERSION), ttl: config.appliedTtlSec, caps: { recent: shardRecentCap(config) }, ih: p.ih })] as [string],
    }));
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
