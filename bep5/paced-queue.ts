import { type Clock, type TimerHandle, systemClock } from './clock.js';
import { KrpcAbortError } from './errors.js';
import { type RateBudget } from './rate-limit.js';

/**
 * Waits for a RateBudget in arrival order, with one timer for all waiters (not one polling
 * loop per waiter, which burns CPU when many queries wait at once).
 */
export class PacedQueue {
  private readonly waiters: Array<{ resolve: () => void; reject: (err: Error) => void; signal?: AbortSignal; onAbort?: () => void }> = [];
  private timer: TimerHandle | undefined;

  constructor(
    private readonly budget: RateBudget,
    private readonly clock: Clock = systemClock,
  ) {}

  get waiting(): number {
    return this.waiters.length;
  }

  /** Resolves when one unit of budget has been taken for the caller. */
  acquire(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(new KrpcAbortError(signal.reason));
    if (this.waiters.length === 0 && this.budget.take()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter: (typeof this.waiters)[number] = { resolve, reject, signal };
      if (signal) {
        waiter.onAbort = () => {
          const i = this.waiters.indexOf(waiter);
          if (i >= 0) this.waiters.splice(i, 1);
          reject(new KrpcAbortError(signal.reason));
        };
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      this.waiters.push(waiter);
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.timer !== undefined || this.waiters.length === 0) return;
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      while (this.waiters.length > 0 && this.budget.take()) {
        const w = this.waiters.shift()!;
        if (w.onAbort) w.signal?.removeEventListener('abort', w.onAbort);
        w.resolve();
      }
      this.schedule();
    }, Math.max(1, Math.min(1000, this.budget.waitMs())));
    this.timer.unref?.();
  }
}
