/**
 * Every default of the Prometheus metrics (GET /metrics), with the reason for its value.
 * Nothing else in server/metrics/ hard-codes a number or a name.
 */

/** Where Prometheus scrapes: its conventional path. */
export const METRICS_PATH = '/metrics';

/** Every dhtscope metric starts with this (Prometheus naming: one prefix per application). */
export const METRICS_PREFIX = 'dhtscope_';

/**
 * Round-trip buckets of KRPC queries, in seconds. Loopback answers in well under 5 ms, the
 * public DHT mostly in 50-500 ms, and nothing can exceed the 2 s query timeout
 * (bep5/constants.ts DEFAULT_QUERY_TIMEOUT_MS); the 5 s bucket catches a raised timeout.
 */
export const RPC_DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5];

/**
 * Buckets of one discovery batch's write to Redis, in seconds. A batch of 500 events is one
 * Lua script of a few ms on an idle local Redis; the long tail shows a loaded or remote Redis,
 * and 10 s and more an outage that BullMQ rides out.
 */
export const BATCH_WRITE_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * Queue depths are read from Redis at scrape time; a scrape waits for them at most this long.
 * Prometheus's default scrape timeout is 10 s: a Redis outage then leaves the queue gauges out
 * (and counts a source error) instead of failing the whole scrape.
 */
export const QUEUE_DEPTHS_TIMEOUT_MS = 2_000;
