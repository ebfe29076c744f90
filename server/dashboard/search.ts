import { parseInfohashParam } from '../api/params.js';
import { ApiError } from '../api/errors.js';
import { type IndexKeys } from '../../indexer/keys.js';
import { type RedisClient } from '../../redis/client.js';
import { indexedSummaries, searchInfohashPrefix } from '../../indexer/indexed-reads.js';
import { type InfohashSummary } from '../../indexer/queries.js';
import { ShardedIndexKeys } from '../../indexer/sharded-keys.js';
import { SEARCH_MAX_QUERY_LENGTH, SEARCH_MIN_PREFIX } from './constants.js';
import { isHexId } from '../../bep5/node-id.js';

/**
 * The dashboard's infohash search. A full infohash (40 hex, 32 base32, or a magnet link) is
 * looked up by its record. A hex prefix is matched against the whole index: records live in
 * buckets named by their first 17 bits, so a prefix of 4 or more hex digits names one or two
 * buckets, read whole (indexer/indexed-reads.ts searchInfohashPrefix); `scanned` is how many
 * records that read.
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

export async function searchInfohashes(redis: RedisClient, keys: IndexKeys, query: InfohashSearch, limit: number): Promise<InfohashSearchResult> {
  const sharded = ShardedIndexKeys.of(keys.prefix);
  if (query.match === 'exact') {
    const [summary] = await indexedSummaries(redis, sharded, [query.infohash]);
    const items = summary !== undefined && summary.lastSeen > 0 ? [summary] : [];
    return { match: 'exact', query: query.infohash, scanned: 0, more: false, items };
  }
  const found = await searchInfohashPrefix(redis, sharded, query.prefix, limit);
  const items = await indexedSummaries(redis, sharded, found.infohashes);
  return { match: 'prefix', query: query.prefix, scanned: found.scanned, more: found.more, items };
}
