import { parseInfohashParam } from '../api/params.js';
import { ApiError } from '../api/errors.js';
import { type IndexKeys } from '../../indexer/keys.js';
import { type RedisClient } from '../../redis/client.js';
import { LuaScript } from '../../redis/lua-script.js';
import { type InfohashSummary, infohashSummaries } from '../../indexer/queries.js';
import { SEARCH_MAX_QUERY_LENGTH, SEARCH_MIN_PREFIX, SEARCH_SCAN_CHUNK, SEARCH_SCAN_LIMIT } from './constants.js';
import { isHexId } from '../../bep5/node-id.js';

/**
 * The dashboard's infohash search. A full infohash (40 hex, 32 base32, or a magnet link) is
 * looked up in the registry, so any indexed infohash is found. A hex prefix is matched
 * against the SEARCH_SCAN_LIMIT most recently seen infohashes (`recent`): the registry is
 * scored by first-seen time, so it cannot be ranged over by prefix (ZRANGE BYLEX needs one
 * shared score), and reading all of it would cost O(index) per request.
 */

export type InfohashSearch = { match: 'prefix'; prefix: string } | { match: 'exact'; infohash: string };

export interface InfohashSearchResult {
  match: 'prefix' | 'exact';
  /** The prefix (lowercase hex) or the infohash (40 lowercase hex) that was searched for. */
  query: string;
  /** How many of the most recent infohashes a prefix search read (0 for an exact one). */
  scanned: number;
  /** Whether more infohashes matched than `limit` (only the first `limit` are returned). */
  more: boolean;
  /** Most recently seen first (prefix), or the one infohash (exact, when indexed). */
  items: InfohashSummary[];
}

const EXPECTED = `a hex prefix of ${SEARCH_MIN_PREFIX} to 39 characters, an infohash (40 hex or 32 base32 characters) or a magnet link`;

/** `q` as a search; a 400 ERR_BAD_INFOHASH ApiError for anything else. Hex wins over base32. */
export function parseInfohashSearch(value: unknown): InfohashSearch {
  if (value === undefined || value === '') throw new ApiError('ERR_BAD_INFOHASH', `q is required: ${EXPECTED}`);
  if (typeof value !== 'string') throw new ApiError('ERR_BAD_INFOHASH', 'q must be given once');
  if (value.length > SEARCH_MAX_QUERY_LENGTH) throw new ApiError('ERR_BAD_INFOHASH', `q is longer than ${SEARCH_MAX_QUERY_LENGTH} characters`);
  const text = value.trim();
  if (new RegExp(`^[0-9a-fA-F]{${SEARCH_MIN_PREFIX},39}$`).test(text)) return { match: 'prefix', prefix: text.toLowerCase() };
  if (/^magnet:/i.test(text) || isHexId(text) || /^[A-Za-z2-7]{32}$/.test(text)) return { match: 'exact', infohash: parseInfohashParam(text) };
  throw new ApiError('ERR_BAD_INFOHASH', `q must be ${EXPECTED}, got ${JSON.stringify(text.length > 60 ? `${text.slice(0, 57)}...` : text)}`);
}

/**
 * Up to ARGV[2] members of KEYS[1] starting with ARGV[1], walking it in ZRANGE … REV order
 * (most recent first) through at most ARGV[3] members, ARGV[4] per range read. Returns
 * {members read, matches}. Read-only; the whole walk is one atomic snapshot.
 */
const prefixScript = LuaScript.fromFile(new URL('./lua/prefix-search.lua', import.meta.url));

export async function searchInfohashes(redis: RedisClient, keys: IndexKeys, query: InfohashSearch, limit: number): Promise<InfohashSearchResult> {
  if (query.match === 'exact') {
    const indexed = (await redis.zscore(keys.infohashes, query.infohash)) !== null;
    const items = indexed ? await infohashSummaries(redis, keys, [query.infohash]) : [];
    return { match: 'exact', query: query.infohash, scanned: 0, more: false, items };
  }
  // One more than asked: whether it is found says whether there are more.
  const [scanned, found] = (await prefixScript.run(redis, [keys.recent], [query.prefix, limit + 1, SEARCH_SCAN_LIMIT, SEARCH_SCAN_CHUNK])) as [number, string[]];
  const more = found.length > limit;
  const items = await infohashSummaries(redis, keys, more ? found.slice(0, limit) : found);
  return { match: 'prefix', query: query.prefix, scanned, more, items };
}
