import { type RedisClient } from '../redis/client.js';
import { type CursorPosition } from './cursor.js';
import { DEFAULT_INDEX_CONFIG } from './index-config.js';
import { PAGE_LIMIT_MAX, type PageOptions, type QueryOptions, type SortedSetPage, pageScript } from './queries.js';
import { getShardedInfohash, getShardedPeers } from './sharded-queries.js';
import { type ShardedIndexKeys } from './sharded-keys.js';

/**
 * Schema 5's pages over `recent`, `popular` and an infohash's peers, with schema 4's cursors
 * (cursor.ts) and order: score descending, then member descending by bytes (`ZRANGE … REV`).
 *
 * A per-shard list is a part of one ordered whole, so the page after a position is the merge of
 * each shard's page after that same position: every shard is asked for `limit + 1` items past
 * the cursor (schema 4's page script, unchanged), and the merged first `limit + 1` are exactly
 * the whole's. That is 64 small reads per page, sent at once; no shard is read past its page.
 */

/** Schema 4's order: score descending, then member descending (members are ASCII: hex or addresses). */
export function byPosition(a: { score: number; member: string }, b: { score: number; member: string }): number {
  return b.score - a.score || (a.member < b.member ? 1 : a.member > b.member ? -1 : 0);
}

function isAfter(item: { score: number; member: string }, after: CursorPosition | null): boolean {
  return after === null || byPosition(after, item) < 0;
}

/** The first `count` items of the shards' lists past the cursor, merged, in order. */
export async function shardedItemsAfter(redis: RedisClient, parts: readonly string[], opts: Omit<PageOptions, 'limit'>, count: number): Promise<Array<{ member: string; score: number }>> {
  const min = opts.scoreAbove === undefined ? '-inf' : `(${opts.scoreAbove}`;
  const after = opts.after ?? null;
  const args = [min, count, after === null ? '' : String(after.score), after?.member ?? ''];
  const flats = (await Promise.all(parts.map((key) => pageScript.run(redis, [key], args)))) as string[][];
  const items: Array<{ member: string; score: number }> = [];
  for (const flat of flats) for (let i = 0; i + 1 < flat.length; i += 2) items.push({ member: flat[i]!, score: Number(flat[i + 1]) });
  items.sort(byPosition);
  return items.slice(0, count);
}

export async function pageShardedSortedSet(redis: RedisClient, parts: readonly string[], opts: PageOptions): Promise<SortedSetPage> {
  checkLimit(opts.limit);
  return finishPage(await shardedItemsAfter(redis, parts, opts, opts.limit + 1), opts.limit);
}

export function checkLimit(limit: number): void {
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > PAGE_LIMIT_MAX) throw new RangeError(`page limit must be an integer in 1..${PAGE_LIMIT_MAX}`);
}

/** The page of `limit` from `limit + 1` ordered items (or fewer, at the end). */
export function finishPage(items: Array<{ member: string; score: number }>, limit: number): SortedSetPage {
  if (items.length <= limit) return { items, next: null };
  items.length = limit;
  const last = items[limit - 1]!;
  return { items, next: { score: last.score, member: last.member } };
}

/** One page of the infohashes by last seen, most recent first. */
export function pageShardedRecent(redis: RedisClient, keys: ShardedIndexKeys, opts: PageOptions): Promise<SortedSetPage> {
  return pageShardedSortedSet(redis, keys.shards.map((s) => s.recent), opts);
}

/** One page of the infohashes by live peers at their last write, most first. */
export function pageShardedPopular(redis: RedisClient, keys: ShardedIndexKeys, opts: PageOptions): Promise<SortedSetPage> {
  return pageShardedSortedSet(redis, keys.shards.map((s) => s.popular), opts);
}

/**
 * One page of an infohash's live peers, most recently seen first (score = last seen, ms, to the
 * second), or null when the infohash is not in the index. The peers of one infohash are at most
 * the peers cap, read whole (one HGET per hour of the TTL) and paged here.
 */
export async function pageShardedPeers(
  redis: RedisClient,
  keys: ShardedIndexKeys,
  infohash: string,
  opts: Omit<PageOptions, 'scoreAbove'> & QueryOptions,
): Promise<SortedSetPage | null> {
  checkLimit(opts.limit);
  const [record, peers] = await Promise.all([
    getShardedInfohash(redis, keys, infohash),
    getShardedPeers(redis, keys, infohash, { now: opts.now, peerTtlMs: opts.peerTtlMs ?? DEFAULT_INDEX_CONFIG.peerTtlMs, limit: DEFAULT_INDEX_CONFIG.peersCap }),
  ]);
  if (record === null) return null;
  const after = opts.after ?? null;
  const items = peers.map((p) => ({ member: p.address, score: p.at })).filter((p) => isAfter(p, after));
  items.sort(byPosition);
  return finishPage(items, opts.limit);
}

/** The most recently seen infohashes over all shards, newest first (at most each shard's cap). */
export async function shardedRecent(redis: RedisClient, keys: ShardedIndexKeys, limit = 100): Promise<Array<{ infohash: string; lastSeen: number }>> {
  return (await pageShardedRecent(redis, keys, { limit })).items.map((x) => ({ infohash: x.member, lastSeen: x.score }));
}

/** The infohashes with the most live peers at their last write, over all shards. */
export async function shardedPopular(redis: RedisClient, keys: ShardedIndexKeys, limit = 100): Promise<Array<{ infohash: string; peers: number }>> {
  return (await pageShardedPopular(redis, keys, { limit })).items.map((x) => ({ infohash: x.member, peers: x.score }));
}
