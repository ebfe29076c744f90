import { RETRY_MAX_MS } from './config.js';

/** Pollers waiting for the tab to be shown again. */
const waitingForVisible = new Set();
document.addEventListener('visibilitychange', () => {
  if (document.hidden) return;
  for (const poller of waitingForVisible) poller.refresh();
  waitingForVisible.clear();
});

/**
 * Runs an async task every `intervalMs`, never two at once (the next run is scheduled when
 * the previous one ends, so a slow server is not piled on). After a failure it waits twice
 * as long each time, up to RETRY_MAX_MS. While the tab is hidden it does not run at all.
 */
export class Poller {
  /** onResult(error | null) is called after every run. */
  constructor(task, intervalMs, onResult = () => {}) {
    this.task = task;
    this.intervalMs = intervalMs;
    this.onResult = onResult;
    this.running = false;
    this.busy = false;
    this.again = false;
    this.failures = 0;
    this.timer = null;
  }

  start() {
    if (this.running) return;
    this.running = true;
    this.schedule(0);
  }

  stop() {
    this.running = false;
    clearTimeout(this.timer);
    this.timer = null;
    waitingForVisible.delete(this);
  }

  /** Runs now (or right after the run in progress). */
  refresh() {
    if (!this.running) return;
    if (this.busy) {
      this.again = true;
      return;
    }
    this.schedule(0);
  }

  schedule(delay) {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.tick(), delay);
  }

  async tick() {
    this.timer = null;
    if (document.hidden) {
      waitingForVisible.add(this);
      return;
    }
    this.busy = true;
    let delay = this.intervalMs;
    try {
      await this.task();
      this.failures = 0;
      this.onResult(null);
    } catch (err) {
      this.failures++;
      delay = Math.min(RETRY_MAX_MS, this.intervalMs * 2 ** this.failures);
      this.onResult(err);
    } finally {
      this.busy = false;
    }
    if (this.running) this.schedule(this.again ? 0 : delay);
    this.again = false;
  }
}
