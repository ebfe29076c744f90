import { EventEmitter } from 'node:events';
import { Queue } from 'bullmq';
import { type Discovery, type DiscoverySink } from '../crawler/discovery.js';
import { closeRedisClient, type RedisClient } from '../redis/client.js';
import { JOB_ATTEMPTS, JOB_BACKOFF_MS, KEEP_COMPLETED_JOBS, KEEP_FAILED_JOBS } from './constants.js';
import { DeliveryBacklog, type DeliveryBacklogStats, type PendingBatch } from './delivery-backlog.js';
import { DiscoveryBatcher } from './discovery-batcher.js';
import { type DiscoveryProducerOptions, type ResolvedProducerOptions, resolveProducerOptions } from './discovery-producer-options.js';
import { type DiscoveryBatchJob, queueNames } from './queues.js';
import { RedisHealth, type RedisHealthEvents } from './redis-health.js';

/**
 * The crawler's side of the discovery queue: a DiscoverySink that batches events
 * (workers/discovery-batcher.ts) and adds each batch as one BullMQ job, whose id is the batch
 * id fixed at sealing. applyBatch is idempotent per batch id, so delivering a batch twice is
 * harmless; losing one is not, and everything here is about that.
 *
 * This is the composition root: RedisHealth (workers/redis-health.ts) says whether Redis takes
 * adds, and DeliveryBacklog (workers/delivery-backlog.ts) holds the sealed batches until it
 * does, in memory and then in the spool. The crawl does not notice an outage: write() only
 * appends to an array.
 *
 * The Redis client is made with `enableOfflineQueue: false`: while disconnected, an add fails
 * at once instead of queueing in ioredis, and at most maxInflight adds are ever pending, so an
 * outage cannot grow the client's queues. An add already sent when the connection drops is
 * resent by ioredis on reconnect (maxRetriesPerRequest: null); until it settles its slot stays
 * taken, which is what bounds them. (On Redis Cluster the option reaches the node clients only;
 * the cluster's own offline queue is bounded by the same slots.)
 */

export type { DiscoveryProducerOptions } from './discovery-producer-options.js';

export interface DiscoveryProducerStats extends DeliveryBacklogStats {
  /** Events passed to write(). */
  eventsWritten: number;
  batchesSealed: number;
  redisUp: boolean;
  outages: number;
}

export type DiscoveryProducerEvents = RedisHealthEvents;

export class DiscoveryProducer extends EventEmitter<DiscoveryProducerEvents> implements DiscoverySink {
  private readonly o: ResolvedProducerOptions;
  private readonly client: RedisClient;
  private queue: Queue<DiscoveryBatchJob>;
  /** The queue's connection set-up failed (Redis vanished between ready and its first command): make a new one. */
  private queueBroken = false;
  private lastQueueError = '';
  private readonly batcher: DiscoveryBatcher;
  private readonly health: RedisHealth;
  private readonly backlog: DeliveryBacklog;
  /** Adds whose promise has not settled (including ones past the timeout). */
  private outstanding = 0;
  private eventsWritten = 0;

  /** closing: close() was called, write() drops; closed: nothing is delivered any more. */
  private phase: 'open' | 'closing' | 'closed' = 'open';
  private closePromise: Promise<void> | null = null;
  private waiters: Array<() => void> = [];

  constructor(private readonly options: DiscoveryProducerOptions) {
    super();
    this.o = resolveProducerOptions(options);

    // BullMQ requires maxRetriesPerRequest: null; the offline queue is off (see the module comment).
    this.client = options.connection.newClient({ maxRetriesPerRequest: null, enableOfflineQueue: false });
    this.client.on('error', () => {}); // reconnect errors: the outage log says it once
    this.client.on('ready', () => this.health.clientReady());
    this.queue = this.makeQueue();

    this.batcher = new DiscoveryBatcher({ ...this.o, onSeal: (batch) => this.backlog.accept(batch) });
    this.health = new RedisHealth({
      ...this.o,
      events: this,
      clientReady: () => this.clientReady(),
      inflight: () => this.outstanding,
      probe: () => this.probe(),
      resume: () => this.pump(),
      changed: () => this.notify(),
    });
    this.backlog = new DeliveryBacklog({ ...this.o, ledger: this.health, notify: () => this.notify(), pump: () => this.pump() });
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
  ready(): Promise<void> {
    return this.backlog.ready();
  }

  // ---- DiscoverySink ----

  write(event: Discovery): void {
    this.eventsWritten++;
    if (this.phase !== 'open') {
      this.backlog.drop(1, 'write() after close()');
      return;
    }
    this.batcher.add(event);
  }

  /**
   * Backpressure: true while more events would soon be dropped, because the spool's disk is
   * behind, or Redis is down and the spool (or, without a spool, memory) is about full. The
   * crawler holds new queries while it is true, so a long outage pauses the crawl instead of
   * losing what it finds; it turns false as soon as Redis is back or the disk catches up.
   */
  saturated(): boolean {
    if (this.phase !== 'open') return false;
    return this.backlog.saturated(this.health.up, this.batcher.openEvents > 0);
  }

  /** Seals the current batch; resolves when every batch sealed so far is acknowledged by Redis or on disk. */
  async flush(): Promise<void> {
    this.batcher.seal();
    const upTo = this.batcher.sealed;
    await this.waitFor(() => {
      // While Redis is down, "on disk" is the only way to be done.
      if (!this.health.up) this.backlog.spillMemory();
      return this.backlog.persisted(upTo);
    });
  }

  /**
   * Resolves when everything is delivered (memory and the spool empty), or on close(). Needs
   * Redis: the caller bounds the wait. For a crawl that should end with an empty spool, and tests.
   */
  async drain(): Promise<void> {
    this.batcher.seal();
    await this.waitFor(() => this.drained() || this.phase === 'closed');
  }

  /** Flushes, waiting up to closeTimeoutMs for Redis, spools the rest, then closes the queue, the client and the spool. */
  close(): Promise<void> {
    this.closePromise ??= this.shutdown();
    return this.closePromise;
  }

  stats(): DiscoveryProducerStats {
    const { memoryBatches, spoolBytes, corruptSpoolLines, ...delivery } = this.backlog.stats();
    return {
      eventsWritten: this.eventsWritten,
      batchesSealed: this.batcher.sealed,
      ...delivery,
      outages: this.health.outages,
      memoryBatches,
      spoolBytes,
      corruptSpoolLines,
      redisUp: this.health.up,
    };
  }

  // ---- delivery ----

  private makeQueue(): Queue<DiscoveryBatchJob> {
    const names = queueNames(this.options.keys);
    const queue = new Queue<DiscoveryBatchJob>(names.discoveries, { connection: this.client, prefix: names.bullPrefix });
    queue.on('error', (err: Error & { code?: unknown }) => {
      // Socket errors (ECONNRESET, EPIPE, ECONNREFUSED, …) are the outage, logged once by RedisHealth.
      if (typeof err.code === 'string' && /^E[A-Z]+$/.test(err.code)) return;
      if (err.message !== this.lastQueueError) this.o.log(`discoveries: queue: ${(this.lastQueueError = err.message)}`);
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
    if (this.phase === 'closed' || !this.health.up) return;
    if (!this.clientReady()) {
      if (this.backlog.hasWork()) this.health.notReady();
      return;
    }
    while (this.outstanding < this.o.maxInflight) {
      const next = this.backlog.startNext();
      if (next === undefined) break;
      this.add(next);
    }
    this.backlog.pull();
  }

  /** RedisHealth's probe while Redis is down: one add, or a batch read back from the spool for the next retry. */
  private probe(): boolean {
    if (this.queueBroken) {
      this.queueBroken = false;
      const old = this.queue;
      this.queue = this.makeQueue();
      old.close().catch(() => {});
    }
    const head = this.backlog.startNext();
    if (head !== undefined) this.add(head);
    else if (!this.backlog.hasWork()) return false;
    else this.backlog.pull(); // the next retry probes with it
    return true;
  }

  private add(p: PendingBatch): void {
    this.outstanding++;
    let timedOut = false;
    const timer = this.o.clock.setTimeout(() => {
      timedOut = true;
      this.health.down(`an add took over ${this.o.deliveryTimeoutMs} ms`);
    }, this.o.deliveryTimeoutMs);
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
          this.o.clock.clearTimeout(timer);
          this.outstanding--;
          if (this.backlog.delivered(p)) this.health.delivered();
        },
        (err: Error) => {
          this.o.clock.clearTimeout(timer);
          this.outstanding--;
          this.backlog.addFailed(p);
          if (!timedOut) this.health.down(err.message);
        },
      )
      .finally(() => {
        this.notify();
        this.pump();
      });
  }

  // ---- waiting and closing ----

  private drained(): boolean {
    return this.batcher.openEvents === 0 && this.backlog.drained();
  }

  private notify(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const resolve of w) resolve();
  }

  /** Re-checks `done` after every state change; false when `timeoutMs` passed first. */
  private async waitFor(done: () => boolean, timeoutMs?: number): Promise<boolean> {
    let expired = false;
    const timer = timeoutMs === undefined ? null : this.o.clock.setTimeout(() => ((expired = true), this.notify()), timeoutMs);
    try {
      for (;;) {
        if (done()) return true;
        if (expired) return false;
        await new Promise<void>((resolve) => this.waiters.push(resolve));
      }
    } finally {
      if (timer !== null) this.o.clock.clearTimeout(timer);
    }
  }

  private async shutdown(): Promise<void> {
    this.phase = 'closing';
    this.batcher.seal();
    await this.backlog.opened;
    const delivered = await this.waitFor(() => this.drained(), this.o.closeTimeoutMs);
    this.phase = 'closed';
    this.health.stop();
    await this.backlog.stop(!delivered);
    await this.queue.close().catch(() => {});
    await closeRedisClient(this.client);
    await this.backlog.close();
    this.notify();
  }
}
