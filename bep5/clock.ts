import { KrpcAbortError } from './errors.js';

/**
 * Time, injected so that timeouts and expiry can be tested without waiting.
 * `now()` is milliseconds on a monotonic scale (not wall-clock): only differences matter.
 */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/** Opaque to callers; `unref` lets a pending timer not keep the process alive. */
export interface TimerHandle {
  unref?(): unknown;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/**
 * A clock that only moves when told to: `advance(ms)` fires due timers in time order.
 * For deterministic tests of timeouts, expiry and rotation.
 */
export class ManualClock implements Clock {
  private time = 0;
  private seq = 0;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();

  now(): number {
    return this.time;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = ++this.seq;
    this.timers.set(id, { at: this.time + Math.max(0, ms), fn });
    return { id } as TimerHandle;
  }

  clearTimeout(handle: TimerHandle): void {
    this.timers.delete((handle as { id: number }).id);
  }

  /** Moves time forward by `ms`, running every timer that falls due, earliest first. */
  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      let nextId = -1;
      let nextAt = Infinity;
      for (const [id, t] of this.timers) {
        if (t.at <= end && (t.at < nextAt || (t.at === nextAt && id < nextId))) {
          nextId = id;
          nextAt = t.at;
        }
      }
      if (nextId === -1) break;
      const timer = this.timers.get(nextId)!;
      this.timers.delete(nextId);
      this.time = nextAt;
      timer.fn();
    }
    this.time = end;
  }

  get pendingTimers(): number {
    return this.timers.size;
  }
}

/**
 * Waits `ms` on `clock` (a ManualClock in tests). With a signal it rejects with KrpcAbortError
 * when the signal fires; with `unref` the wait does not keep the process alive on its own (a
 * node's backoff must not hold a process that is otherwise done).
 */
export function sleep(ms: number, options: { clock?: Clock; signal?: AbortSignal; unref?: boolean } = {}): Promise<void> {
  const clock = options.clock ?? systemClock;
  const { signal } = options;
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new KrpcAbortError(signal.reason));
    const onAbort = (): void => {
      clock.clearTimeout(handle);
      reject(new KrpcAbortError(signal?.reason));
    };
    const handle = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    if (options.unref === true) handle.unref?.();
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
