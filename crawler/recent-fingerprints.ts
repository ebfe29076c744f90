import { FingerprintSet } from './fingerprint-set.js';

/**
 * The infohashes a crawl has seen, in bounded memory: two generations of FingerprintSet. New
 * ones go into the current generation; when it holds half of `maxEntries`, it becomes the old
 * one and the generation before is dropped. One seen again while only the old generation holds
 * it is carried into the current one, so whatever is still being sampled is never forgotten,
 * and only what nobody has shown for a whole generation goes.
 *
 * Why: `run` samples the DHT for months, and every infohash a node ever shows it (or makes up:
 * a hostile BEP 51 node can hand out fresh random samples at every query) would otherwise stay
 * in memory. What forgetting costs is small: an infohash seen again after it was dropped counts
 * as new once more, so it gets one more get_peers lookup and one more discovery event, which the
 * index takes as "seen again" anyway.
 */
export class RecentFingerprints {
  private current: FingerprintSet;
  private old: FingerprintSet | null = null;
  private added = 0;
  private rotations = 0;

  /** @param maxEntries the most fingerprints held, both generations together (Infinity: never forget). */
  constructor(readonly maxEntries = Infinity) {
    if (!(maxEntries >= 2)) throw new RangeError(`maxEntries must be at least 2, got ${maxEntries}`);
    this.current = new FingerprintSet();
  }

  /** Infohashes taken as new so far (one forgotten and seen again counts twice). */
  get size(): number {
    return this.added;
  }

  /** Times a generation was dropped. */
  get forgottenGenerations(): number {
    return this.rotations;
  }

  get bytes(): number {
    return this.current.bytes + (this.old?.bytes ?? 0);
  }

  /** Fingerprints held now. */
  get held(): number {
    return this.current.size + (this.old?.size ?? 0);
  }

  has(infohash: Uint8Array | string): boolean {
    return this.current.has(infohash) || this.old?.has(infohash) === true;
  }

  /** Adds the infohash (20 bytes, or 40 hex digits); true when it was not held. */
  add(infohash: Uint8Array | string): boolean {
    if (this.current.has(infohash)) return false;
    const known = this.old?.has(infohash) === true;
    if (this.current.size >= this.maxEntries / 2) {
      this.old = this.current;
      this.current = new FingerprintSet();
      this.rotations++;
    }
    this.current.add(infohash);
    if (known) return false;
    this.added++;
    return true;
  }
}
