import { Cluster } from 'ioredis';
import { type Discovery } from '../crawler/discovery.js';
import { type RedisClient } from '../redis/client.js';
import { LuaScript } from '../redis/lua-script.js';
import { awaitReplicas, slotMasters } from '../redis/replication.js';
import { BatchTooLargeError, SchemaMismatchError } from './errors.js';
import { type IndexConfig, resolveConfig } from './index-config.js';
import { type BatchAggregate, aggregateBatch } from './batch-aggregate.js';
import { CensusStatsPlanner } from './census-stats-plan.js';
import { sourceBit } from './infohash-record.js';
import { compactPeer } from './peer-pack.js';
import { SCHEMA_VERSION } from './keys.js';
import { SHARDS, bucketOf, shardOf, shardOfBucket } from './shard.js';
import { type ShardKeys, type ShardedIndexKeys } from './sharded-keys.js';

/**
 * Schema 5's writer (indexer/SCHEMA.md, "Schema 5"): a batch, summed up per shard as schema 4
 * sums a whole batch (batch-aggregate.ts), and applied shard by shard: sightings into records,
 * peers into hour buckets, counts, recent and popular, census, statistics and totals. On a
 * cluster each shard is one script in its own slot (lua/apply-shard.lua); on one Redis the
 * shards run one after the other in one script (lua/apply-shards.lua), which keeps ingest near
 * schema 4's speed (bench/apply-throughput.ts). On a cluster each shard has its own applied
 * marker, so a batch redelivered after a crash between two shards' scripts applies only the
 * shards it had not applied yet; on one Redis the one script has one marker for the batch
 * (64 markers of 120 B for every batch, kept for appliedTtlSec, were more than the records of
 * a slow crawl) and still honours a shard's own marker.
 */

/** Each shard's copy of the schema version (its scripts check the copy in their own slot): the index's, since schema 5. */
export const SHARDED_SCHEMA_VERSION = SCHEMA_VERSION;

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
  /**
   * On a cluster, return only once a replica of every master written has the batch
   * (redis/replication.ts); a batch already applied waits too, for the write that applied it.
   * The workers set it: a job must not complete with its batch on a master only. Default false.
   */
  awaitReplica?: boolean;
}

export const HOUR_MS = 3_600_000;
export const hourOf = (ms: number): number => Math.floor(ms / HOUR_MS);

/** One infohash in a shard's plan (lua/apply-shard.lua's header has the fields). */
interface ShardPlanEntry {
  k: number;
  h: string;
  f: string;
  l: string;
  n: number;
  s: number;
  p: Array<{ k: number; x: string; e: Array<[string, number]> }>;
  w: number[];
  nk?: number;
  nf?: string;
}

export interface ShardPlan {
  shard: ShardKeys;
  keys: string[];
  args: [string];
}

export interface ShardedApplyResult {
  /** Shards the batch touched. */
  shards: number;
  /** Their numbers. */
  touched: number[];
  /** Of those, the ones applied now (the others had applied it before). */
  applied: number;
  newInfohashes: number;
}

/** `recent` and `popular` are kept per shard; their top N over all shards needs each shard's top N (N ≤ this cap). */
export function shardCap(cap: number): number {
  return Math.ceil(cap / SHARDS) * 4;
}

/**
 * One plan per shard the batch touches, and the one that takes its statistics. Pure (no Redis).
 * The batch is summed up once, as schema 4 sums it (batch-aggregate.ts), then split by shard.
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

  const whole = aggregateBatch(events, { config, now, invalid, countBatch: true });
  // A node ID recurs in a batch's census parts (its day, version and flags): its shard is worked
  // out once, and an infohash's bucket too (shardOf and locate check the hex each time).
  const idShards = new Map<string, number>();
  const shardOfId = (id: string): number => {
    let s = idShards.get(id);
    if (s === undefined) idShards.set(id, (s = shardOf(id.toLowerCase())));
    return s;
  };
  const buckets = new Map<string, number>();
  for (const hex of whole.infohashes.keys()) buckets.set(hex, bucketOf(hex));
  const touched = new Set<number>();
  for (const bucket of buckets.values()) touched.add(shardOfBucket(bucket));
  for (const id of whole.nodeIds) touched.add(shardOfId(id));
  // Statistics and totals add up in any shard: the whole batch's go to one shard, picked by the
  // batch id (uniform, so batches spread over the shards), instead of a few increments per
  // metric in every shard the batch touches. It is one the batch touches anyway, so a batch
  // grouped by shard (workers/discovery-batcher.ts) stays within its group.
  const pick = Number.parseInt(opts.batchId.slice(0, 8), 16);
  const statsShard = touched.size === 0 ? pick % SHARDS : [...touched].sort((a, b) => a - b)[pick % touched.size]!;
  // The batch is summed up once, then split: infohashes by their shard, census by node ID.
  const byShard = new Map<number, BatchAggregate>();
  const partOf = (s: number): BatchAggregate => {
    let p = byShard.get(s);
    if (p === undefined) {
      const own = s === statsShard;
      p = { totals: own ? whole.totals : new Map(), stats: own ? whole.stats : new Map(), infohashes: new Map(), nodeIds: new Set(), byDay: new Map(), byVersion: new Map(), byFlag: new Map(), dayExpiry: whole.dayExpiry };
      byShard.set(s, p);
    }
    return p;
  };
  partOf(statsShard);
  const addId = <K>(pick: (p: BatchAggregate) => Map<K, Set<string>>, key: K, id: string): void => {
    const m = pick(partOf(shardOfId(id)));
    const set = m.get(key);
    if (set === undefined) m.set(key, new Set([id]));
    else set.add(id);
  };
  for (const [hex, a] of whole.infohashes) partOf(shardOfBucket(buckets.get(hex)!)).infohashes.set(hex, a);
  for (const id of whole.nodeIds) partOf(shardOfId(id)).nodeIds.add(id);
  for (const [day, d] of whole.byDay) {
    for (const id of d.ids) {
      const p = partOf(shardOfId(id));
      const x = p.byDay.get(day);
      if (x === undefined) p.byDay.set(day, { exp: d.exp, ids: new Set([id]) });
      else x.ids.add(id);
    }
  }
  for (const [label, ids] of whole.byVersion) for (const id of ids) addId((p) => p.byVersion, label, id);
  for (const [flag, ids] of whole.byFlag) for (const id of ids) addId((p) => p.byFlag, flag, id);
  return [...byShard]
    .sort(([a], [b]) => a - b)
    .map(([s, agg]) => {
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
        shard.lastSeenHours,
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
      const census = new CensusStatsPlanner(agg, shard.census, add);
      const ih = [...agg.infohashes].map(([hex, a]) => {
        const bucket = buckets.get(hex)!;
        // The sources' bits are set here, not in Lua: hashing each address in the script cost more than the rest of its work.
        let sources = 0;
        for (const address of a.sources) sources = (sources | (1 << sourceBit(address))) >>> 0;
        const entry: ShardPlanEntry = { k: add(shard.records(bucket)), h: hex, f: String(a.first), l: String(a.last), n: a.seen, s: sources, p: [], w: [] };
        if (a.peers.size > 0) {
          const byHour = new Map<number, Array<[string, number]>>();
          for (const [address, at] of a.peers) {
            const compact = compactPeer(address);
            if (compact === null) continue;
            const list = byHour.get(hourOf(at)) ?? [];
            list.push([compact.toString('hex'), Math.floor(at / 1000)]);
            byHour.set(hourOf(at), list);
          }
          if (byHour.size > 0) {
            entry.p = [...byHour].map(([hour, e]) => ({ k: add(shard.peers(bucket, hour)), x: String((hour + 1) * HOUR_MS + config.peerTtlMs), e }));
            entry.w = liveHours.map((hour) => add(shard.peers(bucket, hour)));
          }
        }
        const counted = census.countNew(a.first);
        if (counted !== null) {
          entry.nk = counted.nk;
          entry.nf = counted.nf;
        }
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
  const writtenOn = opts.awaitReplica === true ? slotMasters(redis, plans.map((p) => p.shard.slot)) : null;
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
    const batchMarker = plans[0]!.shard.appliedBatch(opts.batchId);
    outcomes = (await applyShardsScript.run(redis, [batchMarker, ...plans.flatMap((p) => p.keys)], [counts, ...plans.map((p) => p.args[0])])) as Array<[number, number | string]>;
  }
  await awaitReplicas(redis, writtenOn);
  let applied = 0;
  let newInfohashes = 0;
  for (const outcome of outcomes) {
    const r = outcomeOf(outcome);
    if (r.applied) applied++;
    newInfohashes += r.newInfohashes;
  }
  return { shards: plans.length, touched: plans.map((p) => p.shard.shard), applied, newInfohashes };
}

function outcomeOf([status, detail]: [number, number | string]): { applied: boolean; newInfohashes: number } {
  if (status === -1) throw new SchemaMismatchError(Number(detail), SHARDED_SCHEMA_VERSION);
  return { applied: status === 1, newInfohashes: status === 1 ? Number(detail) : 0 };
}
