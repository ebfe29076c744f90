/**
 * Defaults of index retention (prune.ts, index-pruner.ts), with the reason for each value.
 * SCHEMA.md "Retention" explains what a prune removes.
 */

/**
 * Infohashes not seen for this many days are pruned by `dhtscope run` (its `--retain-days`).
 * A record costs about 660 bytes of Redis (bench/ingest), so a public crawl that finds a
 * million infohashes a day would need 20 GB per month kept; a swarm nobody announced or
 * sampled for a month is dead or tiny. The per-minute statistics are kept as long.
 */
export const DEFAULT_RETAIN_DAYS = 30;

/** `dhtscope run` prunes this often; the first prune runs PRUNE_FIRST_DELAY_MS after start. */
export const PRUNE_EVERY_MS = 3_600_000;

/** A minute after start: late enough not to compete with start-up, early enough to be seen working. */
export const PRUNE_FIRST_DELAY_MS = 60_000;

/**
 * Infohashes per prune script: each removes up to 5 keys and 5 index entries per infohash plus
 * its name's search postings, and Redis serves nothing else while a script runs. Measured by
 * bench/prune.ts: about 5 ms inside Redis for 200 infohashes with 2 peers each, a quarter of
 * them with metadata, less than one 2,000-event batch write (24 ms).
 */
export const PRUNE_CHUNK = 200;

/**
 * A pass stops after this many rounds in which every candidate changed under it (seen again,
 * or its metadata replaced between reading and pruning); the next pass picks them up.
 */
export const PRUNE_MAX_CONFLICT_ROUNDS = 3;
