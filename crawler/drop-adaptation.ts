import { type Clock } from '../bep5/clock.js';
import { type RateBudget } from '../bep5/rate-limit.js';
import { CRAWL_DROP_BACKOFF, CRAWL_DROP_RECOVERY, CRAWL_DROP_RETRIES, CRAWL_MIN_RATE_SHARE, CRAWL_RATE_ADAPT_MS } from './constants.js';
import { DROP_RETRY_MASK, DROP_RETRY_SHIFT, type NodeIndex } from './node-index.js';
import { CachedCounter } from './receive-drops.js';

/**
 * What the crawler does about the kernel's receive-buffer drops (crawler/receive-drops.ts): a
 * dropped reply looks like a dead node, so a timeout that came while drops grew is tried again
 * instead of judged, and the query rate backs off at once and comes back gently.
 */
export class DropAdaptation {
  /** Kernel receive-buffer drops so far, read at most every 100 ms. */
  private readonly drops: CachedCounter;
  private dropsAtLastAdapt: number;
  private lastAdaptAt = 0;
  private lastDropAt = Number.NEGATIVE_INFINITY;
  /** Timeouts that came while the kernel dropped datagrams, tried again instead of judged. */
  timeoutsDuringDrops = 0;

  constructor(
    private readonly budget: RateBudget,
    /** The rate asked for: the most the budget goes back up to. */
    private readonly configuredRate: number,
    read: () => number | null,
    private readonly clock: Clock,
  ) {
    this.drops = new CachedCounter(read, clock);
    this.dropsAtLastAdapt = this.drops.now();
  }

  /** The drop count now: taken when a query is sent, to tell later whether its timeout came during drops. */
  count(): number {
    return this.drops.now();
  }

  /**
   * Kernel drops mean the crawl receives faster than it reads: slow down at once
   * (CRAWL_DROP_BACKOFF), and come back gently (CRAWL_DROP_RECOVERY a step) once a few
   * seconds pass without drops.
   */
  adaptRate(): void {
    const now = this.clock.now();
    if (now - this.lastAdaptAt < CRAWL_RATE_ADAPT_MS) return;
    this.lastAdaptAt = now;
    const drops = this.drops.now();
    const rate = this.budget.ratePerSecond;
    if (drops > this.dropsAtLastAdapt) {
      this.lastDropAt = now;
      this.budget.setRate(Math.max(this.configuredRate * CRAWL_MIN_RATE_SHARE, rate * CRAWL_DROP_BACKOFF));
    } else if (rate < this.configuredRate && now - this.lastDropAt > 10 * CRAWL_RATE_ADAPT_MS) {
      this.budget.setRate(Math.min(this.configuredRate, rate * CRAWL_DROP_RECOVERY));
    }
    this.dropsAtLastAdapt = drops;
  }

  /**
   * For a node whose query timed out: true, with the node's count of such tries raised, when
   * the kernel dropped datagrams since the query was sent (its reply may have been one of
   * them, so the timeout says nothing about the node) and it should be asked again. A few
   * times at most: the counter is host-wide, and another process's drops must not hold a
   * node forever.
   */
  retryAfterTimeout(nodes: NodeIndex, index: number, dropsAtSend: number): boolean {
    const dropRetries = (nodes.flags(index) & DROP_RETRY_MASK) >>> DROP_RETRY_SHIFT;
    if (dropRetries >= CRAWL_DROP_RETRIES || this.drops.now() <= dropsAtSend) return false;
    nodes.clearFlag(index, DROP_RETRY_MASK);
    nodes.setFlag(index, (dropRetries + 1) << DROP_RETRY_SHIFT);
    this.timeoutsDuringDrops++;
    return true;
  }
}
