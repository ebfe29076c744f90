import { parseInfohash } from '../../bep5/infohash.js';
import { InfohashError } from '../../bep5/errors.js';
import { type Cursor, type CursorKind, decodeCursor } from '../../indexer/cursor.js';
import { InvalidCursorError } from '../../indexer/errors.js';
import { MAX_QUERY_CHARS, MAX_QUERY_TOKENS, SEARCH_DEFAULT_LIMIT, SEARCH_MAX_LIMIT, SEARCH_RANK_WINDOW } from '../../indexer/metadata-constants.js';
import { tokenize } from '../../indexer/search-tokens.js';
import { DEFAULT_PAGE_LIMIT, DEFAULT_STATS_MINUTES, MAX_PAGE_LIMIT, MAX_STATS_MINUTES } from './constants.js';
import { ApiError, type ApiErrorCode } from './errors.js';

/**
 * Parsers of request parameters, shared by the HTTP API and `dhtscope query` so both accept
 * the same input and reject it with the same message. Each takes what a query string can
 * hold (undefined, a string, or an array when a parameter is repeated) and throws a 400
 * ApiError.
 */

export const LIST_SORTS = ['recent', 'popular', 'seeders'] as const;
export type ListSort = (typeof LIST_SORTS)[number];

function quote(text: string): string {
  return JSON.stringify(text.length > 60 ? `${text.slice(0, 57)}...` : text);
}

/** The single string value of a parameter; undefined when absent. */
function single(value: unknown, name: string, code: ApiErrorCode): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string') return value;
  throw new ApiError(code, `${name} must be given once`);
}

function integerIn(value: unknown, name: string, code: ApiErrorCode, min: number, max: number, fallback: number): number {
  const text = single(value, name, code);
  if (text === undefined) return fallback;
  const n = /^\d{1,9}$/.test(text) ? Number(text) : NaN;
  if (!(n >= min && n <= max)) throw new ApiError(code, `${name} must be an integer from ${min} to ${max}, got ${quote(text)}`);
  return n;
}

/**
 * An infohash as 40 hex characters (either case), 32 base32 characters, or a magnet link
 * holding one (URL-encoded in a path); returns 40 lowercase hex characters.
 */
export function parseInfohashParam(value: unknown): string {
  const text = single(value, 'infohash', 'ERR_BAD_INFOHASH');
  if (text === undefined || text === '') throw new ApiError('ERR_BAD_INFOHASH', 'an infohash is required (40 hex characters, 32 base32 characters or a magnet link)');
  try {
    return parseInfohash(text).infoHash.toString('hex');
  } catch (err) {
    if (err instanceof InfohashError) throw new ApiError('ERR_BAD_INFOHASH', err.message);
    throw err;
  }
}

/** Items per page: an integer in 1..MAX_PAGE_LIMIT, DEFAULT_PAGE_LIMIT when absent. */
export function parseLimit(value: unknown): number {
  return integerIn(value, 'limit', 'ERR_BAD_LIMIT', 1, MAX_PAGE_LIMIT, DEFAULT_PAGE_LIMIT);
}

/** Minutes of per-minute series: an integer in 1..MAX_STATS_MINUTES, DEFAULT_STATS_MINUTES when absent. */
export function parseMinutes(value: unknown): number {
  return integerIn(value, 'minutes', 'ERR_BAD_MINUTES', 1, MAX_STATS_MINUTES, DEFAULT_STATS_MINUTES);
}

/** The position to continue after, or null for the first page (absent or empty). */
export function parseCursor(value: unknown, kind: CursorKind): Cursor | null {
  const text = single(value, 'cursor', 'ERR_BAD_CURSOR');
  if (text === undefined || text === '') return null;
  try {
    return decodeCursor(text, kind);
  } catch (err) {
    if (err instanceof InvalidCursorError) throw new ApiError('ERR_BAD_CURSOR', err.message);
    throw err;
  }
}

/** `recent` (the default) or `popular`. */
export function parseSort(value: unknown): ListSort {
  const text = single(value, 'sort', 'ERR_BAD_SORT');
  if (text === undefined) return 'recent';
  if (!(LIST_SORTS as readonly string[]).includes(text)) throw new ApiError('ERR_BAD_SORT', `sort must be one of ${LIST_SORTS.join(', ')}, got ${quote(text)}`);
  return text as ListSort;
}

export interface SearchQuery {
  /** The query as given. */
  q: string;
  /** Its distinct tokens (search-tokens.ts): a result's name has all of them. */
  tokens: string[];
}

/** `q`: 1..MAX_QUERY_CHARS characters with at least one token and at most MAX_QUERY_TOKENS. */
export function parseSearchQuery(value: unknown): SearchQuery {
  const q = single(value, 'q', 'ERR_BAD_QUERY');
  if (q === undefined || q === '') throw new ApiError('ERR_BAD_QUERY', 'q is required: the words to search torrent names for');
  if ([...q].length > MAX_QUERY_CHARS) throw new ApiError('ERR_BAD_QUERY', `q must be at most ${MAX_QUERY_CHARS} characters`);
  const tokens = tokenize(q);
  if (tokens.length === 0) {
    throw new ApiError('ERR_BAD_QUERY', `q has no searchable word (words of 2 or more letters or digits, not "the", "www" and the like), got ${quote(q)}`);
  }
  if (tokens.length > MAX_QUERY_TOKENS) throw new ApiError('ERR_BAD_QUERY', `q has ${tokens.length} words, at most ${MAX_QUERY_TOKENS} are searched together`);
  return { q, tokens };
}

/** Search results per page: an integer in 1..SEARCH_MAX_LIMIT, SEARCH_DEFAULT_LIMIT when absent. */
export function parseSearchLimit(value: unknown): number {
  return integerIn(value, 'limit', 'ERR_BAD_LIMIT', 1, SEARCH_MAX_LIMIT, SEARCH_DEFAULT_LIMIT);
}

/**
 * `from` and `to` of a time range (ms since the epoch, inclusive), each optional: integers of
 * at most 15 digits (until the year 33658), `from` not after `to`.
 */
export function parseTimeRange(from: unknown, to: unknown): { from?: number; to?: number } {
  const read = (value: unknown, name: string): number | undefined => {
    const text = single(value, name, 'ERR_BAD_TIME_RANGE');
    if (text === undefined || text === '') return undefined;
    if (!/^\d{1,15}$/.test(text)) throw new ApiError('ERR_BAD_TIME_RANGE', `${name} must be a time in ms since the epoch (an integer), got ${quote(text)}`);
    return Number(text);
  };
  const range: { from?: number; to?: number } = {};
  const f = read(from, 'from');
  const t = read(to, 'to');
  if (f !== undefined) range.from = f;
  if (t !== undefined) range.to = t;
  if (f !== undefined && t !== undefined && f > t) throw new ApiError('ERR_BAD_TIME_RANGE', `from (${f}) is after to (${t})`);
  return range;
}

/** Results to skip: an integer in 0..SEARCH_RANK_WINDOW - 1 (only the best SEARCH_RANK_WINDOW are ranked), 0 when absent. */
export function parseOffset(value: unknown): number {
  return integerIn(value, 'offset', 'ERR_BAD_OFFSET', 0, SEARCH_RANK_WINDOW - 1, 0);
}
