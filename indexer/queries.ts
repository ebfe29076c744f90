import { DEFAULT_INDEX_CONFIG } from './index-config.js';
import { type CursorPosition } from './cursor.js';
import { dayOf, dayStartMs, type IndexKeys, type Metric, minuteOfDay, NODE_FLAGS } from './keys.js';
import { type RedisClient } from '../redis/client.js';
import { LuaScript } from '../redis/lua-script.js';

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
  /** Seeders and leechers from a BEP 33 scrape, with when it was taken; null until one was. */
  swarm: SwarmEstimate | null;
}

/** BEP 33 estimates of an infohash's swarm, taken by the peer-lookup worker. */
export interface SwarmEstimate {
  seeders: number;
  leechers: number;
  /** When the scrape was taken (ms since the epoch, to the minute). */
  at: number;
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
    // Schema 4 kept no scrape estimates.
    swarm: null,
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
  /** Distinct node IDs seen at an IPv4 / IPv6 address (a dual-stack node counts in both). */
  families: { ipv4: number; ipv6: number };
}

export async function nodeCensus(redis: RedisClient, keys: IndexKeys): Promise<NodeCensus> {
  const labels = await redis.smembers(keys.nodeVersions);
  const m = redis.multi();
  m.pfcount(keys.nodes);
  for (const f of NODE_FLAGS) m.pfcount(keys.nodesFlag(f));
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
    families: { ipv4: n[5]!, ipv6: n[6]! },
    versions: labels.map((label, i) => ({ label, nodes: n[1 + NODE_FLAGS.length + i]! })).sort((a, b) => b.nodes - a.nodes || a.label.localeCompare(b.label)),
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

// ---------------------------------------------------------------------------------------
// Paging (cursors: indexer/cursor.ts; the rules: SCHEMA.md "Reading: pages and cursors")

/**
 * One page of a sorted set in `ZRANGE … REV` order (score descending, then member descending,
 * byte-wise), starting strictly after the position (score, member) when one is given.
 * ARGV: 1 lowest score to include ("-inf" or "(<n>"), 2 how many, 3 the position's score
 * ("" for the first page), 4 its member. Read-only (`no-writes`): runs on replicas too.
 *
 * The members that share the position's score come in descending byte order, so the ones at
 * or above the position's member are a prefix of them; a binary search over their ranks
 * (O(log n) single-item ZRANGEs) counts that prefix, which the final ZRANGE then skips. This
 * holds whether or not the position's member is still in the set: it may have moved (seen
 * again) or left (trimmed) since the previous page.
 */
export const pageScript = LuaScript.fromFile(new URL('./lua/page.lua', import.meta.url));

/** Pages are at most this long (the API and CLI allow less; see server/api/constants.ts). */
export const PAGE_LIMIT_MAX = 10_000;

export interface SortedSetPage {
  items: Array<{ member: string; score: number }>;
  /** The last item's position when more follow, else null. */
  next: CursorPosition | null;
}

export interface PageOptions {
  limit: number;
  /** Start strictly after this position (the previous page's `next`). */
  after?: CursorPosition | null;
  /** Only members with a score above this (exclusive). */
  scoreAbove?: number;
}

/** One page of the sorted set `key`, newest/largest first; see PAGE_LUA. */
export async function pageSortedSet(redis: RedisClient, key: string, opts: PageOptions): Promise<SortedSetPage> {
  if (!Number.isSafeInteger(opts.limit) || opts.limit < 1 || opts.limit > PAGE_LIMIT_MAX) throw new RangeError(`page limit must be an integer in 1..${PAGE_LIMIT_MAX}`);
  const min = opts.scoreAbove === undefined ? '-inf' : `(${opts.scoreAbove}`;
  const after = opts.after ?? null;
  // One more than asked: whether it comes back says whether there is a next page.
  const flat = (await pageScript.run(redis, [key], [min, opts.limit + 1, after === null ? '' : String(after.score), after?.member ?? ''])) as string[];
  const items = pairs(flat).map(([member, score]) => ({ member, score }));
  if (items.length <= opts.limit) return { items, next: null };
  items.length = opts.limit;
  const last = items[items.length - 1]!;
  return { items, next: { score: last.score, member: last.member } };
}

/** One page of the infohashes by last seen, most recent first. */
export function pageRecent(redis: RedisClient, keys: IndexKeys, opts: PageOptions): Promise<SortedSetPage> {
  return pageSortedSet(redis, keys.recent, opts);
}

/** One page of the infohashes by peer count at their last update, most first. */
export function pagePopular(redis: RedisClient, keys: IndexKeys, opts: PageOptions): Promise<SortedSetPage> {
  return pageSortedSet(redis, keys.popular, opts);
}

/**
 * One page of an infohash's live peers, most recently seen first (score = last seen), or
 * null when the infohash is not in the index. Both reads leave in the same write, so they
 * cost one round trip.
 */
export async function pagePeers(
  redis: RedisClient,
  keys: IndexKeys,
  infohash: string,
  opts: Omit<PageOptions, 'scoreAbove'> & QueryOptions,
): Promise<SortedSetPage | null> {
  const hex = infohash.toLowerCase();
  const now = opts.now ?? Date.now();
  const [exists, page] = await Promise.all([
    redis.exists(keys.infohash(hex)),
    pageSortedSet(redis, keys.infohashPeers(hex), { limit: opts.limit, after: opts.after ?? null, scoreAbove: now - (opts.peerTtlMs ?? DEFAULT_INDEX_CONFIG.peerTtlMs) }),
  ]);
  return exists === 0 ? null : page;
}

/**
 * An infohash's record without its peers: what list pages show per item. Its `peerCount` is
 * the live count when the infohash was last written (what `popular` ranks by), not a count
 * as of now.
 */
export type InfohashSummary = Omit<InfohashRecord, 'peers'>;

const SUMMARY_FIELDS = ['first', 'last', 'seen', 'sources', 'peers'] as const;

/** The summaries of `infohashes` (lowercase hex), in the same order, in one round trip. */
export async function infohashSummaries(redis: RedisClient, keys: IndexKeys, infohashes: readonly string[]): Promise<InfohashSummary[]> {
  if (infohashes.length === 0) return [];
  const m = redis.multi();
  for (const hex of infohashes) m.hmget(keys.infohash(hex), ...SUMMARY_FIELDS);
  const res = await m.exec();
  if (res === null) throw new Error('transaction aborted');
  return infohashes.map((infohash, i) => {
    const [err, v] = res[i]!;
    if (err) throw err;
    // Every field is written with the record, which is permanent; 0 only guards a hand-edited key.
    const [first, last, seen, sources, peers] = (v as Array<string | null>).map((x) => Number(x ?? 0));
    return { infohash, firstSeen: first!, lastSeen: last!, seen: seen!, sources: sources!, peerCount: peers!, swarm: null };
  });
}

/**
 * Dense per-minute series: for each metric, `minutes` values for the minutes starting at
 * `from` (a minute start), 0 where nothing was counted. One HMGET per metric and UTC day, in
 * one round trip.
 */
export async function statsWindow(redis: RedisClient, keys: IndexKeys, metrics: readonly Metric[], from: number, minutes: number): Promise<Record<string, number[]>> {
  if (from % 60_000 !== 0) throw new RangeError('from must be the start of a minute');
  if (!Number.isSafeInteger(minutes) || minutes < 1 || minutes > 400 * 1440) throw new RangeError('minutes must be an integer in 1..576000');
  // The window's minutes grouped by UTC day: [day, first index in the window, fields].
  const days: Array<{ day: string; offset: number; fields: string[] }> = [];
  for (let i = 0; i < minutes; i++) {
    const t = from + i * 60_000;
    const day = dayOf(t);
    if (days.at(-1)?.day !== day) days.push({ day, offset: i, fields: [] });
    days.at(-1)!.fields.push(String(minuteOfDay(t)));
  }
  const m = redis.multi();
  for (const metric of metrics) for (const d of days) m.hmget(keys.stats(metric, d.day), ...d.fields);
  const res = await m.exec();
  if (res === null) throw new Error('transaction aborted');
  const out: Record<string, number[]> = {};
  let r = 0;
  for (const metric of metrics) {
    const values = new Array<number>(minutes).fill(0);
    for (const d of days) {
      const [err, v] = res[r++]!;
      if (err) throw err;
      (v as Array<string | null>).forEach((x, j) => {
        if (x !== null) values[d.offset + j] = Number(x);
      });
    }
    out[metric] = values;
  }
  return out;
}
