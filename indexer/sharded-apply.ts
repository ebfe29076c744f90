import { type Discovery } from '../crawler/discovery.js';
import { type RedisClient } from '../redis/client.js';
import { LuaScript } from '../redis/lua-script.js';
import { SchemaMismatchError } from './errors.js';
import { type IndexConfig, resolveConfig } from './index-config.js';
import { compactPeer } from './peer-pack.js';
import { SHARDS } from './shard.js';
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
  /** The current time in ms: which peers are live. Default Date.now(). */
  now?: number;
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

interface Aggregate {
  first: number;
  last: number;
  seen: number;
  sources: Set<string>;
  /** compact peer (hex) → newest report, ms */
  peers: Map<string, number>;
}

/** `recent` and `popular` are kept per shard; their top N over all shards needs each shard's top N (N ≤ this cap). */
export function shardCap(cap: number): number {
  return Math.ceil(cap / SHARDS) * 4;
}

/** One plan per shard the batch touches. Pure (no Redis). */
export function planShardedBatch(events: readonly Discovery[], opts: ShardedApplyOptions): ShardPlan[] {
  const config = resolveConfig(opts.config);
  const now = opts.now ?? Date.now();
  const cutoff = now - config.peerTtlMs;
  const byInfohash = new Map<string, Aggregate>();
  for (const e of events) {
    if (e.type !== 'infohash' && e.type !== 'peers') continue;
    let a = byInfohash.get(e.infohash);
    if (a === undefined) byInfohash.set(e.infohash, (a = { first: e.at, last: e.at, seen: 0, sources: new Set(), peers: new Map() }));
    if (e.at < a.first) a.first = e.at;
    if (e.at > a.last) a.last = e.at;
    if (e.type === 'infohash') {
      a.seen++;
      a.sources.add(e.node);
    } else if (e.at >= cutoff) {
      // Already expired ones would never be live: only their times above count.
      for (const address of e.peers) {
        const compact = compactPeer(address);
        if (compact === null) continue;
        const hex = compact.toString('hex');
        if ((a.peers.get(hex) ?? -1) < e.at) a.peers.set(hex, e.at);
      }
    }
  }
  const byShard = new Map<number, { shard: ShardKeys; keys: string[]; index: Map<string, number>; ih: unknown[] }>();
  const keyIndex = (p: { keys: string[]; index: Map<string, number> }, key: string): number => {
    let k = p.index.get(key);
    if (k === undefined) {
      p.keys.push(key);
      p.index.set(key, (k = p.keys.length));
    }
    return k;
  };
  const liveHours: number[] = [];
  for (let h = hourOf(cutoff); h <= hourOf(now); h++) liveHours.push(h);
  for (const [hex, a] of byInfohash) {
    const { shard, bucket } = opts.keys.locate(hex);
    let p = byShard.get(shard.shard);
    if (p === undefined) {
      const keys = [shard.applied(opts.batchId), shard.schemaVersion, shard.counts, shard.recent, shard.popular];
      byShard.set(shard.shard, (p = { shard, keys, index: new Map(), ih: [] }));
    }
    const entry: Record<string, unknown> = { k: keyIndex(p, shard.records(bucket)), h: hex, f: String(a.first), l: String(a.last), n: a.seen, s: [...a.sources], p: [], w: [] };
    if (a.peers.size > 0) {
      const byHour = new Map<number, Array<[string, number]>>();
      for (const [peer, at] of a.peers) {
        const list = byHour.get(hourOf(at)) ?? [];
        list.push([peer, Math.floor(at / 1000)]);
        byHour.set(hourOf(at), list);
      }
      entry['p'] = [...byHour].map(([hour, e]) => ({ k: keyIndex(p!, shard.peers(bucket, hour)), x: String((hour + 1) * HOUR_MS + config.peerTtlMs), e }));
      entry['w'] = liveHours.map((hour) => keyIndex(p!, shard.peers(bucket, hour)));
    }
    p.ih.push(entry);
  }
  return [...byShard.values()]
    .sort((x, y) => x.shard.shard - y.shard.shard)
    .map((p) => ({
      shard: p.shard,
      keys: p.keys,
      args: [
        JSON.stringify({
          v: String(SHARDED_SCHEMA_VERSION),
          ttl: config.appliedTtlSec,
          cutoff: Math.floor(cutoff / 1000),
          caps: { recent: shardCap(config.recentCap), popular: shardCap(config.popularCap), peers: config.peersCap },
          ih: p.ih,
        }),
      ] as [string],
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
