import { type RedisClient } from '../redis/client.js';
import { DEFAULT_INDEX_CONFIG } from './index-config.js';
import { decodeRecord, estimateSources } from './infohash-record.js';
import { PAGE_LIMIT_MAX, type InfohashRecord, type InfohashSummary, type PageOptions, type QueryOptions, type SortedSetPage, getInfohash, infohashSummaries, pageSortedSet } from './queries.js';
import { byPosition, checkLimit, finishPage, shardedItemsAfter } from './sharded-pages.js';
import { getShardedInfohash, getShardedPeers, shardedInfohashCount } from './sharded-queries.js';
import { type ShardedIndexKeys } from './sharded-keys.js';
import { bucketOf, shardOfBucket } from './shard.js';
import { readSwarmEstimates } from './swarm-estimates.js';

/**
 * Schema 5's answers in the shapes schema 4's readers give (queries.ts), so that the API, the
 * CLI and the dashboard keep their contracts; and complete while migration 005 moves schema-4
 * infohashes (migrations/schema4-mover.ts), when an infohash may be in either layout or both:
 *
 * - one infohash: the schema-5 record, merged with the schema-4 one while that still exists
 *   (first and last seen, sightings added, live peers joined, the larger sources count);
 * - `recent` and `popular`: schema 5's shards and schema 4's list paged together, each infohash
 *   once: a schema-4 entry is left out when the infohash has a schema-5 record (which is then
 *   the one listed, possibly lower than the merged record would rank until it is moved);
 * - the count: the shards' counts plus what is left in schema 4's registry, which counts an
 *   infohash seen again during the move twice until it is moved.
 *
 * Whether a move is under way is one EXISTS of schema 4's registry, which the mover empties.
 */

async function moving(redis: RedisClient, keys: ShardedIndexKeys): Promise<boolean> {
  return (await redis.exists(keys.legacy.infohashes)) === 1;
}

export async function getIndexedInfohash(
  redis: RedisClient,
  keys: ShardedIndexKeys,
  infohash: string,
  opts: QueryOptions & { peersLimit?: number } = {},
): Promise<InfohashRecord | null> {
  const hex = infohash.toLowerCase();
  const now = opts.now ?? Date.now();
  const peerTtlMs = opts.peerTtlMs ?? DEFAULT_INDEX_CONFIG.peerTtlMs;
  const [record, peers, old, [swarm]] = await Promise.all([
    getShardedInfohash(redis, keys, hex),
    getShardedPeers(redis, keys, hex, { now, peerTtlMs }),
    moving(redis, keys).then((m) => (m ? getInfohash(redis, keys.legacy, hex, { now, peerTtlMs, peersLimit: DEFAULT_INDEX_CONFIG.peersCap }) : null)),
    readSwarmEstimates(redis, keys, [hex]),
  ]);
  if (record === null && old === null) return null;
  const newest = new Map<string, number>();
  for (const p of peers) newest.set(p.address, p.at);
  // Schema 5 keeps peers' times to the second; schema 4's are cut to match, so an answer does not change when the infohash moves.
  for (const p of old?.peers ?? []) {
    const at = Math.floor(p.lastSeen / 1000) * 1000;
    if ((newest.get(p.address) ?? -1) < at) newest.set(p.address, at);
  }
  const all = [...newest].map(([address, lastSeen]) => ({ address, lastSeen })).sort((a, b) => b.lastSeen - a.lastSeen || (a.address < b.address ? 1 : -1));
  return {
    infohash: hex,
    firstSeen: Math.min(record?.firstSeen ?? Infinity, old?.firstSeen ?? Infinity),
    lastSeen: Math.max(record?.lastSeen ?? 0, old?.lastSeen ?? 0),
    seen: (record?.seen ?? 0) + (old?.seen ?? 0),
    sources: Math.max(record?.sources ?? 0, old?.sources ?? 0),
    peerCount: Math.min(all.length, DEFAULT_INDEX_CONFIG.peersCap),
    peers: all.slice(0, opts.peersLimit ?? 50),
    swarm: swarm ?? null,
  };
}

/**
 * What list pages show per item, in the order asked. During a move an infohash may have a
 * record in both layouts: they are merged as in getIndexedInfohash, with the larger of the two
 * peer counts (the peers themselves are not read for a list).
 */
export async function indexedSummaries(redis: RedisClient, keys: ShardedIndexKeys, infohashes: readonly string[]): Promise<InfohashSummary[]> {
  const [raws, old, swarms] = await Promise.all([
    Promise.all(infohashes.map((hex) => redis.hgetBuffer(recordKeyOf(keys, hex), Buffer.from(hex, 'hex')))),
    moving(redis, keys).then(async (m) => new Map(m ? (await infohashSummaries(redis, keys.legacy, infohashes)).map((x) => [x.infohash, x]) : [])),
    readSwarmEstimates(redis, keys, infohashes),
  ]);
  return infohashes.map((infohash, i) => {
    const raw = raws[i];
    const r = raw === null || raw === undefined ? null : decodeRecord(raw);
    // infohashSummaries reads a missing schema-4 record as zeros.
    const o = old.get(infohash);
    const before = o !== undefined && o.lastSeen > 0 ? o : null;
    if (r === null) return before ?? { infohash, firstSeen: 0, lastSeen: 0, seen: 0, sources: 0, peerCount: 0, swarm: null };
    return {
      infohash,
      firstSeen: Math.min(r.firstSeen, before?.firstSeen ?? Infinity),
      lastSeen: Math.max(r.lastSeen, before?.lastSeen ?? 0),
      seen: r.sightings + (before?.seen ?? 0),
      sources: Math.max(estimateSources(r.sources), before?.sources ?? 0),
      peerCount: Math.max(r.peers, before?.peerCount ?? 0),
      swarm: swarms[i] ?? null,
    };
  });
}

/** Records in the index (see the module comment for the count during a move). */
export async function indexedInfohashCount(redis: RedisClient, keys: ShardedIndexKeys): Promise<number> {
  const [shards, old] = await Promise.all([shardedInfohashCount(redis, keys), redis.zcard(keys.legacy.infohashes)]);
  return shards + old;
}

/**
 * A page of a list over schema 5's shards and, during a move, schema 4's list: schema 4's
 * entries of infohashes that have a schema-5 record are skipped, reading on until enough are
 * left or the list ends. The first `limit + 1` of the union are among the first `limit + 1` of
 * each side.
 */
async function pageBoth(redis: RedisClient, keys: ShardedIndexKeys, parts: readonly string[], legacyKey: string, opts: PageOptions): Promise<SortedSetPage> {
  checkLimit(opts.limit);
  const want = opts.limit + 1;
  const fromShards = await shardedItemsAfter(redis, parts, opts, want);
  if (!(await moving(redis, keys))) return finishPage(fromShards, opts.limit);
  const fromLegacy: SortedSetPage['items'] = [];
  let after = opts.after ?? null;
  while (fromLegacy.length < want) {
    const page = await pageSortedSet(redis, legacyKey, { limit: Math.min(want, PAGE_LIMIT_MAX), after, scoreAbove: opts.scoreAbove });
    const moved = await Promise.all(page.items.map((x) => redis.hexists(recordKeyOf(keys, x.member), Buffer.from(x.member, 'hex'))));
    fromLegacy.push(...page.items.filter((_, i) => moved[i] === 0));
    if (page.next === null) break;
    after = page.next;
  }
  return finishPage([...fromShards, ...fromLegacy].sort(byPosition), opts.limit);
}

function recordKeyOf(keys: ShardedIndexKeys, hex: string): string {
  const { shard, bucket } = keys.locate(hex);
  return shard.records(bucket);
}

export function pageIndexedRecent(redis: RedisClient, keys: ShardedIndexKeys, opts: PageOptions): Promise<SortedSetPage> {
  return pageBoth(redis, keys, keys.shards.map((s) => s.recent), keys.legacy.recent, opts);
}

export function pageIndexedPopular(redis: RedisClient, keys: ShardedIndexKeys, opts: PageOptions): Promise<SortedSetPage> {
  return pageBoth(redis, keys, keys.shards.map((s) => s.popular), keys.legacy.popular, opts);
}

/**
 * The infohashes that start with a hex prefix (at least 4 digits), most recently seen first,
 * at most `limit`, and whether there were more. Complete over the whole index, unlike schema 4's
 * scan of `recent`: a record's bucket is its first 17 bits (shard.ts), so 4 digits name 2
 * buckets and 5 or more name one, read whole (about 76 records each at 10 million).
 */
export async function searchInfohashPrefix(redis: RedisClient, keys: ShardedIndexKeys, prefix: string, limit: number): Promise<{ scanned: number; more: boolean; infohashes: string[] }> {
  if (!/^[0-9a-f]{4,40}$/.test(prefix)) throw new RangeError(`a prefix is 4 to 40 lowercase hex digits, got ${JSON.stringify(prefix)}`);
  checkLimit(limit);
  const low = bucketOf(prefix.padEnd(40, '0'));
  const high = bucketOf(prefix.padEnd(40, 'f'));
  const found: Array<{ hex: string; last: number }> = [];
  let scanned = 0;
  for (let bucket = low; bucket <= high; bucket++) {
    const shard = keys.shards[shardOfBucket(bucket)]!;
    // Fields are binary: as a flat array of Buffers (an object's string keys would mangle them).
    const flat = (await redis.callBuffer('HGETALL', shard.records(bucket))) as Buffer[];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      scanned++;
      const hex = flat[i]!.toString('hex');
      if (hex.startsWith(prefix)) found.push({ hex, last: decodeRecord(flat[i + 1]!).lastSeen });
    }
  }
  found.sort((a, b) => b.last - a.last || (a.hex < b.hex ? 1 : -1));
  return { scanned, more: found.length > limit, infohashes: found.slice(0, limit).map((f) => f.hex) };
}
