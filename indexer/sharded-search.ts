import { Cluster } from 'ioredis';
import { displayText } from '../bep5/display-text.js';
import { type RedisClient } from '../redis/client.js';
import { LuaScript } from '../redis/lua-script.js';
import { type InfohashRecord, decodeRecord } from './infohash-record.js';
import { type MetadataContent, decodeMetadataBlob } from './metadata-blob.js';
import { SEARCH_RANK_WINDOW } from './metadata-constants.js';
import type { SearchHit, SearchResult } from './search.js';
import { shardOf } from './shard.js';
import { type ShardedIndexKeys } from './sharded-keys.js';
import { readFields } from './sharded-metadata.js';

/**
 * Schema 5's name search: schema 4's searchMetadata (search.ts) with the same result and
 * ranking, over the per-shard posting lists that storeShardedMetadata keeps.
 *
 * 1. Per shard, the AND of the tokens' posting lists (ZINTER AGGREGATE MAX, or one list read
 *    directly) and its size; of all the shards in the call, only the best SEARCH_RANK_WINDOW
 *    postings come back (lua/shard-search.lua). On a cluster one call per shard, all sent at
 *    once; on one Redis one call for every shard: 1.1-1.5x faster than 64 calls for a broad
 *    query, 2.5x for a rare one (bench/metadata-layout.ts).
 * 2. In Node, the window over all calls: the best SEARCH_RANK_WINDOW by posting score, ties by
 *    member descending, which is the order schema 4's single intersection gives, so both
 *    schemas rank the same window.
 * 3. The window's records (one multi-HGET, sharded-metadata.ts readFields), ranked as schema 4
 *    ranks: live peers at the last write, then sightings, then last seen, then infohash.
 * 4. The page's blobs (readFields again); name, size and file count decoded from them.
 *
 * `total` sums the shards' intersections. Posting lists are capped per shard
 * (shardCap(SEARCH_POSTINGS_CAP), 628), so a token in more torrents than schema 4's 10,000 can
 * keep more of them here, never fewer while no shard holds 4 times its share of the top.
 */

const searchScript = LuaScript.fromFile(new URL('./lua/shard-search.lua', import.meta.url));

interface Posting {
  member: Buffer;
  score: number;
}

/** Most peers, then most sightings, then most recent; the infohash makes the order total (search.ts byRank). */
function byRank(a: { infohash: string; r: InfohashRecord }, b: { infohash: string; r: InfohashRecord }): number {
  return b.r.peers - a.r.peers || b.r.sightings - a.r.sightings || b.r.lastSeen - a.r.lastSeen || (a.infohash < b.infohash ? -1 : a.infohash > b.infohash ? 1 : 0);
}

const NO_RECORD: InfohashRecord = { firstSeen: 0, lastSeen: 0, sightings: 0, sources: 0, peers: 0, flags: 0, lookupMinute: 0 };

function recordOf(raw: Buffer | null): InfohashRecord {
  if (raw === null) return NO_RECORD;
  try {
    return decodeRecord(raw);
  } catch {
    return NO_RECORD; // schema 4 reads a missing field as 0 too
  }
}

function contentOf(raw: Buffer | null): MetadataContent | null {
  if (raw === null) return null;
  try {
    return decodeMetadataBlob(raw);
  } catch {
    // A value only a hand edit could corrupt: shown like a blob pruned between two steps.
    return null;
  }
}

export interface ShardedSearchOptions {
  /** One script call for every shard (default on one Redis; never on a cluster, where a call is one slot). */
  oneCall?: boolean;
}

/** Each shard's intersection: [size, best postings], in the order of `keys.shards`. */
async function intersections(redis: RedisClient, keys: ShardedIndexKeys, tokens: readonly string[], oneCall: boolean): Promise<Array<[number, Posting[]]>> {
  const window = String(SEARCH_RANK_WINDOW);
  const perShard = keys.shards.map((s) => tokens.map((t) => s.postings(t)));
  type Reply = Array<[number, Buffer, Buffer]>;
  const replies: Reply = oneCall
    ? ((await searchScript.runBuffer(redis, perShard.flat(), [String(tokens.length), window])) as Reply)
    : (await Promise.all(perShard.map(async (k) => ((await searchScript.runBuffer(redis, k, [String(tokens.length), window])) as Reply)[0]!)));
  return replies.map(([count, members, scores]) => {
    const s = scores.length === 0 ? [] : scores.toString('latin1').split(',');
    return [Number(count), s.map((score, i) => ({ member: members.subarray(i * 20, i * 20 + 20), score: Number(score) }))];
  });
}

/**
 * Infohashes whose name has every one of `tokens` (non-empty, from `tokenize`), ranked, the page
 * [offset, offset + limit). Callers validate the bounds (server/api/params.ts), as for schema 4.
 */
export async function searchSharded(
  redis: RedisClient,
  keys: ShardedIndexKeys,
  tokens: readonly string[],
  page: { limit: number; offset: number },
  opts: ShardedSearchOptions = {},
): Promise<SearchResult> {
  if (tokens.length === 0) throw new RangeError('a search needs at least one token');
  const cluster = redis instanceof Cluster;
  const parts = await intersections(redis, keys, [...new Set(tokens)], !cluster && (opts.oneCall ?? true));
  const total = parts.reduce((n, [count]) => n + count, 0);
  const window = parts
    .flatMap(([, postings]) => postings)
    .sort((a, b) => b.score - a.score || Buffer.compare(b.member, a.member))
    .slice(0, SEARCH_RANK_WINDOW)
    .map((p) => p.member);
  if (window.length === 0 || page.offset >= window.length) return { total, items: [], ranked: window.length };

  const at = (member: Buffer): { shard: number; bucket: number; hex: string } => {
    const hex = member.toString('hex');
    return { shard: shardOf(member), bucket: keys.locate(hex).bucket, hex };
  };
  const located = window.map(at);
  const records = await readFields(
    redis,
    located.map((l, i) => ({ shard: l.shard, key: keys.shards[l.shard]!.records(l.bucket), field: window[i]! })),
  );
  const ranked = located
    .map((l, i) => ({ ...l, infohash: l.hex, field: window[i]!, r: recordOf(records[i]!) }))
    .sort(byRank)
    .slice(page.offset, page.offset + page.limit);

  const blobs = await readFields(
    redis,
    ranked.map((x) => ({ shard: x.shard, key: keys.shards[x.shard]!.meta(x.bucket), field: x.field })),
  );
  const items = ranked.map((x, i): SearchHit => {
    const c = contentOf(blobs[i]!);
    return {
      infohash: x.infohash,
      name: c === null ? '' : displayText(c.name),
      totalSize: c?.totalSize ?? 0,
      fileCount: c?.fileCount ?? 0,
      peers: x.r.peers,
      lastSeen: x.r.lastSeen,
    };
  });
  return { total, items, ranked: window.length };
}
