import { type Registry } from 'prom-client';
import { METRICS_PREFIX as P } from './constants.js';
import { SnapshotCounter } from './snapshot-counter.js';
import { type RetentionSnapshot } from './sources.js';

/** Index retention (the hourly prune of `dhtscope run`): what it removed, and whether it works. */
export class RetentionMetrics {
  private readonly counters: Array<[SnapshotCounter, (s: RetentionSnapshot) => number]>;

  constructor(registry: Registry) {
    const counter = (name: string, help: string, read: (s: RetentionSnapshot) => number): [SnapshotCounter, (s: RetentionSnapshot) => number] => [
      new SnapshotCounter(registry, `${P}retention_${name}`, help),
      read,
    ];
    this.counters = [
      counter('passes_total', 'Prune passes that completed.', (s) => s.passes),
      counter('failures_total', 'Prune passes that failed (Redis down, another schema); the next pass tries again.', (s) => s.failures),
      counter('infohashes_pruned_total', 'Infohashes removed from the index for not being seen within the retention (or beyond the cap).', (s) => s.pruned),
      counter('conflicts_total', 'Prune candidates left alone because a write changed them meanwhile.', (s) => s.conflicts),
    ];
  }

  update(s: RetentionSnapshot): void {
    for (const [c, read] of this.counters) c.set(read(s));
  }
}
