import { SATURATED_BACKLOG_SHARE } from './constants.js';
import { type SealedBatch } from './discovery-batcher.js';
import { type DiscoveryBatchJob } from './queues.js';
import { Spool, type SpooledBatch } from './spool.js';

/**
 * The discovery producer's sealed batches until Redis holds them. They wait in memory (up to
 * memoryBatchesMax), then in the spool (workers/spool.ts, NDJSON files under spoolDir,
 * fsync'ed per batch, capped at spoolMaxBytes; beyond that new events are dropped and
 * counted). Delivery is oldest first: memory, then the spool, read back a batch at a time as
 * memory runs short. A spool file is deleted once Redis holds every batch in it. A producer
 * that starts and finds spool files (a crash, or a close() during an outage) delivers them too.
 *
 * The backlog only holds batches; the producer adds them to the queue and tells it how each
 * add went, and RedisHealth (workers/redis-health.ts) tallies what an outage cost.
 */

/**
 * Where a batch of the backlog is:
 * - waiting: in memory, its add not started (or it failed: the batch is tried again);
 * - adding: in memory, its add pending;
 * - moved-to-spool: it left memory for the spool, maybe with its add still pending, whose
 *   outcome no longer matters;
 * - moved-but-dropped: it left memory and the spool could not take it: counted as dropped
 *   unless its pending add lands.
 */
export type PendingState = 'waiting' | 'adding' | 'moved-to-spool' | 'moved-but-dropped';

/** A sealed batch in memory. */
export interface PendingBatch {
  readonly job: DiscoveryBatchJob;
  /** Sealing order; 0 for batches read back from the spool (those are on disk already). */
  readonly seq: number;
  /** Set when it was read back from the spool: acknowledged there once Redis has it. */
  readonly spooled: SpooledBatch | null;
  state: PendingState;
}

/** Where the cost of an outage is counted (RedisHealth). */
export interface OutageLedger {
  spooled(): void;
  dropped(events: number, reason: string): void;
  undropped(events: number): void;
}

export interface DeliveryBacklogOptions {
  spoolDir: string;
  memoryBatchesMax: number;
  spoolMaxBytes: number;
  spoolFileMaxBytes: number;
  spoolWriteBacklogMax: number;
  /** Queue adds in flight at once: memory keeps this many batches ready to add. */
  maxInflight: number;
  log: (line: string) => void;
  ledger: OutageLedger;
  /** The backlog changed: wakes whoever waits on it. */
  notify(): void;
  /** Batches may be ready to add. */
  pump(): void;
}

export interface DeliveryBacklogStats {
  /** Batches Redis acknowledged (a spool replay of an earlier run's batch counts here too). */
  batchesDelivered: number;
  eventsDelivered: number;
  /** Batches this producer wrote to the spool, since it started. */
  spooledBatches: number;
  /** Bytes this producer wrote to the spool, since it started. */
  spooledBytes: number;
  /** Batches delivered from the spool. */
  replayedBatches: number;
  /** Events lost: the spool was full or failed, or write() came after close(). */
  droppedEvents: number;
  /** Sealed batches in memory now: waiting, being added, or read back from the spool. */
  memoryBatches: number;
  /** The spool's size on disk now (an earlier run's files included). */
  spoolBytes: number;
  /** Spool lines skipped on replay (cut short by a crash, or not a batch). */
  corruptSpoolLines: number;
}

export class DeliveryBacklog {
  /** The spool, once open; null when it could not be opened. */
  readonly opened: Promise<Spool | null>;
  private spool: Spool | null = null;
  private spoolError: unknown = null;
  /** Sealed batches in memory, oldest first. */
  private memory: PendingBatch[] = [];
  /** Sealed batches being appended to the spool, by seq. */
  private readonly spilling = new Map<number, Promise<void>>();
  private pulling = false;
  private acking = 0;
  private stopped = false;
  private readonly counters = {
    batchesDelivered: 0,
    eventsDelivered: 0,
    spooledBatches: 0,
    spooledBytes: 0,
    replayedBatches: 0,
    droppedEvents: 0,
  };

  constructor(private readonly o: DeliveryBacklogOptions) {
    this.opened = Spool.open(o.spoolDir, { maxBytes: o.spoolMaxBytes, fileMaxBytes: o.spoolFileMaxBytes }).then(
      (spool) => {
        this.spool = spool; // close() waits for this, so the spool is never opened after it
        if (spool.hasUnread) o.log(`discoveries: delivering ${spool.bytes} bytes spooled by an earlier run (${o.spoolDir})`);
        o.pump();
        return spool;
      },
      (err: unknown) => {
        this.spoolError = err;
        o.log(`discoveries: no spool, so an outage longer than memory holds loses discoveries: ${(err as Error).message}`);
        return null;
      },
    );
  }

  /** Resolves once the spool is open; rejects with the reason it could not be. */
  async ready(): Promise<void> {
    await this.opened;
    if (this.spoolError !== null) throw this.spoolError;
  }

  stats(): DeliveryBacklogStats {
    return { ...this.counters, memoryBatches: this.memory.length, spoolBytes: this.spool?.bytes ?? 0, corruptSpoolLines: this.spool?.corruptLines ?? 0 };
  }

  /** A batch just sealed: into memory, unless memory is full or the spool holds older batches. */
  accept({ job, seq }: SealedBatch): void {
    const spoolBusy = this.spilling.size > 0 || this.pulling || (this.spool?.hasUnread ?? false);
    if (this.memory.length < this.o.memoryBatchesMax && !spoolBusy) {
      // Behind the spool's batches otherwise: delivery stays oldest first.
      this.memory.push({ job, seq, spooled: null, state: 'waiting' });
      this.o.pump();
    } else {
      this.spill(job, seq);
    }
  }

  /** The oldest batch in memory whose add has not started, now marked as being added. */
  startNext(): PendingBatch | undefined {
    const next = this.memory.find((p) => p.state === 'waiting');
    if (next !== undefined) next.state = 'adding';
    return next;
  }

  /** The add of `p` failed: it waits for the next one (unless it left memory meanwhile). */
  addFailed(p: PendingBatch): void {
    if (p.state === 'adding') p.state = 'waiting';
  }

  /** Redis holds `p`. False when that changes nothing here. */
  delivered(p: PendingBatch): boolean {
    // A batch that went to the spool meanwhile is added again from there (a no-op for Redis)
    // and counted then; one the spool could not take is delivered after all.
    if (p.state === 'moved-to-spool') return false;
    const events = p.job.events.length;
    if (p.state === 'moved-but-dropped') {
      this.counters.droppedEvents -= events;
      this.o.ledger.undropped(events);
    }
    const i = this.memory.indexOf(p);
    if (i >= 0) this.memory.splice(i, 1);
    this.counters.batchesDelivered++;
    this.counters.eventsDelivered += events;
    if (p.spooled !== null) {
      this.counters.replayedBatches++;
      const spool = this.spool;
      if (spool !== null) {
        this.acking++;
        spool
          .ack(p.spooled)
          .catch((err: Error) => this.o.log(`discoveries: cannot delete a delivered spool file (it will be delivered again): ${err.message}`))
          .finally(() => {
            this.acking--;
            this.o.notify();
          });
      }
    }
    return true;
  }

  /** Moves every batch that is only in memory to the spool (those read back from it are on disk already). */
  spillMemory(): void {
    const keep: PendingBatch[] = [];
    for (const p of this.memory) {
      if (p.spooled !== null) keep.push(p);
      else {
        p.state = 'moved-to-spool';
        this.spill(p.job, p.seq, p);
      }
    }
    this.memory = keep;
  }

  /** Reads one batch back from the spool when memory runs short of batches to add. */
  pull(): void {
    const spool = this.spool;
    if (this.stopped || this.pulling || spool === null || !spool.hasUnread) return;
    if (this.memory.length >= this.o.memoryBatchesMax || this.memory.filter((p) => p.state === 'waiting').length >= this.o.maxInflight) return;
    this.pulling = true;
    const corruptBefore = spool.corruptLines;
    spool
      .shift()
      .then(
        (b) => {
          if (spool.corruptLines > corruptBefore) this.o.log(`discoveries: skipped ${spool.corruptLines - corruptBefore} corrupt spool line(s)`);
          if (b !== null && !this.stopped) this.memory.push({ job: b.job, seq: 0, spooled: b, state: 'waiting' });
        },
        (err: Error) => this.o.log(`discoveries: ${err.message}; retrying later`),
      )
      .finally(() => {
        this.pulling = false;
        this.o.notify();
        this.o.pump();
      });
  }

  /** Counts events lost (and logs the first loss of an outage). */
  drop(events: number, reason: string): void {
    this.counters.droppedEvents += events;
    this.o.ledger.dropped(events, reason);
  }

  /** Whether every batch sealed up to `upTo` is acknowledged by Redis or on disk. */
  persisted(upTo: number): boolean {
    for (const seq of this.spilling.keys()) if (seq <= upTo) return false;
    return !this.memory.some((p) => p.seq !== 0 && p.seq <= upTo);
  }

  /** Nothing left to deliver: memory and the spool empty, no disk work pending. */
  drained(): boolean {
    return this.memory.length === 0 && this.spilling.size === 0 && this.acking === 0 && !this.pulling && !(this.spool?.hasUnread ?? false);
  }

  hasWork(): boolean {
    return this.memory.length > 0 || (this.spool?.hasUnread ?? false);
  }

  /**
   * Whether more events would soon be dropped (see DiscoveryProducer.saturated()).
   * `openBatch`: the batcher holds events not sealed yet, one more batch headed here.
   */
  saturated(redisUp: boolean, openBatch: boolean): boolean {
    if (this.spilling.size >= this.o.spoolWriteBacklogMax * SATURATED_BACKLOG_SHARE) return true;
    if (redisUp) return false;
    if (this.spool === null) return this.memory.length >= this.o.memoryBatchesMax;
    // What is still headed for the spool, at the size of the batches spooled so far.
    const perBatch = this.counters.spooledBatches > 0 ? this.counters.spooledBytes / this.counters.spooledBatches : 0;
    const headed = this.memory.filter((p) => p.spooled === null).length + this.spilling.size + (openBatch ? 1 : 0) + 1;
    return this.spool.bytes + perBatch * headed > this.o.spoolMaxBytes;
  }

  /**
   * The producer is closing: no more reading back. With `spill` (Redis did not take
   * everything in time), what memory holds goes to the spool first. Memory is empty after.
   */
  async stop(spill: boolean): Promise<void> {
    this.stopped = true;
    if (spill) {
      this.spillMemory();
      await Promise.allSettled([...this.spilling.values()]);
      const left = this.spool?.hasUnread ? ` (${this.spool.bytes} bytes in ${this.o.spoolDir}, delivered by the next start)` : '';
      this.o.log(`discoveries: closed with undelivered batches spooled${left}`);
    }
    this.memory = [];
  }

  /** Closes the spool (after stop()); what is unacknowledged stays on disk for the next start. */
  async close(): Promise<void> {
    await this.spool?.close();
  }

  /**
   * Appends a batch to the spool (or drops it, counted, when the spool is full or failed).
   * `from`: the batch left memory for this, maybe with its add still pending (see delivered()).
   */
  private spill(job: DiscoveryBatchJob, seq: number, from: PendingBatch | null = null): void {
    const drop = (reason: string): void => {
      if (from !== null) from.state = 'moved-but-dropped';
      this.drop(job.events.length, reason);
    };
    if (this.spilling.size >= this.o.spoolWriteBacklogMax) {
      // The disk is slower than the crawl: holding more would grow memory without bound.
      drop('the spool disk is not keeping up');
      return;
    }
    const done = (async () => {
      const spool = await this.opened;
      if (spool === null || this.spool === null) {
        drop('there is no spool');
        return;
      }
      try {
        const bytes = await spool.append(job);
        if (bytes > 0) {
          this.counters.spooledBatches++;
          this.counters.spooledBytes += bytes;
          this.o.ledger.spooled();
        } else {
          drop(`the spool is full (${this.o.spoolMaxBytes} bytes)`);
        }
      } catch (err) {
        drop((err as Error).message);
      }
    })();
    this.spilling.set(seq, done);
    void done.finally(() => {
      this.spilling.delete(seq);
      this.o.notify();
      this.o.pump();
    });
  }
}
