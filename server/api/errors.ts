/**
 * The errors the API answers with. Every error response has the same body,
 *
 *   { "error": { "code": "ERR_BAD_INFOHASH", "message": "..." }, "statusCode": 400 }
 *
 * and `code` is stable (clients and the CLI switch on it); `message` is for people.
 */

export const API_ERROR_STATUS = {
  /** The infohash parameter is not 40 hex / 32 base32 characters or a magnet link. */
  ERR_BAD_INFOHASH: 400,
  /** `limit` is not an integer in 1..MAX_PAGE_LIMIT. */
  ERR_BAD_LIMIT: 400,
  /** `cursor` is not a nextCursor of this list. */
  ERR_BAD_CURSOR: 400,
  /** `sort` is not recent or popular. */
  ERR_BAD_SORT: 400,
  /** `minutes` is not an integer in 1..MAX_STATS_MINUTES. */
  ERR_BAD_MINUTES: 400,
  /** `q` is missing, repeated, longer than MAX_QUERY_CHARS, or has no searchable word. */
  ERR_BAD_QUERY: 400,
  /** `offset` is not an integer in 0..SEARCH_RANK_WINDOW - 1. */
  ERR_BAD_OFFSET: 400,
  /** `from` or `to` (of /api/surveys) is not a time in ms, or `from` is after `to`. */
  ERR_BAD_TIME_RANGE: 400,
  /** Any other malformed request (bad URL encoding, and the like). */
  ERR_BAD_REQUEST: 400,
  /** The server requires an API key (auth.ts) and the request carries none, or a wrong one (WWW-Authenticate: Bearer). */
  ERR_UNAUTHORIZED: 401,
  /** Too many wrong API keys from this address lately: not even looked at until Retry-After has passed. */
  ERR_TOO_MANY_AUTH_FAILURES: 429,
  /** The infohash is not in the index. */
  ERR_INFOHASH_NOT_FOUND: 404,
  /** No route for this method and path. */
  ERR_ROUTE_NOT_FOUND: 404,
  /** Redis is down, reconnecting or too slow: try again (Retry-After). */
  ERR_REDIS_UNAVAILABLE: 503,
  /** A bug or an unexpected state; details are logged, never sent. */
  ERR_INTERNAL: 500,
} as const;

export type ApiErrorCode = keyof typeof API_ERROR_STATUS;

export interface ApiErrorBody {
  error: { code: ApiErrorCode; message: string };
  statusCode: number;
}

export class ApiError extends Error {
  override readonly name = 'ApiError';
  readonly statusCode: number;

  constructor(
    readonly code: ApiErrorCode,
    message: string,
  ) {
    super(message);
    this.statusCode = API_ERROR_STATUS[code];
  }

  toBody(): ApiErrorBody {
    return { error: { code: this.code, message: this.message }, statusCode: this.statusCode };
  }
}
