// Every number of the browser side, with its reason. (The server side's are in ../constants.ts.)

/** /api/stats is polled this often: live enough to see rates move, cheap for the server (a few Redis reads). */
export const STATS_POLL_MS = 2_000;
/** The census changes slowly (HyperLogLogs over every node ever seen). */
export const CENSUS_POLL_MS = 10_000;
/** The survey series gains an entry per crawl sweep (seconds on a testnet, hours on the real DHT). */
export const SURVEYS_POLL_MS = 10_000;
/** Surveys read per poll: the sparkline's points (a few hundred kB of JSON at most). */
export const SURVEYS_LIMIT = 200;
/** Rows of the recent-surveys table. */
export const SURVEYS_TABLE_ROWS = 10;
/** The infohash table refreshes this often while shown: often enough to see new ones, rarely enough to read it. */
export const TABLE_POLL_MS = 10_000;
/** An open infohash page refreshes this often (peers arrive from lookups). */
export const INFOHASH_POLL_MS = 5_000;
/** After failures the pollers wait twice as long each time, up to this. */
export const RETRY_MAX_MS = 30_000;

/**
 * Points kept per client-side series (RPC/s, the estimate band, …): one hour at STATS_POLL_MS.
 * A ring buffer: memory stays the same however long the page stays open.
 */
export const HISTORY_POINTS = 1_800;

/** Minutes of the server's per-minute series in the "per minute" chart. */
export const STATS_MINUTES = 60;

/** Rows of the recent / popular table, and of a search result. */
export const TABLE_ROWS = 50;
/** Peers fetched per "show more" on an infohash page. */
export const PEERS_PAGE = 100;
/** Client versions shown as their own bar; the rest are summed as "all others". */
export const CENSUS_TOP_VERSIONS = 12;

/** Chart height in CSS pixels. */
export const CHART_HEIGHT = 180;
