import { type Clock, type TimerHandle } from '../bep5/clock.js';
import { type Discovery } from '../crawler/discovery.js';
import { newBatchId } from '../indexer/batch-id.js';
import { type DiscoveryBatchJob } from './queues.js';

/**
 * Events into sealed batches: a batch is sealed at `batchMaxEvents` events, or `batchMaxDelayMs` after
 * its first event, or when the caller asks (flush, drain, close). Sealing fixes the batch's id
 * and its sequence number; from then on the batch is delivered as it is (workers/delivery-backlog.ts).
 */

/** A sealed batch: its job (the id fixed at sealing) and its sealing order, from 1. */
export interface SealedBatch {
  readonly job: DiscoveryBatchJob;
  readonly seq: number;
}

export interface DiscoveryBatcherOptions {
  batchMaxEvents: number;
  batchMaxDelayMs: number;
  clock: Clock;
  /** Called with every batch as it is sealed. */
  onSeal: (batch: SealedBatch) => void;
}

export class DiscoveryBatcher {
  private current: Discovery[] = [];
  private sealTimer: TimerHandle | null = null;
  private seq = 0;

  constructor(private readonly o: DiscoveryBatcherOptions) {}

  /** Events in the batch not sealed yet. */
  get openEvents(): number {
    return this.current.length;
  }

  /** Batches sealed so far, which is also the seq of the last one (0 before the first). */
  get sealed(): number {
    return this.seq;
  }

  add(event: Discovery): void {
    this.current.push(event);
    if (this.current.length >= this.o.batchMaxEvents) this.seal();
    else if (this.current.length === 1) this.sealTimer = this.o.clock.setTimeout(() => this.seal(), this.o.batchMaxDelayMs);
  }

  /** Seals the open batch, if it holds any event. */
  seal(): void {
    if (this.sealTimer !== null) this.o.clock.clearTimeout(this.sealTimer);
    this.sealTimer = null;
    if (this.current.length === 0) return;
    const events = this.current;
    this.current = [];
    // A random id, not a hash of the content: that would merge two batches that happen to
    // hold equal events, and every event must be counted. Fixed here, it names the batch for good.
    const job: DiscoveryBatchJob = { id: newBatchId(), events };
    this.o.onSeal({ job, seq: ++this.seq });
  }
}
