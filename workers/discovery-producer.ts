import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { Queue } from 'bullmq';
import { type RedisOptions } from 'ioredis';
import { type Clock, type TimerHandle, systemClock } from '../bep5/clock.js';
import { type Discovery, type DiscoverySink } from '../crawler/discovery.js';
import { type IndexKeys } from '../indexer/keys.js';
import { type RedisClient } from '../redis/client.js';
import {
  BATCH_MAX_DELAY_MS,
  BATCH_MAX_EVENTS,
  CLOSE_DRAIN_TIMEOUT_MS,
  DELIVERY_MAX_INFLIGHT,
  DELIVERY_TIMEOUT_MS,
  JOB_ATTEMPTS,
  JOB_BACKOFF_MS,
  KEEP_COMPLETED_JOBS,
  KEEP_FAILED_JOBS,
  MEMORY_BATCHES_MAX,
  SATURATED_BACKLOG_SHARE,
  REDELIVERY_INTERVAL_MS,
  SPOOL_FILE_MAX_BYTES,
  SPOOL_MAX_BYTES,
  SPOOL_WRITE_BACKLOG_MAX,
} from './constants.js';
import { type DiscoveryBatchJob, queueNames } from './queues.js';
import { Spool, type SpooledBatch } from './spool.js';
import { closeRedisClient } from '../redis/client.js';

/**
 * The crawler's side of the discovery queue: a DiscoverySink that batches events (up to
 * batchMaxEvents, or batchMaxDelayMs after a batch's first event) and adds each batch as one
 * BullMQ job, whose id is the batch id fixed at sealing. applyBatch is idempotent per batch id,
 * so delivering a batch twice is harmless; losing one is not, and everything here is about that.
 *
 * Redis is "down" when an add fails, or takes over deliveryTimeoutMs, or the client is not
 * ready for that long. The crawl does not notice: write() only appends to an array. Sealed
 * batches wait in memory (up to memoryBatchesMax), then in the spool (workers/spool.ts, NDJSON
 * files under spoolDir, fsync'ed per batch, capped at spoolMaxBytes; beyond that new events are
 * dropped and counted). Every redeliveryIntervalMs one add probes Redis; the first success ends
 * the outage and the backlog goes out oldest first: memory, then the spool. A spool file is
 * deleted once Redis holds every batch in it. A producer that starts and finds spool files (a
 * crash, or a close() during an outage) delivers them too.
 *
 * The Redis client is made with `enableOfflineQueue: false`: while disconnected, an add fails
 * at once instead of queueing in ioredis, and at most maxInflight adds are ever pending, so an
 * outage cannot grow the client's queues. An add already sent when the connection drops is
 * resent by ioredis on reconnect (maxRetriesPerRequest: null); until it settles its slot stays
 * taken, which is what bounds them. (On Redis Cluster the option reaches the node clients only;
 * the cluster's own offline queue is bounded by the same slots.)
 */

export interface DiscoveryProducerOptions {
  /** Where Redis is: a RedisConnection (redis/connection.ts) or anything that makes clients. */
  connection: { newClient(overrides?: RedisOptions): RedisClient };
  keys: IndexKeys;
  /** Created if missing; the CLI passes `<dataDir>/spool/<prefix>`. One producer per directory. */
  spoolDir: string;
  batchMaxEvents?: number;
  batchMaxDelayMs?: number;
  memoryBatchesMax?: number;
  spoolMaxBytes?: number;
  spoolFileMaxBytes?: number;
  /** Batches waiting for the spool's disk at most (default SPOOL_WRITE_BACKLOG_MAX). */
  spoolWriteBacklogMax?: number;
  deliveryTimeoutMs?: number;
  redeliveryIntervalMs?: number;
  /** Queue adds in flight at once (default DELIVERY_MAX_INFLIGHT). */
  maxInflight?: number;
  /** How long close() waits for Redis before spooling what is left (default CLOSE_DRAIN_TIMEOUT_MS). */
  closeTimeoutMs?: number;
  clock?: Clock;
  log?: (line: string) => void;
}

export interface DiscoveryProducerStats {
  /** Events passed to write(). */
  eventsWritten: number;
  batchesSealed: number;
  /** Batches Redis acknowledged (a spool replay of an earlier run's batch counts here too). */
  batchesDelivered: number;
  eventsDelivered: number;
  /** Sealed batches in memory now: waiting, being added, or read back from the spool. */
  memoryBatches: number;
  /** Batches this producer wrote to the spool, since it started. */
  spooledBatches: number;
  /** Bytes this producer wrote to the spool, since it started. */
  spooledBytes: number;
  /** The spool's size on disk now (an earlier run's files included). */
  spoolBytes: number;
  /** Batches delivered from the spool. */
  replayedBatches: number;
  /** Events lost: the spool was full or failed, or write() came after close(). */
  droppedEvents: number;
  /** Spool lines skipped on replay (cut short by a crash, or not a batch). */
  corruptSpoolLines: number;
  redisUp: boolean;
  outages: number;
}

export interface DiscoveryProducerEvents {
  outage: [{ reason: string }];
  recovered: [{ downMs: number; spooledBatches: number; droppedEvents: number }];
}

/** A sealed batch in memory. */
interface Pending {
  readonly job: DiscoveryBatchJob;
  /** Sealing order; 0 for batches read back from the spool (those are on disk already). */
  readonly seq: number;
  /** Set when it was read back from the spool: acknowledged there once Redis has it. */
  readonly spooled: SpooledBatch | null;
  adding: boolean;
  /** Moved to the spool while its add was pending: that add's outcome no longer matters. */
  gone: boolean;
  /** Gone, and the spool could not take it: counted as dropped unless its pending add lands. */
  dropped: boolean;
}

export class DiscoveryProducer extends EventEmitter<DiscoveryProducerEvents> implements DiscoverySink {
  private readonly o: Required<Omit<DiscoveryProducerOptions, 'connection' | 'keys' | 'spoolDir' | 'clock' | 'log'>>;
  private readonly clock: Clock;
  private readonly log: (line: string) => void;
  private readonly client: RedisClient;
  private queue: Queue<DiscoveryBatchJob>;
  /** The queue's connection set-up failed (Redis vanished between ready and its first command): make a new one. */
  private queueBroken = false;
  private spool: Spool | null = null;
  private readonly spoolOpening: Promise<Spool | null>;
  private spoolError: unknown = null;

  private current: Discovery[] = [];
  private sealTimer: TimerHandle | null = null;
  private seq = 0;
  /** Sealed batches in memory, oldest first. */
  private memory: Pending[] = [];
  /** Sealed batches being appended to the spool, by seq. */
  private readonly spilling = new Map<number, Promise<void>>();
  /** Adds whose promise has not settled (including ones past the timeout). */
  private outstanding = 0;
  private pulling = false;
  private acking = 0;

  private up = true;
  private downSince = 0;
  private retryTimer: TimerHandle | null = null;
  private readyTimer: TimerHandle | null = null;
  /** Since the last recovery: the drop notice is logged once, the counts go into 'recovered'. */
  private droppedNoticed = false;
  private outageSpooled = 0;
  private outageDropped = 0;
  private lastQueueError = '';

  private closing = false;
  private closed = false;
  private closePromise: Promise<void> | null = null;
  private waiters: Array<() => void> = [];

  private readonly counters = {
    eventsWritten: 0,
    batchesSealed: 0,
    batchesDelivered: 0,
    eventsDelivered: 0,
    spooledBatches: 0,
    spooledBytes: 0,
    replayedBatches: 0,
    droppedEvents: 0,
    outages: 0,
  };

  constructor(private readonly options: DiscoveryProducerOptions) {
    super();
    this.o = {
      batchMaxEvents: options.batchMaxEvents ?? BATCH_MAX_EVENTS,
      batchMaxDelayMs: options.batchMaxDelayMs ?? BATCH_MAX_DELAY_MS,
      memoryBatchesMax: options.memoryBatchesMax ?? MEMORY_BATCHES_MAX,
      spoolMaxBytes: options.spoolMaxBytes ?? SPOOL_MAX_BYTES,
      spoolFileMaxBytes: options.spoolFileMaxBytes ?? SPOOL_FILE_MAX_BYTES,
      spoolWriteBacklogMax: options.spoolWriteBacklogMax ?? SPOOL_WRITE_BACKLOG_MAX,
      deliveryTimeoutMs: options.deliveryTimeoutMs ?? DELIVERY_TIMEOUT_MS,
      redeliveryIntervalMs: options.redeliveryIntervalMs ?? REDELIVERY_INTERVAL_MS,
      maxInflight: options.maxInflight ?? DELIVERY_MAX_INFLIGHT,
      closeTimeoutMs: options.closeTimeoutMs ?? CLOSE_DRAIN_TIMEOUT_MS,
    };
    this.clock = options.clock ?? systemClock;
    this.log = options.log ?? (() => {});

    // BullMQ requires maxRetriesPerRequest: null; the offline queue is off (see the module comment).
    this.client = options.connection.newClient({ maxRetriesPerRequest: null, enableOfflineQueue: false });
    this.client.on('error', () => {}); // reconnect errors: the outage log says it once
    this.client.on('ready', () => this.onClientReady());
    this.queue = this.makeQueue();

    this.spoolOpening = Spool.open(options.spoolDir, { maxBytes: this.o.spoolMaxBytes, fileMaxBytes: this.o.spoolFileMaxBytes }).then(
      (spool) => {
        this.spool = spool; // close() waits for this, so the spool is never opened after it
        if (spool.hasUnread) this.log(`discoveries: delivering ${spool.bytes} bytes spooled by an earlier run (${options.spoolDir})`);
        this.pump();
        return spool;
      },
      (err: unknown) => {
        this.spoolError = err;
        this.log(`discoveries: no spool, so an outage longer than memory holds loses discoveries: ${(err as Error).message}`);
        return null;
      },
    );
  }

  /** Constructs a producer and waits for its spool; rejects (SpoolBusyError, a file system error) when the spool cannot be opened. */
  static async open(options: DiscoveryProducerOptions): Promise<DiscoveryProducer> {
    const producer = new DiscoveryProducer(options);
    try {
      await producer.ready();
    } catch (err) {
      await producer.close();
      throw err;
    }
    return producer;
  }

  /** Resolves once the spool is open; rejects with the reason it could not be. */
  async ready(): Promise<void> {
    await this.spoolOpening;
    if (this.spoolError !== null) throw this.spoolError;
  }

  // ---- DiscoverySink ----

  write(event: Discovery): void {
    this.counters.eventsWritten++;
    if (this.closing) {
      this.drop(1, 'write() after close()');
      return;
    }
    this.current.push(event);
    if (this.current.length >= this.o.batchMaxEvents) this.seal();
    else if (this.current.length === 1) this.sealTimer = this.unref(this.clock.setTimeout(() => this.seal(), this.o.batchMaxDelayMs));
  }

  /**
   * Backpressure: true while more events would soon be dropped, because the spool's disk is
   * behind, or Redis is down and the spool (or, without a spool, memory) is about full. The
   * crawler holds new queries while it is true, so a long outage pauses the crawl instead of
   * losing what it finds; it turns false as soon as Redis is back or the disk catches up.
   */
  saturated(): boolean {
    if (this.closing) return false;
    if (this.spilling.size >= this.o.spoolWriteBacklogMax * SATURATED_BACKLOG_SHARE) return true;
    if (this.up) return false;
    if (this.spool === null) return this.memory.length >= this.o.memoryBatchesMax;
    // What is still headed for the spool, at the size of the batches spooled so far.
    const perBatch = this.counters.spooledBatches > 0 ? this.counters.spooledBytes / this.counters.spooledBatches : 0;
    const headed = this.memory.filter((p) => p.spooled === null).length + this.spilling.size + (this.current.length > 0 ? 1 : 0) + 1;
    return this.spool.bytes + perBatch * headed > this.o.spoolMaxBytes;
  }

  /** Seals the current batch; resolves when every batch sealed so far is acknowledged by Redis or on disk. */
  async flush(): Promise<void> {
    this.seal();
    const upTo = this.seq;
    await this.waitFor(() => {
      // While Redis is down, "on disk" is the only way to be done.
      if (!this.up) this.spillMemory();
      return this.persisted(upTo);
    });
  }

  /**
   * Resolves when everything is delivered (memory and the spool empty), or on close(). Needs
   * Redis: the caller bounds the wait. For a crawl that should end with an empty spool, and tests.
   */
  async drain(): Promise<void> {
    this.seal();
    await this.waitFor(() => this.drained() || this.closed);
  }

  /** Flushes, waiting up to closeTimeoutMs for Redis, spools the rest, then closes the queue, the client and the spool. */
  close(): Promise<void> {
    this.closePromise ??= this.shutdown();
    return this.closePromise;
  }

  stats(): DiscoveryProducerStats {
    return {
      ...this.counters,
      memoryBatches: this.memory.length,
      spoolBytes: this.spool?.bytes ?? 0,
      corruptSpoolLines: this.spool?.corruptLines ?? 0,
      redisUp: this.up,
    };
  }

  // ---- batches ----

  private seal(): void {
    if (this.sealTimer !== null) this.clock.clearTimeout(this.sealTimer);
    this.sealTimer = null;
    if (this.current.length === 0) return;
    const events = this.current;
    this.current = [];
    this.counters.batchesSealed++;
    // A random id, not batchId(events): a content hash would merge two batches that happen to
    // hold equal events, and every event must be counted. Fixed here, it names the batch for good.
    const job: DiscoveryBatchJob = { id: randomBytes(20).toString('hex'), events };
    const seq = ++this.seq;
    const spoolBusy = this.spilling.size > 0 || this.pulling || (this.spool?.hasUnread ?? false);
    if (this.memory.length < this.o.memoryBatchesMax && !spoolBusy) {
      // Behind the spool's batches otherwise: delivery stays oldest first.
      this.memory.push({ job, seq, spooled: null, adding: false, gone: false, dropped: false });
      this.pump();
    } else {
      this.spill(job, seq);
    }
  }

  /**
   * Appends a batch to the spool (or drops it, counted, when the spool is full or failed).
   * `from`: the batch left memory for this, maybe with its add still pending (see delivered()).
   */
  private spill(job: DiscoveryBatchJob, seq: number, from: Pending | null = null): void {
    const drop = (reason: string): void => {
      if (from !== null) from.dropped = true;
      this.drop(job.events.length, reason);
    };
    if (this.spilling.size >= this.o.spoolWriteBacklogMax) {
      // The disk is slower than the crawl: holding more would grow memory without bound.
      drop('the spool disk is not keeping up');
      return;
    }
    const done = (async () => {
      const spool = await this.spoolOpening;
      if (spool === null || this.spool === null) {
        drop('there is no spool');
        return;
      }
      try {
        const bytes = await spool.append(job);
        if (bytes > 0) {
          this.counters.spooledBatches++;
          this.counters.spooledBytes += bytes;
          this.outageSpooled++;
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
      this.notify();
      this.pump();
    });
  }

  /** Moves every batch that is only in memory to the spool (those read back from it are on disk already). */
  private spillMemory(): void {
    const keep: Pending[] = [];
    for (const p of this.memory) {
      if (p.spooled !== null) keep.push(p);
      else {
        p.gone = true;
        this.spill(p.job, p.seq, p);
      }
    }
    this.memory = keep;
  }

  private drop(events: number, reason: string): void {
    this.counters.droppedEvents += events;
    this.outageDropped += events;
    if (!this.droppedNoticed) {
      this.droppedNoticed = true;
      this.log(`discoveries: dropping discoveries: ${reason} (counted in droppedEvents; logged once per outage)`);
    }
  }

  private persisted(upTo: number): boolean {
    for (const seq of this.spilling.keys()) if (seq <= upTo) return false;
    return !this.memory.some((p) => p.seq !== 0 && p.seq <= upTo);
  }

  private drained(): boolean {
    return this.current.length === 0 && this.memory.length === 0 && this.spilling.size === 0 && this.acking === 0 && !this.pulling && !(this.spool?.hasUnread ?? false);
  }

  // ---- delivery ----

  private makeQueue(): Queue<DiscoveryBatchJob> {
    const names = queueNames(this.options.keys);
    const queue = new Queue<DiscoveryBatchJob>(names.discoveries, { connection: this.client, prefix: names.bullPrefix });
    queue.on('error', (err: Error & { code?: unknown }) => {
      // Socket errors (ECONNRESET, EPIPE, ECONNREFUSED, …) are the outage, logged once by markDown.
      if (typeof err.code === 'string' && /^E[A-Z]+$/.test(err.code)) return;
      if (err.message !== this.lastQueueError) this.log(`discoveries: queue: ${(this.lastQueueError = err.message)}`);
    });
    queue.waitUntilReady().catch(() => {
      if (this.queue === queue) this.queueBroken = true;
    });
    return queue;
  }

  private clientReady(): boolean {
    return this.client.status === 'ready';
  }

  /** Starts adds while Redis is up and slots are free; tops memory up from the spool. */
  private pump(): void {
    if (this.closed || !this.up) return;
    if (!this.clientReady()) {
      // Not connected with work to do: down once that lasts deliveryTimeoutMs (a reconnect blip is not an outage).
      if (this.hasWork()) {
        this.readyTimer ??= this.unref(
          this.clock.setTimeout(() => {
            this.readyTimer = null;
            if (this.clientReady()) this.pump();
            else this.markDown('not connected');
          }, this.o.deliveryTimeoutMs),
        );
      }
      return;
    }
    while (this.outstanding < this.o.maxInflight) {
      const next = this.memory.find((p) => !p.adding);
      if (next === undefined) break;
      this.startAdd(next);
    }
    this.pullFromSpool();
  }

  private startAdd(p: Pending): void {
    p.adding = true;
    this.outstanding++;
    let timedOut = false;
    const timer = this.unref(
      this.clock.setTimeout(() => {
        timedOut = true;
        this.markDown(`an add took over ${this.o.deliveryTimeoutMs} ms`);
      }, this.o.deliveryTimeoutMs),
    );
    this.queue
      .add('batch', p.job, {
        jobId: p.job.id,
        attempts: JOB_ATTEMPTS,
        backoff: { type: 'exponential', delay: JOB_BACKOFF_MS },
        removeOnComplete: KEEP_COMPLETED_JOBS,
        removeOnFail: KEEP_FAILED_JOBS,
      })
      .then(
        () => {
          this.clock.clearTimeout(timer);
          this.outstanding--;
          this.delivered(p);
        },
        (err: Error) => {
          this.clock.clearTimeout(timer);
          this.outstanding--;
          p.adding = false;
          if (!this.closed && !timedOut) this.markDown(err.message);
        },
      )
      .finally(() => {
        this.notify();
        this.pump();
      });
  }

  private delivered(p: Pending): void {
    // A batch that went to the spool meanwhile is added again from there (a no-op for Redis)
    // and counted then; one the spool could not take is delivered after all.
    if (p.gone && !p.dropped) return;
    if (p.dropped) {
      this.counters.droppedEvents -= p.job.events.length;
      this.outageDropped = Math.max(0, this.outageDropped - p.job.events.length);
    }
    const i = this.memory.indexOf(p);
    if (i >= 0) this.memory.splice(i, 1);
    this.counters.batchesDelivered++;
    this.counters.eventsDelivered += p.job.events.length;
    if (p.spooled !== null) {
      this.counters.replayedBatches++;
      const spool = this.spool;
      if (spool !== null) {
        this.acking++;
        spool
          .ack(p.spooled)
          .catch((err: Error) => this.log(`discoveries: cannot delete a delivered spool file (it will be delivered again): ${err.message}`))
          .finally(() => {
            this.acking--;
            this.notify();
          });
      }
    }
    if (!this.up && !this.closed) this.markUp();
  }

  /** Reads one batch back from the spool when memory runs short of batches to add. */
  private pullFromSpool(): void {
    const spool = this.spool;
    if (this.closed || this.pulling || spool === null || !spool.hasUnread) return;
    if (this.memory.length >= this.o.memoryBatchesMax || this.memory.filter((p) => !p.adding).length >= this.o.maxInflight) return;
    this.pulling = true;
    const corruptBefore = spool.corruptLines;
    spool
      .shift()
      .then(
        (b) => {
          if (spool.corruptLines > corruptBefore) this.log(`discoveries: skipped ${spool.corruptLines - corruptBefore} corrupt spool line(s)`);
          if (b !== null && !this.closed) this.memory.push({ job: b.job, seq: 0, spooled: b, adding: false, gone: false, dropped: false });
        },
        (err: Error) => this.log(`discoveries: ${err.message}; retrying later`),
      )
      .finally(() => {
        this.pulling = false;
        this.notify();
        if (this.up) this.pump();
      });
  }

  private hasWork(): boolean {
    return this.memory.length > 0 || (this.spool?.hasUnread ?? false);
  }

  // ---- outages ----

  private markDown(reason: string): void {
    if (!this.up || this.closed) return;
    this.up = false;
    this.downSince = this.clock.now();
    this.counters.outages++;
    this.log(`discoveries: Redis is unreachable (${reason}); holding batches in memory, then in ${this.options.spoolDir}`);
    this.emit('outage', { reason });
    this.scheduleRetry();
    this.notify();
  }

  private markUp(): void {
    this.up = true;
    if (this.retryTimer !== null) this.clock.clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const downMs = Math.round(this.clock.now() - this.downSince);
    this.log(
      `discoveries: Redis is back after ${(downMs / 1000).toFixed(1)} s; ${this.outageSpooled} batches were spooled, ${this.outageDropped} events dropped; delivering the backlog`,
    );
    this.emit('recovered', { downMs, spooledBatches: this.outageSpooled, droppedEvents: this.outageDropped });
    // Counted from one recovery to the next: what spilled just before the outage was noticed belongs to it.
    this.outageSpooled = 0;
    this.outageDropped = 0;
    this.droppedNoticed = false;
    this.notify();
    this.pump();
  }

  private scheduleRetry(): void {
    if (this.retryTimer === null && !this.closed) this.retryTimer = this.unref(this.clock.setTimeout(() => this.retry(), this.o.redeliveryIntervalMs));
  }

  /** While down: probe with one add when nothing is pending (a pending add that lands ends the outage by itself). */
  private retry(): void {
    this.retryTimer = null;
    if (this.closed || this.up) return;
    this.scheduleRetry();
    if (this.outstanding > 0 || !this.clientReady()) return;
    if (this.queueBroken) {
      this.queueBroken = false;
      const old = this.queue;
      this.queue = this.makeQueue();
      old.close().catch(() => {});
    }
    const head = this.memory.find((p) => !p.adding);
    if (head !== undefined) this.startAdd(head);
    else if (!this.hasWork()) this.markUp(); // nothing to probe with: a ready client will do
    else this.pullFromSpool(); // the next retry probes with it
  }

  private onClientReady(): void {
    if (this.readyTimer !== null) this.clock.clearTimeout(this.readyTimer);
    this.readyTimer = null;
    if (this.closed) return;
    if (this.up) this.pump();
    else {
      if (this.retryTimer !== null) this.clock.clearTimeout(this.retryTimer);
      this.retry();
    }
  }

  // ---- waiting and closing ----

  private notify(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const resolve of w) resolve();
  }

  /** Re-checks `done` after every state change; false when `timeoutMs` passed first. */
  private async waitFor(done: () => boolean, timeoutMs?: number): Promise<boolean> {
    let expired = false;
    const timer = timeoutMs === undefined ? null : this.unref(this.clock.setTimeout(() => ((expired = true), this.notify()), timeoutMs));
    try {
      for (;;) {
        if (done()) return true;
        if (expired) return false;
        await new Promise<void>((resolve) => this.waiters.push(resolve));
      }
    } finally {
      if (timer !== null) this.clock.clearTimeout(timer);
    }
  }

  private async shutdown(): Promise<void> {
    this.closing = true;
    this.seal();
    await this.spoolOpening;
    const delivered = await this.waitFor(() => this.drained(), this.o.closeTimeoutMs);
    this.closed = true;
    for (const t of [this.retryTimer, this.readyTimer]) if (t !== null) this.clock.clearTimeout(t);
    this.retryTimer = this.readyTimer = null;
    if (!delivered) {
      this.spillMemory();
      await Promise.allSettled([...this.spilling.values()]);
      const left = this.spool?.hasUnread ? ` (${this.spool.bytes} bytes in ${this.options.spoolDir}, delivered by the next start)` : '';
      this.log(`discoveries: closed with undelivered batches spooled${left}`);
    }
    this.memory = [];
    await this.queue.close().catch(() => {});
    await closeRedisClient(this.client);
    await this.spool?.close();
    this.notify();
  }

  private unref(handle: TimerHandle): TimerHandle {
    handle.unref?.();
    return handle;
  }
}

