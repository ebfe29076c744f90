/**
 * How much the index keeps and for how long: the one configuration the writers (applyBatch,
 * migrations), the readers (peer liveness) and the workers (batch size) must agree on.
 */

export interface IndexConfig {
  /** `recent` keeps this many infohashes (the most recently seen). */
  recentCap: number;
  /** `popular` keeps this many infohashes (the most peers). */
  popularCap: number;
  /** Peers kept per infohash (the most recently seen). */
  peersCap: number;
  /** A peer not seen for this long is dropped; the peers key expires this long after its newest peer. */
  peerTtlMs: number;
  /** How long a batch's applied marker lives: longer than any redelivery (queue retention). */
  appliedTtlSec: number;
  /** Per-minute statistics and per-day node counts are kept this many days. */
  statsRetentionDays: number;
  /** Distinct client version labels counted; later ones are counted as "other". */
  versionsCap: number;
  /** Events per batch, at most (bounds the script's run time: Redis blocks while it runs). */
  maxBatchEvents: number;
}

export const DEFAULT_INDEX_CONFIG: Readonly<IndexConfig> = Object.freeze({
  recentCap: 10_000,
  popularCap: 10_000,
  peersCap: 200,
  peerTtlMs: 6 * 3600_000,
  appliedTtlSec: 7 * 86_400,
  statsRetentionDays: 30,
  versionsCap: 256,
  maxBatchEvents: 10_000,
});

/** The defaults overlaid with `partial`; a value that is not a positive integer is a caller's bug (RangeError). */
export function resolveConfig(partial: Partial<IndexConfig> | undefined): IndexConfig {
  const c = { ...DEFAULT_INDEX_CONFIG, ...partial };
  for (const [k, v] of Object.entries(c)) {
    if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`index config ${k} must be a positive integer, got ${String(v)}`);
  }
  return c;
}
