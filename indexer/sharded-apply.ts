import { Cluster } from 'ioredis';
import { type Discovery } from '../crawler/discovery.js';
import { type RedisClient } from '../redis/client.js';
import { LuaScript } from '../redis/lua-script.js';
import { BatchTooLargeError, SchemaMismatchError } from './errors.js';
import { type IndexConfig, resolveConfig } from './index-config.js';
import { aggregateBatch } from './batch-aggregate.js';
import { CensusStatsPlanner } from './census-stats-plan.js';
import { sourceBit } from './infohash-record.js';
import { compactPeer } from './peer-pack.js';
import { SHARDS, shardOf } from './shard.js';
import { type ShardKeys, type ShardedIndexKeys } from './sharded-keys.js';

/**
 * Schema 5's writer (indexer/SCHEMA.md, "Schema 5"): a batch, summed up per shard as schema 4
 * sums a whole batch (batch-aggregate.ts), and applied shard by shard: sightings into records,
 * peers into hour buckets, counts, recent and popular, census, statistics and totals. On a
 * cluster each shard is one script in its own slot (lua/apply-shard.lua); on one Redis the
 * shards run one after the other in one script (lua/apply-shards.lua), which keeps ingest near
 * schema 4's speed (bench/apply-throughput.ts). Each shard has its own applied marker, so a
 * batch redelivered after a crash between two shards' scripts applies only the shards it had
 * not applied yet. Not wired into the workers yet: metadata, migration 005 and the switch come
 * next.
 */

export const SHARDED_SCHEMA_VERSION = 5;

const applyShardScript = LuaScript.fromFile(new URL('./lua/apply-shard.lua', import.meta.url));
const applyShardsScript = LuaScript.fromFile(new URL('./lua/apply-shards.lua', import.meta.url));

export interface ShardedApplyOptions {
  keys: ShardedIndexKeys;
  /** Fixed when the batch was sealed (batch-id.ts); names one applied marker per shard. */
  batchId: string;
  config?: Partial<IndexConfig>;
  /** The current time in ms: which peers are live, which statistics days are kept. Default Date.now(). */
  now?: number;
  /** Events the caller dropped as malformed (counted in `events:invalid`). Default 0. */
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
 * One plan per shard the batch touches, and the one that takes its statistics. Pure (no Redis).
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

  // Statistics and totals add up in any shard: the whole batch's go to one shard, picked by the
  // batch id (uniform, so batches spread over the shards), instead of a few increments per
  // metric in every shard the batch touches (64 times the commands; 0.61 of schema 4's ingest).
  const whole = aggregateBatch(events, { config, now, invalid, countBatch: true });
  const statsShard = Number.parseInt(opts.batchId.slice(0, 2), 16) % SHARDS;
  const byShard = new Map<number, Discovery[]>([[statsShard, []]]);
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
      const part = aggregateBatch(shardEvents, { config, now, invalid: 0, countBatch: false });
      const agg = s === statsShard ? { ...part, totals: whole.totals, stats: whole.stats } : { ...part, totals: new Map(), stats: new Map() };
      const census = new CensusStatsPlanner(agg, shard.census, add);
      const ih = [...agg.infohashes].map(([hex, a]) => {
        const bucket = opts.keys.locate(hex).bucket;
        // The sources' bits are set here, not in Lua: hashing each address in the script cost more than the rest of its work.
        const sources = [...a.sources].reduce((m, address) => (m | (1 << sourceBit(address))) >>> 0, 0);
        const entry: Record<string, unknown> = { k: add(shard.records(bucket)), h: hex, f: String(a.first), l: String(a.last), n: a.seen, s: sources, p: [], w: [] };
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

/** Runs one shard's plan: applied now, or that shard had applied the batch before. */
export async function applyShardPlan(redis: RedisClient, plan: ShardPlan): Promise<{ applied: boolean; newInfohashes: number }> {
  return outcomeOf((await applyShardScript.run(redis, plan.keys, plan.args)) as [number, number | string]);
}

/**
 * Applies a batch (see the module comment). On one Redis the whole batch is one script
 * (lua/apply-shards.lua: the shards one after the other, each still with its own marker); on a
 * cluster, one script per shard, all at once.
 */
export async function applyShardedBatch(redis: RedisClient, events: readonly Discovery[], opts: ShardedApplyOptions): Promise<ShardedApplyResult> {
  const plans = planShardedBatch(events, opts);
  let outcomes: Array<[number, number | string]>;
  if (redis instanceof Cluster) {
    // The shards are independent, ioredis sends the calls at once and the masters run them in
    // parallel. A failure leaves the others applied; the redelivery applies the rest.
    const results = await Promise.allSettled(plans.map((plan) => applyShardScript.run(redis, plan.keys, plan.args)));
    outcomes = results.map((r) => {
      if (r.status === 'rejected') throw r.reason;
      return r.value as [number, number | string];
    });
  } else {
    const counts = JSON.stringify(plans.map((p) => p.keys.length));
    outcomes = (await applyShardsScript.run(redis, plans.flatMap((p) => p.keys), [counts, ...plans.map((p) => p.args[0])])) as Array<[number, number | string]>;
  }
  let applied = 0;
  let newInfohashes = 0;
  for (const outcome of outcomes) {
    const r = outcomeOf(outcome);
    if (r.applied) applied++;
    newInfohashes += r.newInfohashes;
  }
  return { shards: plans.length, applied, newInfohashes };
}

function outcomeOf([status, detail]: [number, number | string]): { applied: boolean; newInfohashes: number } {
  if (status === -1) throw new SchemaMismatchError(Number(detail), SHARDED_SCHEMA_VERSION);
  return { applied: status === 1, newInfohashes: status === 1 ? Number(detail) : 0 };
}
