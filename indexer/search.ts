import { type IndexKeys } from './keys.js';
import { type RedisClient } from '../redis/client.js';
import { LuaScript } from '../redis/lua-script.js';
import { multiResults } from './multi-results.js';
import { SEARCH_RANK_WINDOW } from './metadata-constants.js';

/**
 * Searching torrent names: the AND of the query's tokens (search-tokens.ts) over the
 * per-token posting lists that storeMetadata keeps (SCHEMA.md "Torrent metadata").
 *
 * 1. A read-only script intersects the posting lists (ZINTER; one list is read directly) and
 *    returns the size of the intersection and its SEARCH_RANK_WINDOW best members by posting
 *    score (live peers when the metadata was stored).
 * 2. A second read-only script, given those candidates' keys, returns their ranking fields;
 *    Node sorts them by the current record: live peers at the last write (what `popular`
 *    ranks by), then sightings, then last seen, then infohash. One script costs ~1 ms inside
 *    Redis for 1,000 candidates, where 1,000 separate HMGETs cost 12-50 ms of client time and
 *    a sort inside the script 2-5 ms of Redis's only thread (2-core machine, under load).
 * 3. The page's names, sizes and file counts: one MULTI of at most SEARCH_MAX_LIMIT HMGETs.
 *
 * Matches beyond the window are counted in `total` but cannot be paged to; the window holds
 * the most-peered ones, which is what a person looks at first.
 */

export interface SearchHit {
  infohash: string;
  /** The name's display form (escaped for terminals; insert into HTML as text only). */
  name: string;
  totalSize: number;
  fileCount: number;
  /** Live peers at the infohash's last write. */
  peers: number;
  lastSeen: number;
}

export interface SearchResult {
  /** Infohashes whose name has every token (within the capped posting lists). */
  total: number;
  items: SearchHit[];
  /** Ranked matches (at most SEARCH_RANK_WINDOW): offsets up to this have results. */
  ranked: number;
}

const searchScript = LuaScript.fromFile(new URL('./lua/search.lua', import.meta.url));

/**
 * The ranking fields of the candidates, one script instead of one command per candidate.
 * KEYS: the candidates' infohash hashes. Returns {peers, seen, last, ...} in KEYS order.
 * Read-only; ~1 µs per key inside Redis. The sort itself runs in Node, not in Redis's thread.
 */
const fieldsScript = LuaScript.fromFile(new URL('./lua/search-fields.lua', import.meta.url));

interface Ranked {
  infohash: string;
  peers: number;
  seen: number;
  last: number;
}

/** Most peers, then most sightings, then most recent; the infohash (bytes) makes the order total. */
function byRank(a: Ranked, b: Ranked): number {
  return b.peers - a.peers || b.seen - a.seen || b.last - a.last || (a.infohash < b.infohash ? -1 : a.infohash > b.infohash ? 1 : 0);
}

/**
 * Infohashes whose name has every one of `tokens` (non-empty, from `tokenize`), ranked, the
 * page [offset, offset + limit). Three round trips: the intersection, the candidates' ranking
 * fields, the page's names. Callers validate the bounds (server/api/params.ts).
 */
export async function searchMetadata(redis: RedisClient, keys: IndexKeys, tokens: readonly string[], page: { limit: number; offset: number }): Promise<SearchResult> {
  if (tokens.length === 0) throw new RangeError('a search needs at least one token');
  const postingKeys = [...new Set(tokens)].map((t) => keys.searchToken(t));
  const [total, flat] = (await searchScript.run(redis, postingKeys, [String(SEARCH_RANK_WINDOW)])) as [number, string[]];
  const candidates: string[] = [];
  for (let i = 0; i < flat.length; i += 2) candidates.push(flat[i]!);
  if (candidates.length === 0 || page.offset >= candidates.length) return { total, items: [], ranked: candidates.length };

  const fields = (await fieldsScript.run(redis, candidates.map((hex) => keys.infohash(hex)), [])) as string[];
  const ranked = candidates
    .map((infohash, i): Ranked => ({ infohash, peers: Number(fields[3 * i]), seen: Number(fields[3 * i + 1]), last: Number(fields[3 * i + 2]) }))
    .sort(byRank)
    .slice(page.offset, page.offset + page.limit);

  const names = redis.multi();
  for (const r of ranked) names.hmget(keys.infohashMetadata(r.infohash), 'nameDisplay', 'totalSize', 'fileCount');
  const meta = multiResults(await names.exec()) as Array<Array<string | null>>;
  const items = ranked.map((r, i): SearchHit => {
    const [name, totalSize, fileCount] = meta[i]!;
    return { infohash: r.infohash, name: name ?? '', totalSize: Number(totalSize ?? 0), fileCount: Number(fileCount ?? 0), peers: r.peers, lastSeen: r.last };
  });
  return { total, items, ranked: candidates.length };
}
