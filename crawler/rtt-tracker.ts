/**
 * Recent round-trip times, for a timeout that follows the network: long enough for the slow
 * tail (3x the 95th percentile), short enough that dead nodes free their slots quickly.
 */
export class RttTracker {
  private readonly samples: Float64Array;
  private count = 0;
  private next = 0;
  private sinceComputed = 0;
  private cached: number | undefined;

  constructor(size = 512) {
    this.samples = new Float64Array(size);
  }

  add(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) return;
    this.samples[this.next] = ms;
    this.next = (this.next + 1) % this.samples.length;
    this.count = Math.min(this.count + 1, this.samples.length);
    this.sinceComputed++;
  }

  /** The p-th percentile (0..100) of recent samples, or undefined with none. */
  percentile(p: number): number | undefined {
    if (this.count === 0) return undefined;
    const sorted = Array.from(this.samples.subarray(0, this.count)).sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
  }

  /** 3x p95 within [min, max]; `max` until 20 samples exist. Recomputed every 64 samples (sorting per query would cost more than the query). */
  timeoutMs(min: number, max: number): number {
    if (this.count < 20) return max;
    if (this.cached === undefined || this.sinceComputed >= 64) {
      this.cached = Math.min(max, Math.max(min, 3 * this.percentile(95)!));
      this.sinceComputed = 0;
    }
    return this.cached;
  }
}
