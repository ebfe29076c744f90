/**
 * Every default of the HTTP API and the `dhtscope query` command, with the reason for its
 * value. Nothing else in server/api/ hard-codes a number.
 */

/**
 * Where `dhtscope run` / `serve` listen unless told otherwise. Loopback: the index tells anyone
 * who can read it which torrents this host looked for, so exposing it is a decision the user
 * makes explicitly (`--api-host 0.0.0.0`), and one that makes `run` require an API key (auth.ts).
 */
export const API_DEFAULT_HOST = '127.0.0.1';
/** 8080: the usual unprivileged HTTP port; free on most machines that run no other web app. */
export const API_DEFAULT_PORT = 8080;

/** List pages hold this many items unless `limit` says otherwise: one screen of a table. */
export const DEFAULT_PAGE_LIMIT = 50;
/**
 * The largest `limit`. A page of 1,000 infohash summaries is about 150 KB of JSON and one
 * script plus one pipeline in Redis (a few ms); larger pages would block Redis longer for
 * every other client without being more useful to a person or a dashboard.
 */
export const MAX_PAGE_LIMIT = 1_000;

/** `GET /api/infohashes/:ih` shows this many of the newest peers; `/peers` pages through all. */
export const RECORD_PEERS = 20;

/** `/api/stats` series cover the last hour by default: what a dashboard shows at a glance. */
export const DEFAULT_STATS_MINUTES = 60;
/** At most one day of minutes: 1,440 values per metric (about 100 KB for all metrics). */
export const MAX_STATS_MINUTES = 1_440;

/** `/api/nodes/census` counts distinct nodes per UTC day for this many days (today included). */
export const CENSUS_DAYS = 7;

/**
 * A request whose Redis work takes longer than this is answered 503. Every query is a few
 * commands on bounded keys (ms), so 2 s only passes when Redis is down or reconnecting, and
 * a client gets a clear answer instead of waiting for ioredis's retries.
 */
export const REDIS_TIMEOUT_MS = 2_000;

/** The `live` provider of /api/stats gets as long as Redis does: it is in-process figures. */
export const LIVE_STATS_TIMEOUT_MS = REDIS_TIMEOUT_MS;

/** What a 503 tells clients to wait before retrying (Retry-After, seconds). */
export const RETRY_AFTER_SECONDS = 1;

/**
 * Longest path parameter. An infohash is 40 characters, but a URL-encoded magnet link with a
 * display name is longer; 1,000 fits real magnets and still bounds the work per request
 * (fastify's default of 100 would answer magnets with 414).
 */
export const MAX_PARAM_LENGTH = 1_000;

/**
 * After this many requests with a wrong API key from one address (an IPv4 address, an IPv6
 * /64) within AUTH_FAILURE_WINDOW_MS, that address is answered 429 for AUTH_BLOCK_MS without
 * its key being looked at. A generated key (256 random bits) cannot be guessed anyway; the
 * limit is for a weaker key a user chose, and keeps a guessing client from costing more than
 * a 429 per request. 10 leaves room for a person fumbling a pasted key.
 */
export const AUTH_MAX_FAILURES = 10;
export const AUTH_FAILURE_WINDOW_MS = 60_000;
export const AUTH_BLOCK_MS = 60_000;

/**
 * Addresses whose failures are remembered at once; past it the least recently failing one is
 * forgotten. About 100 bytes each, so at most a megabyte, whatever a client spraying source
 * addresses sends.
 */
export const AUTH_MAX_TRACKED_SOURCES = 10_000;

/**
 * The cookie that carries the API key for a browser, set when the dashboard's page (`/`) is
 * opened with `?apikey=`: the page's own requests (scripts, /api/* polls) then carry it.
 */
export const AUTH_COOKIE_NAME = 'dhtscope_apikey';
/** Where `?apikey=` becomes the cookie: the dashboard's page. */
export const AUTH_COOKIE_LOGIN_PATH = '/';
/**
 * 30 days: a dashboard kept in a browser should not ask for the key again at each restart, and
 * a key that changed makes the server clear the cookie at its next request anyway.
 */
export const AUTH_COOKIE_MAX_AGE_SECONDS = 30 * 86_400;

/**
 * The longest API key accepted. A key travels in a header, a URL and a cookie on every request;
 * 1 KiB is far beyond any useful key and far below every limit on those.
 */
export const API_KEY_MAX_LENGTH = 1_024;
