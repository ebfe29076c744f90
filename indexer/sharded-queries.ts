import { type RedisClient } from '../redis/client.js';
import { DEFAULT_INDEX_CONFIG } from './index-config.js';
import { type IndexKeys, type Metric, NODE_FLAGS, dayOf, dayStartMs } from './keys.js';
import { hllUnionCounts } from './hll-union.js';
import { type NodeCensus, nodeCensus, nodesPerDay, statsSeries, statsWindow, totals } from './queries.js';
import { decodeRecord, estimateSources } from './infohash-record.js';
import { type StoredPeer, unpackPeers } from './peer-pack.js';
import { hourOf } from './sharded-apply.js';
import { type ShardedIndexKeys } from './sharded-keys.js';

/**
 * Schema 5's readers of what sharded-apply.ts writes: one infohash (one HGET), its live peers
 * (one HGET per hour of the peer TTL), the count (one HGET per shard, summed), `recent` and
 * `popular` (each shard's top, merged). No key is scanned.
 */

export interface ShardedInfohash {
  infohash: string;
  firstSeen: number;
  lastSeen: number;
  seen: number;
  /** Distinct reporting nodes, by linear counting (infohash-record.ts). */
  sources: number;
  peers: number;
}

export async function getShardedInfohash(redis: RedisClient, keys: ShardedIndexKeys, infohash: string): Promise<ShardedInfohash | null> {
  const hex = infohash.toLowerCase();
  const { shard, bucket } = keys.locate(hex);
  const raw = await redis.hgetBuffer(shard.records(bucket), Buffer.from(hex, 'hex'));
  if (raw === null) return null;
  const r = decodeRecord(raw);
  return { infohash: hex, firstSeen: r.firstSeen, lastSeen: r.lastSeen, seen: r.sightings, sources: estimateSources(r.sources), peers: r.peers };
}

/** Every record, counted exactly: the shards' counters summed. */
export async function shardedInfohashCount(redis: RedisClient, keys: ShardedIndexKeys): Promise<number> {
  const counts = await Promise.all(keys.shards.map((s) => redis.hget(s.counts, 'infohashes')));
  return counts.reduce((n, c) => n + Number(c ?? 0), 0);
}

/** Live peers of an infohash, newest first: each address once, at its newest report. */
export async function getShardedPeers(
  redis: RedisClient,
  keys: ShardedIndexKeys,
  infohash: string,
  opts: { now?: number; peerTtlMs?: number; limit?: number } = {},
): Promise<StoredPeer[]> {
  const hex = infohash.toLowerCase();
  const { shard, bucket } = keys.locate(hex);
  const now = opts.now ?? Date.now();
  const cutoff = now - (opts.peerTtlMs ?? DEFAULT_INDEX_CONFIG.peerTtlMs);
  const field = Buffer.from(hex, 'hex');
  const hours: number[] = [];
  for (let h = hourOf(cutoff); h <= hourOf(now); h++) hours.push(h);
  const lists = await Promise.all(hours.map((h) => redis.hgetBuffer(shard.peers(bucket, h), field)));
  const newest = new Map<string, number>();
  for (const list of lists) for (const p of list === null ? [] : unpackPeers(list)) if ((newest.get(p.address) ?? -1) < p.at) newest.set(p.address, p.at);
  const cutoffSeconds = Math.floor(cutoff / 1000) * 1000;
  return [...newest]
    .filter(([, at]) => at >= cutoffSeconds)
    .map(([address, at]) => ({ address, at }))
    .sort((a, b) => b.at - a.at || (a.address < b.address ? -1 : 1))
    .slice(0, opts.limit ?? DEFAULT_INDEX_CONFIG.peersCap);
}

/** Marks every shard as schema `version` (what migration 005 will do once the data is moved). */
export async function setShardedSchemaVersion(redis: RedisClient, keys: ShardedIndexKeys, version: number): Promise<void> {
  if (!Number.isInteger(version) || version < 0) throw new RangeError(`a schema version is a non-negative integer, got ${version}`);
  await Promise.all(keys.shards.map((s) => redis.set(s.schemaVersion, String(version))));
}

// ---- census, statistics, totals: schema 4's readers per shard, summed (node IDs are sharded,
// so per-shard counts of distinct nodes add up; statistics and totals add by definition)

export async function shardedNodeCensus(redis: RedisClient, keys: ShardedIndexKeys): Promise<NodeCensus> {
  const legacy = keys.legacy;
  // Before migration 005 moved an index, its census was one set of keys: nodes seen then and
  // seen again since are in both, so the counts are unions there, not sums.
  if ((await redis.exists(legacy.nodes)) === 1) return censusWithLegacy(redis, keys);
  const parts = await Promise.all(keys.shards.map((s) => nodeCensus(redis, s.census)));
  const versions = new Map<string, number>();
  for (const p of parts) for (const v of p.versions) versions.set(v.label, (versions.get(v.label) ?? 0) + v.nodes);
  const sum = (f: (c: NodeCensus) => number): number => parts.reduce((n, p) => n + f(p), 0);
  return {
    nodes: sum((c) => c.nodes),
    bep51: { yes: sum((c) => c.bep51.yes), no: sum((c) => c.bep51.no) },
    bep42: { yes: sum((c) => c.bep42.yes), no: sum((c) => c.bep42.no) },
    families: { ipv4: sum((c) => c.families.ipv4), ipv6: sum((c) => c.families.ipv6) },
    versions: [...versions].map(([label, nodes]) => ({ label, nodes })).sort((a, b) => b.nodes - a.nodes || a.label.localeCompare(b.label)),
  };
}

async function censusWithLegacy(redis: RedisClient, keys: ShardedIndexKeys): Promise<NodeCensus> {
  const all = [...keys.shards.map((s) => s.census), keys.legacy];
  const labels = [...new Set((await Promise.all(all.map((k) => redis.smembers(k.nodeVersions)))).flat())].sort();
  const unions = [all.map((k) => k.nodes), ...NODE_FLAGS.map((f) => all.map((k) => k.nodesFlag(f))), ...labels.map((l) => all.map((k) => k.nodesVersion(l)))];
  const n = await hllUnionCounts(redis, unions, `${keys.prefix}:tmp`);
  return {
    nodes: n[0]!,
    bep51: { yes: n[1]!, no: n[2]! },
    bep42: { yes: n[3]!, no: n[4]! },
    families: { ipv4: n[5]!, ipv6: n[6]! },
    versions: labels.map((label, i) => ({ label, nodes: n[1 + NODE_FLAGS.length + i]! })).sort((a, b) => b.nodes - a.nodes || a.label.localeCompare(b.label)),
  };
}

export async function shardedStatsSeries(redis: RedisClient, keys: ShardedIndexKeys, metric: Metric, from: number, to: number): Promise<Array<{ t: number; value: number }>> {
  const parts = await Promise.all(statsParts(keys).map((k) => statsSeries(redis, k, metric, from, to)));
  const byMinute = new Map<number, number>();
  for (const p of parts) for (const { t, value } of p) byMinute.set(t, (byMinute.get(t) ?? 0) + value);
  return [...byMinute].map(([t, value]) => ({ t, value })).sort((a, b) => a.t - b.t);
}

export async function shardedTotals(redis: RedisClient, keys: ShardedIndexKeys): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const part of await Promise.all(statsParts(keys).map((k) => totals(redis, k)))) {
    for (const [k, v] of Object.entries(part)) out[k] = (out[k] ?? 0) + v;
  }
  return out;
}

/** The shards' statistics and schema 4's (before migration 005): every part's. */
function statsParts(keys: ShardedIndexKeys): IndexKeys[] {
  return [...keys.shards.map((s) => s.census), keys.legacy];
}

/** statsWindow (queries.ts) summed over the shards and what schema 4 kept. */
export async function shardedStatsWindow(redis: RedisClient, keys: ShardedIndexKeys, metrics: readonly Metric[], from: number, minutes: number): Promise<Record<string, number[]>> {
  const parts = await Promise.all(statsParts(keys).map((k) => statsWindow(redis, k, metrics, from, minutes)));
  const out: Record<string, number[]> = {};
  for (const metric of metrics) {
    const sum = new Array<number>(minutes).fill(0);
    for (const p of parts) p[metric]!.forEach((v, i) => (sum[i]! += v));
    out[metric] = sum;
  }
  return out;
}

/** Distinct nodes per UTC day: the shards' counts added, or a union with schema 4's day where it has one. */
export async function shardedNodesPerDay(redis: RedisClient, keys: ShardedIndexKeys, from: number, to: number): Promise<Array<{ day: string; nodes: number }>> {
  const days: string[] = [];
  for (let d = dayStartMs(from); d <= to; d += 86_400_000) days.push(dayOf(d));
  const legacyDays = await Promise.all(days.map((d) => redis.exists(keys.legacy.nodesDay(d))));
  const unions = days.filter((_, i) => legacyDays[i] === 1).map((d) => [...keys.shards.map((s) => s.census.nodesDay(d)), keys.legacy.nodesDay(d)]);
  const unionCounts = await hllUnionCounts(redis, unions, `${keys.prefix}:tmp`);
  const sums = await Promise.all(keys.shards.map((s) => nodesPerDay(redis, s.census, from, to)));
  let u = 0;
  return days.map((day, i) => ({ day, nodes: legacyDays[i] === 1 ? unionCounts[u++]! : sums.reduce((n, part) => n + (part[i]?.nodes ?? 0), 0) }));
}
