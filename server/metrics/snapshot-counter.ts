import { Counter, type Registry } from 'prom-client';

/**
 * A Prometheus counter fed from a running total that some other object keeps (a socket's
 * datagramsIn, a worker set's jobs done), read at scrape time. Each read adds the increase
 * since the previous read, so the counter is a real prom-client Counter (it only goes up, its
 * HELP/TYPE say counter) rather than a gauge named `_total`. If the total went down, its source
 * was replaced (a node restarted from zero): the new total counts as the increase, as a
 * Prometheus counter reset would.
 *
 * Label values must come from bounded sets; the caller maps anything else to "other".
 */
export class SnapshotCounter<L extends string = string> {
  private readonly counter: Counter<L>;
  private readonly last = new Map<string, number>();

  constructor(registry: Registry, name: string, help: string, private readonly labelNames: readonly L[] = []) {
    this.counter = new Counter({ name, help, labelNames, registers: [registry] });
  }

  /** Moves the counter to the source's total `value` for these labels (a series of 0 is shown too). */
  set(value: number, labels: Partial<Record<L, string>> = {}): void {
    if (!Number.isFinite(value) || value < 0) return;
    const key = this.labelNames.map((n) => labels[n] ?? '').join('\u0000');
    const previous = this.last.get(key) ?? 0;
    this.last.set(key, value);
    this.counter.inc(labels, value >= previous ? value - previous : value);
  }
}
