import { type IndexKeys } from './keys.js';
import { type RedisClient } from '../redis/client.js';
import { type PruneResult } from './prune.js';
import { ShardedIndexKeys } from './sharded-keys.js';
import { pruneIndexed } from './sharded-prune.js';
import { PRUNE_EVERY_MS, PRUNE_FIRST_DELAY_MS } from './retention-constants.js';

export interface IndexPrunerOptions {
  redis: RedisClient;
  keys: IndexKeys;
  /** Infohashes not seen for this long are pruned (undefined: no age rule). */
  retainMs?: number;
  /** At most this many infohashes are kept (undefined: no count rule). */
  maxInfohashes?: number;
  everyMs?: number;
  firstDelayMs?: number;
  now?: () => number;
  /** One line per pass that pruned something, and per failure. */
  log?: (line: string) => void;
}

export interface IndexPrunerStats {
  passes: number;
  pruned: number;
  conflicts: number;
  failures: number;
  lastPassAt: number | null;
  lastError: string | null;
}

/**
 * Runs retention passes (sharded-prune.ts) on a timer for a long-lived process such as `dhtscope run`.
 * A failed pass (Redis down, say) is logged and counted, and the next one tries again.
 */
export class IndexPruner {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private readonly stopping = new AbortController();
  private readonly counters: IndexPrunerStats = { passes: 0, pruned: 0, conflicts: 0, failures: 0, lastPassAt: null, lastError: null };

  constructor(private readonly o: IndexPrunerOptions) {}

  get enabled(): boolean {
    return this.o.retainMs !== undefined || this.o.maxInfohashes !== undefined;
  }

  start(): void {
    if (!this.enabled || this.stopped) return;
    this.schedule(this.o.firstDelayMs ?? PRUNE_FIRST_DELAY_MS);
  }

  /** One pass now (also what the timer runs). Never throws. */
  async runOnce(): Promise<PruneResult | undefined> {
    const now = (this.o.now ?? Date.now)();
    try {
      const result = await pruneIndexed(this.o.redis, {
        keys: ShardedIndexKeys.of(this.o.keys.prefix),
        seenBefore: this.o.retainMs === undefined ? undefined : now - this.o.retainMs,
        maxInfohashes: this.o.maxInfohashes,
        signal: this.stopping.signal,
      });
      this.counters.passes++;
      this.counters.pruned += result.pruned;
      this.counters.conflicts += result.conflicts;
      this.counters.lastPassAt = now;
      this.counters.lastError = null;
      if (result.pruned > 0) this.o.log?.(`retention: pruned ${result.pruned} infohashes, ${result.remaining} kept`);
      return result;
    } catch (err) {
      this.counters.failures++;
      this.counters.lastError = err instanceof Error ? err.message : String(err);
      this.o.log?.(`retention: prune failed (${this.counters.lastError}); trying again in ${Math.round((this.o.everyMs ?? PRUNE_EVERY_MS) / 60_000)} min`);
      return undefined;
    }
  }

  stats(): IndexPrunerStats {
    return { ...this.counters };
  }

  /** Stops the timer, and a pass in progress after its current chunk. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.stopping.abort();
    if (this.timer !== undefined) clearTimeout(this.timer);
    await this.running;
  }

  private schedule(ms: number): void {
    this.timer = setTimeout(() => {
      this.running = this.runOnce().then(() => {
        this.running = undefined;
        if (!this.stopped) this.schedule(this.o.everyMs ?? PRUNE_EVERY_MS);
      });
    }, ms);
    this.timer.unref();
  }
}
