import { parseInfohash } from '../../cli/infohash.js';
import { UsageError } from '../../cli/usage-error.js';
import { type Cursor, type CursorKind, decodeCursor, InvalidCursorError } from '../cursor.js';
import { DEFAULT_PAGE_LIMIT, DEFAULT_STATS_MINUTES, MAX_PAGE_LIMIT, MAX_STATS_MINUTES } from './constants.js';
import { ApiError, type ApiErrorCode } from './errors.js';

/**
 * Parsers of request parameters, shared by the HTTP API and `dhtscope query` so both accept
 * the same input and reject it with the same message. Each takes what a query string can
 * hold (undefined, a string, or an array when a parameter is repeated) and throws a 400
 * ApiError.
 */

export const LIST_SORTS = ['recent', 'popular'] as const;
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
    if (err instanceof UsageError) throw new ApiError('ERR_BAD_INFOHASH', err.message);
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
