import { DEFAULT_INDEX_CONFIG } from './apply-batch.js';
import { dayOf, dayStartMs, type IndexKeys, type Metric, type NodeFlag } from './keys.js';
import { type RedisClient } from './lua.js';

/**
 * Read side of the index. Every query reads keys whose names it computes (one infohash, one
 * index, the days of a range): none scans the keyspace (no SCAN, no KEYS).
 */

export interface PeerSeen {
  address: string;
  lastSeen: number;
}

export interface InfohashRecord {
  infohash: string;
  firstSeen: number;
  lastSeen: number;
  /** Number of `infohash` discoveries (sightings). */
  seen: number;
  /** Distinct DHT nodes that reported it (HyperLogLog estimate; exact for small counts). */
  sources: number;
  /** Live peers: seen within the peer TTL, at most the peers cap. */
  peerCount: number;
  /** Most recent first, at most `peersLimit`. */
  peers: PeerSeen[];
}

export interface QueryOptions {
  now?: number;
  peerTtlMs?: number;
}

function pairs(flat: string[]): Array<[string, number]> {
  const out: Array<[string, number]> = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push([flat[i]!, Number(flat[i + 1])]);
  return out;
}

export async function getInfohash(
  redis: RedisClient,
  keys: IndexKeys,
  infohash: string,
  opts: QueryOptions & { peersLimit?: number } = {},
): Promise<InfohashRecord | null> {
  const hex = infohash.toLowerCase();
  const now = opts.now ?? Date.now();
  const min = `(${now - (opts.peerTtlMs ?? DEFAULT_INDEX_CONFIG.peerTtlMs)}`;
  const limit = opts.peersLimit ?? 50;
  const m = redis.multi();
  m.hgetall(keys.infohash(hex));
  m.zcount(keys.infohashPeers(hex), min, '+inf');
  m.zrange(keys.infohashPeers(hex), '+inf', min, 'BYSCORE', 'REV', 'LIMIT', 0, limit, 'WITHSCORES');
  const res = await m.exec();
  if (res === null) throw new Error('transaction aborted');
  for (const [err] of res) if (err) throw err;
  const h = res[0]![1] as Record<string, string>;
  if (h['first'] === undefined) return null;
  return {
    infohash: hex,
    firstSeen: Number(h['first']),
    lastSeen: Number(h['last']),
    seen: Number(h['seen'] ?? 0),
    sources: Number(h['sources'] ?? 0),
    peerCount: Number(res[1]![1]),
    peers: pairs(res[2]![1] as string[]).map(([address, lastSeen]) => ({ address, lastSeen })),
  };
}

/** Most recently seen first. */
export async function recentInfohashes(redis: RedisClient, keys: IndexKeys, limit = 100): Promise<Array<{ infohash: string; lastSeen: number }>> {
  const flat = await redis.zrange(keys.recent, 0, String(limit - 1), 'REV', 'WITHSCORES');
  return pairs(flat).map(([infohash, lastSeen]) => ({ infohash, lastSeen }));
}

/** Most peers first (the live peer count at each infohash's last update). */
export async function popularInfohashes(redis: RedisClient, keys: IndexKeys, limit = 100): Promise<Array<{ infohash: string; peers: number }>> {
  const flat = await redis.zrange(keys.popular, 0, String(limit - 1), 'REV', 'WITHSCORES');
  return pairs(flat).map(([infohash, peers]) => ({ infohash, peers }));
}

/** Exact number of infohashes in the index. */
export async function infohashCount(redis: RedisClient, keys: IndexKeys): Promise<number> {
  return redis.zcard(keys.infohashes);
}

export interface NodeCensus {
  /** Distinct node IDs ever seen (HyperLogLog, ±0.81%). */
  nodes: number;
  /** Distinct node IDs per version label, most first. */
  versions: Array<{ label: string; nodes: number }>;
  bep51: { yes: number; no: number };
  bep42: { yes: number; no: number };
}

export async function nodeCensus(redis: RedisClient, keys: IndexKeys): Promise<NodeCensus> {
  const labels = await redis.smembers(keys.nodeVersions);
  const flags: NodeFlag[] = ['bep51:yes', 'bep51:no', 'bep42:yes', 'bep42:no'];
  const m = redis.multi();
  m.pfcount(keys.nodes);
  for (const f of flags) m.pfcount(keys.nodesFlag(f));
  for (const l of labels) m.pfcount(keys.nodesVersion(l));
  const res = await m.exec();
  if (res === null) throw new Error('transaction aborted');
  const n = res.map(([err, v]) => {
    if (err) throw err;
    return Number(v);
  });
  return {
    nodes: n[0]!,
    bep51: { yes: n[1]!, no: n[2]! },
    bep42: { yes: n[3]!, no: n[4]! },
    versions: labels.map((label, i) => ({ label, nodes: n[5 + i]! })).sort((a, b) => b.nodes - a.nodes || a.label.localeCompare(b.label)),
  };
}

/** Distinct nodes seen on each UTC day of [from, to] (days past the retention read as 0). */
export async function nodesPerDay(redis: RedisClient, keys: IndexKeys, from: number, to: number): Promise<Array<{ day: string; nodes: number }>> {
  const days: string[] = [];
  for (let d = dayStartMs(from); d <= to; d += 86_400_000) days.push(dayOf(d));
  const counts = await Promise.all(days.map((d) => redis.pfcount(keys.nodesDay(d))));
  return days.map((day, i) => ({ day, nodes: counts[i]! }));
}

/**
 * A metric per minute over [from, to] (ms), as [minute start, value] points; minutes without
 * data are left out. Reads one hash per UTC day of the range.
 */
export async function statsSeries(redis: RedisClient, keys: IndexKeys, metric: Metric, from: number, to: number): Promise<Array<{ t: number; value: number }>> {
  const starts: number[] = [];
  for (let d = dayStartMs(from); d <= to; d += 86_400_000) starts.push(d);
  if (starts.length > 400) throw new RangeError('at most 400 days per query');
  const hashes = await Promise.all(starts.map((d) => redis.hgetall(keys.stats(metric, dayOf(d)))));
  const out: Array<{ t: number; value: number }> = [];
  starts.forEach((d, i) => {
    for (const [field, v] of Object.entries(hashes[i]!)) {
      const t = d + Number(field) * 60_000;
      if (t >= from - 59_999 && t <= to) out.push({ t, value: Number(v) });
    }
  });
  return out.sort((a, b) => a.t - b.t);
}

/** All-time totals (events per type, batches, new infohashes, peers reported, …). */
export async function totals(redis: RedisClient, keys: IndexKeys): Promise<Record<string, number>> {
  const h = await redis.hgetall(keys.totals);
  return Object.fromEntries(Object.entries(h).map(([k, v]) => [k, Number(v)]));
}
