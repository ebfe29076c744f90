import { systemClock, type Clock } from './clock.js';
import { DEFAULT_RATE_LIMIT_MAX_KEYS } from './constants.js';
import { RateLimitError } from './errors.js';

/**
 * Token buckets: `burst` tokens at most, refilled continuously at `ratePerSecond`; an action
 * costing `cost` happens only if that many tokens are there, and takes them. Time comes from
 * the injected Clock; refills are computed on use, no timers.
 *
 * - TokenBucketLimiter: one bucket per key (e.g. the sender's IP) for incoming queries, with
 *   memory bounded by `maxKeys`. An unseen key starts full. When a new key arrives at the
 *   bound, the least recently used key is forgotten. Its bucket has had the longest time to
 *   refill, so usually it was full anyway and forgetting it loses nothing. An attacker
 *   rotating source addresses only recycles slots and never grows memory; refusing new keys
 *   when full would instead let that attacker lock out every new sender. The price: flushing
 *   one drained key back to a full burst takes `maxKeys` packets from other keys, a bad trade
 *   for a flood (it already gets a fresh burst per new address).
 * - RateBudget: a single bucket, for our own outgoing packet budget.
 *
 * A cost above `burst` can never be paid: take() returns false.
 */

export interface RateBudgetOptions {
  /** Tokens added per second (0: no refill). */
  ratePerSecond: number;
  /** Bucket size: the most that can be spent at once after a quiet spell. */
  burst: number;
  clock?: Clock;
}

export interface TokenBucketLimiterOptions extends RateBudgetOptions {
  /** Keys remembered at most (memory bound). Default 10,000. */
  maxKeys?: number;
}

interface Bucket {
  tokens: number;
  /** When `tokens` was last brought up to date. */
  at: number;
}

interface Params {
  readonly rate: number;
  readonly burst: number;
}

function checkParams(opts: RateBudgetOptions): Params {
  const { ratePerSecond: rate, burst } = opts;
  if (!Number.isFinite(rate) || rate < 0) {
    throw new RateLimitError('bad-option', `ratePerSecond must be a finite number >= 0, got ${String(rate)}`);
  }
  if (!Number.isFinite(burst) || burst <= 0) {
    throw new RateLimitError('bad-option', `burst must be a finite number > 0, got ${String(burst)}`);
  }
  return { rate, burst };
}

function checkCost(cost: number): void {
  if (!Number.isFinite(cost) || cost < 0) throw new RateLimitError('bad-cost', `cost must be a finite number >= 0, got ${String(cost)}`);
}

function refill(bucket: Bucket, params: Params, now: number): void {
  const elapsed = now - bucket.at;
  if (elapsed > 0) bucket.tokens = Math.min(params.burst, bucket.tokens + (elapsed * params.rate) / 1000);
  bucket.at = Math.max(bucket.at, now);
}

function takeFrom(bucket: Bucket, cost: number): boolean {
  if (bucket.tokens < cost) return false;
  bucket.tokens -= cost;
  return true;
}

export class TokenBucketLimiter {
  private readonly params: Params;
  private readonly clock: Clock;
  private readonly maxKeys: number;
  /** Least recently used first. */
  private readonly buckets = new Map<string, Bucket>();

  constructor(opts: TokenBucketLimiterOptions) {
    this.params = checkParams(opts);
    this.clock = opts.clock ?? systemClock;
    this.maxKeys = opts.maxKeys ?? DEFAULT_RATE_LIMIT_MAX_KEYS;
    if (!Number.isInteger(this.maxKeys) || this.maxKeys <= 0) {
      throw new RateLimitError('bad-option', `maxKeys must be a positive integer, got ${String(opts.maxKeys)}`);
    }
  }

  /** Takes `cost` tokens from `key`'s bucket if it has them; false (and takes nothing) if not. */
  take(key: string, cost = 1): boolean {
    checkCost(cost);
    const now = this.clock.now();
    let bucket = this.buckets.get(key);
    if (bucket === undefined) {
      if (this.buckets.size >= this.maxKeys) {
        for (const oldest of this.buckets.keys()) {
          this.buckets.delete(oldest);
          break;
        }
      }
      bucket = { tokens: this.params.burst, at: now };
    } else {
      this.buckets.delete(key);
      refill(bucket, this.params, now);
    }
    this.buckets.set(key, bucket);
    return takeFrom(bucket, cost);
  }

  /** Keys remembered now (at most maxKeys). */
  get size(): number {
    return this.buckets.size;
  }
}

export class RateBudget {
  private params: Params;
  private readonly clock: Clock;
  private readonly bucket: Bucket;

  constructor(opts: RateBudgetOptions) {
    this.params = checkParams(opts);
    this.clock = opts.clock ?? systemClock;
    this.bucket = { tokens: this.params.burst, at: this.clock.now() };
  }

  /** Takes `cost` tokens if there are that many; false (and takes nothing) if not. */
  take(cost = 1): boolean {
    checkCost(cost);
    refill(this.bucket, this.params, this.clock.now());
    return takeFrom(this.bucket, cost);
  }

  /** The rate now (tokens per second). */
  get ratePerSecond(): number {
    return this.params.rate;
  }

  /** Changes the rate from now on (what was earned until now stays); the burst stays. */
  setRate(ratePerSecond: number): void {
    refill(this.bucket, this.params, this.clock.now());
    this.params = checkParams({ ratePerSecond, burst: this.params.burst });
  }

  /** Tokens available now. */
  available(): number {
    refill(this.bucket, this.params, this.clock.now());
    return this.bucket.tokens;
  }

  /**
   * Milliseconds until `cost` tokens will be there (0 if now), for a sender scheduling its
   * next attempt; Infinity if never (cost above burst, or no refill).
   */
  waitMs(cost = 1): number {
    checkCost(cost);
    const missing = cost - this.available();
    if (missing <= 0) return 0;
    if (cost > this.params.burst || this.params.rate === 0) return Infinity;
    return Math.ceil((missing * 1000) / this.params.rate);
  }
}
