import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import { DelayedError, type Job, Queue, UnrecoverableError, type Worker, type WorkerOptions } from 'bullmq';
import { sleep } from '../bep5/clock.js';
import { type RedisClient, closeRedisClient } from '../redis/client.js';
import { type StartWorkersOptions, type WorkerStats, type QueueDepth, type QueueDepths, type WorkerSetInfo } from './worker-set-types.js';
import { DISCOVERY_CONCURRENCY, KEEP_COMPLETED_JOBS, KEEP_FAILED_JOBS, LOCK_DURATION_MS, MAX_STALLED_COUNT, METADATA_CONCURRENCY, METADATA_SWEEP_MS, PEER_LOOKUP_CONCURRENCY, PEER_LOOKUP_JOIN_CHECK_MS, PEER_LOOKUP_NOT_JOINED_DELAY_MS, PEER_LOOKUP_QUEUE_MAX, PEER_LOOKUP_REFRESH_MS, PEER_LOOKUP_TIMEOUT_MS, PEER_LOOKUPS_PER_SECOND, SHUTDOWN_GRACE_MS, STALLED_INTERVAL_MS } from './constants.js';
import { AbandonableWorker } from './abandonable-worker.js';
import { createDiscoveryProcessor, type DiscoveryJobResult } from './discovery-processor.js';
import { createMetadataProcessor, type MetadataJobResult } from './metadata-processor.js';
import { MetadataScheduler } from './metadata-scheduler.js';
import { createPeerLookupProcessor, type PeerLookupResult } from './peer-lookup-processor.js';
import { PeerLookupScheduler } from './peer-lookup-scheduler.js';
import { type DiscoveryBatchJob, type MetadataJob, type PeerLookupJob, queueNames } from './queues.js';
import { DhtNotReadyError, type JobSchemaMismatchError } from './errors.js';
import { type DhtNode } from '../bep5/node.js';

/**
 * The consumer side of the pipeline: BullMQ workers for the discovery queue and (with a DHT
 * node) the peer-lookup queue, on one Redis connection of their own (BullMQ adds a blocking
 * one per worker). Any number of these may run, in one process or on many machines, against
 * the same Redis and prefix: BullMQ hands each job to one of them, and a job whose worker died
 * (its lock not renewed for `lockDurationMs`) is moved back to waiting by the stalled check of
 * any survivor, every `stalledIntervalMs`. Processors are idempotent, so that rerun is safe.
 */

const emptyStats = (): WorkerStats => ({
  discoveryJobsDone: 0,
  discoveryJobsFailed: 0,
  batchesApplied: 0,
  batchesDuplicate: 0,
  eventsApplied: 0,
  eventsInvalid: 0,
  newInfohashes: 0,
  stalledJobs: 0,
  peerLookupsDone: 0,
  peerLookupsFailed: 0,
  peerLookupsQueued: 0,
  peerLookupsSkipped: 0,
  peerLookupsDeferred: 0,
  peerLookupsWaitingForNode: false,
  peersFound: 0,
  metadataQueued: 0,
  metadataStored: 0,
  metadataFailed: 0,
  fatal: null,
});

function positive(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer, got ${String(value)}`);
  return v;
}

/** What the set does with its workers, whatever their job types. */
type RunningWorker = Pick<AbandonableWorker<unknown, unknown>, 'name' | 'run' | 'waitUntilReady' | 'pause' | 'close' | 'cancelAllJobs' | 'abandon'>;

export interface WorkerSetEvents {
  /** A discovery batch was written to the index (or found written): its events and how long the write took. */
  'batch-applied': [{ events: number; ms: number }];
}

export class WorkerSet extends EventEmitter<WorkerSetEvents> {
  private closing: Promise<void> | null = null;

  /** @internal use startWorkers() */
  constructor(
    readonly info: WorkerSetInfo,
    private readonly counters: WorkerStats,
    private readonly client: RedisClient,
    private readonly queues: { discoveries: Queue<DiscoveryBatchJob>; peerLookups: Queue<PeerLookupJob>; metadata: Queue<MetadataJob> },
    private readonly workers: RunningWorker[],
    private readonly graceMs: number,
    private readonly log: (line: string) => void,
  ) {
    super();
  }

  stats(): WorkerStats {
    return { ...this.counters };
  }

  /** Job counts of both queues (of every worker on this Redis and prefix, not just this set). */
  async queueDepths(): Promise<QueueDepths> {
    const depth = async (q: Queue): Promise<QueueDepth> => {
      const c = await q.getJobCounts('waiting', 'active', 'delayed', 'failed');
      return { waiting: c['waiting'] ?? 0, active: c['active'] ?? 0, delayed: c['delayed'] ?? 0, failed: c['failed'] ?? 0 };
    };
    const [discoveries, peerLookups, metadata] = await Promise.all([depth(this.queues.discoveries), depth(this.queues.peerLookups), depth(this.queues.metadata)]);
    return { discoveries, peerLookups, metadata };
  }

  /**
   * Stops taking jobs, lets running ones finish (up to the grace period; after it they are
   * cancelled and BullMQ retries them later, here or elsewhere), then closes every connection
   * the set opened. Idempotent.
   */
  /** close() was called. */
  get closed(): boolean {
    return this.closing !== null;
  }

  /** Stops timers (the metadata sweep) before the workers close. */
  readonly timers: NodeJS.Timeout[] = [];

  close(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    const finished = Promise.all(this.workers.map((w) => w.close())).then(
      () => true,
      () => true,
    );
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<false>((r) => (timer = setTimeout(() => r(false), this.graceMs)));
    const inTime = await Promise.race([finished, graceOver]);
    clearTimeout(timer);
    if (!inTime) {
      this.log(`workers still busy after ${this.graceMs} ms: cancelling running jobs (BullMQ retries them later)`);
      for (const w of this.workers) w.cancelAllJobs('worker shutting down');
      // Cancelled processors end at once; one stuck on Redis is cut loose by the disconnect below.
      await Promise.race([finished, sleep(1_000, { unref: true })]);
    }
    await Promise.all([this.queues.discoveries.close(), this.queues.peerLookups.close()]).catch(() => undefined);
    await closeRedisClient(this.client);
    if (inTime) return;
    // A job that was stuck on Redis fails now that its connection is gone; let the workers
    // unwind. With Redis unreachable they cannot: give them up (see AbandonableWorker).
    if (await Promise.race([finished, sleep(1_000, { unref: true }).then(() => false)])) return;
    this.log('Redis does not answer: leaving the jobs still held to be retried once their locks expire');
    await Promise.all(this.workers.map((w) => w.abandon()));
  }
}

/**
 * Starts the workers. The caller has brought the index to the current schema first
 * (migrations/runner.ts ensureSchema); a worker that meets another schema version anyway
 * fails that job without retry, stops taking jobs and calls `onFatal`.
 */
export async function startWorkers(o: StartWorkersOptions): Promise<WorkerSet> {
  const log = o.log ?? (() => undefined);
  const verbose = o.verboseLog ?? (() => undefined);
  const now = o.now ?? Date.now;
  const concurrency = positive('concurrency', o.concurrency, DISCOVERY_CONCURRENCY);
  const lookups = o.peerLookups ?? null;
  // Every number is checked before anything connects, so a bad option leaves no socket behind.
  const lookupConcurrency = lookups ? positive('peer lookup concurrency', lookups.concurrency, PEER_LOOKUP_CONCURRENCY) : 0;
  const perSecond = lookups ? positive('peer lookups per second', lookups.perSecond, PEER_LOOKUPS_PER_SECOND) : 0;
  const lookupTimeoutMs = lookups ? positive('peer lookup timeoutMs', lookups.timeoutMs, PEER_LOOKUP_TIMEOUT_MS) : 0;
  const refreshMs = lookups ? positive('peer lookup refreshMs', lookups.refreshMs, PEER_LOOKUP_REFRESH_MS) : 0;
  const queueMax = lookups ? positive('peer lookup queueMax', lookups.queueMax, PEER_LOOKUP_QUEUE_MAX) : 0;
  const meta = o.metadata ?? null;
  const metadataConcurrency = meta ? positive('metadata concurrency', meta.concurrency, METADATA_CONCURRENCY) : 0;
  const sweepMs = meta ? positive('metadata sweepMs', meta.sweepMs, METADATA_SWEEP_MS) : 0;
  const stalledInterval = positive('stalledIntervalMs', o.stalledIntervalMs, STALLED_INTERVAL_MS);
  const lockDuration = positive('lockDurationMs', o.lockDurationMs, LOCK_DURATION_MS);
  const graceMs = positive('shutdownGraceMs', o.shutdownGraceMs, SHUTDOWN_GRACE_MS);
  const names = queueNames(o.keys);
  // BullMQ wants maxRetriesPerRequest: null (see ../shared/notes/toolchain.md pitfall 19); the
  // index writes share this connection, so during an outage they wait for Redis, as BullMQ does.
  const client = o.connection.newClient({ maxRetriesPerRequest: null });
  const shared = { connection: client, prefix: names.bullPrefix };
  const queues = {
    discoveries: new Queue<DiscoveryBatchJob>(names.discoveries, shared),
    peerLookups: new Queue<PeerLookupJob>(names.peerLookups, shared),
    metadata: new Queue<MetadataJob>(names.metadata, shared),
  };
  for (const q of Object.values(queues)) q.on('error', (err: Error) => log(`queue ${q.name}: ${err.message}`));

  const workerOptions: WorkerOptions = {
    ...shared,
    name: `${hostname()}:${process.pid}`,
    stalledInterval,
    lockDuration,
    maxStalledCount: MAX_STALLED_COUNT,
    removeOnComplete: { count: KEEP_COMPLETED_JOBS },
    removeOnFail: { count: KEEP_FAILED_JOBS },
    autorun: false,
  };
  const info: WorkerSetInfo = {
    prefix: o.keys.prefix,
    bullPrefix: names.bullPrefix,
    concurrency,
    peerLookups: lookups ? { concurrency: lookupConcurrency, perSecond } : null,
    metadata: meta ? { concurrency: metadataConcurrency, allowPrivate: meta.allowPrivate ?? false } : null,
  };
  const workers: RunningWorker[] = [];
  /** Workers that run only once this node has joined the DHT. */
  const joinGates = new Map<RunningWorker, DhtNode>();
  const stats = emptyStats();
  const set = new WorkerSet(info, stats, client, queues, workers, graceMs, log);

  const scheduler = lookups
    ? new PeerLookupScheduler({
        client,
        keys: o.keys,
        queue: queues.peerLookups,
        now,
        refreshMs,
        queueMax,
        ...(o.config?.peerTtlMs !== undefined ? { peerTtlMs: o.config.peerTtlMs } : {}),
      })
    : null;

  const onSchemaMismatch = (err: JobSchemaMismatchError): void => {
    if (stats.fatal !== null) return;
    stats.fatal = err.message;
    log(`stopping: ${err.message}`);
    for (const w of workers) void w.pause(true);
    o.onFatal?.(err);
  };
  const processDiscovery = createDiscoveryProcessor({
    client,
    keys: o.keys,
    now,
    scheduler,
    ...(o.config ? { config: o.config } : {}),
    onResult(r) {
      set.emit('batch-applied', { events: r.events, ms: r.applyMs });
      if (r.applied) {
        stats.batchesApplied++;
        stats.eventsApplied += r.events - r.invalid;
        stats.eventsInvalid += r.invalid;
        stats.newInfohashes += r.newInfohashes;
      } else stats.batchesDuplicate++;
      if (r.lookups) {
        stats.peerLookupsQueued += r.lookups.queued;
        stats.peerLookupsSkipped += r.lookups.skipped;
      }
    },
    onSchemaMismatch,
  });
  const discoveryWorker = new AbandonableWorker<DiscoveryBatchJob, DiscoveryJobResult>(names.discoveries, (job) => processDiscovery(job), { ...workerOptions, concurrency });
  watch(discoveryWorker, 'discovery', log, verbose, {
    done: () => stats.discoveryJobsDone++,
    failed: () => stats.discoveryJobsFailed++,
    stalled: () => stats.stalledJobs++,
  });
  workers.push(discoveryWorker);

  if (lookups) {
    const processLookup = createPeerLookupProcessor({
      node: lookups.node,
      client,
      keys: o.keys,
      now,
      timeoutMs: lookupTimeoutMs,
      ...(o.config ? { config: o.config } : {}),
      onResult: (r: PeerLookupResult) => (stats.peersFound += r.peers),
      onSchemaMismatch,
    });
    const lookupWorker = new AbandonableWorker<PeerLookupJob, PeerLookupResult>(
      names.peerLookups,
      async (job, token, signal) => {
        try {
          return await processLookup(job, token, signal);
        } catch (err) {
          if (!(err instanceof DhtNotReadyError) || token === undefined) throw err;
          // Not the job's failure: the node has no contacts (it lost them after joining, since
          // the worker starts only once it has some). Back to the delayed set, attempts untouched;
          // BullMQ's own clock, not the injected one, decides when it is due.
          stats.peerLookupsDeferred++;
          await job.moveToDelayed(Date.now() + PEER_LOOKUP_NOT_JOINED_DELAY_MS, token);
          throw new DelayedError();
        }
      },
      { ...workerOptions, concurrency: lookupConcurrency, limiter: { max: perSecond, duration: 1_000 } },
    );
    joinGates.set(lookupWorker, lookups.node);
    watch(lookupWorker, 'peer lookup', log, verbose, {
      done: () => stats.peerLookupsDone++,
      failed: () => stats.peerLookupsFailed++,
      stalled: () => stats.stalledJobs++,
    });
    workers.push(lookupWorker);
  }

  if (meta) {
    const processMetadata = createMetadataProcessor({
      client,
      keys: o.keys,
      now,
      allowPrivate: meta.allowPrivate ?? false,
      ...(meta.fetchOptions ? { fetchOptions: meta.fetchOptions } : {}),
      onResult: (r: MetadataJobResult) => {
        if (r.status === 'stored') stats.metadataStored++;
        else if (r.status === 'failed') stats.metadataFailed++;
      },
    });
    const metadataWorker = new AbandonableWorker<MetadataJob, MetadataJobResult>(names.metadata, (job, token, signal) => processMetadata(job, token, signal), {
      ...workerOptions,
      concurrency: metadataConcurrency,
    });
    watch(metadataWorker, 'metadata', log, verbose, {
      done: () => undefined,
      failed: () => undefined,
      stalled: () => stats.stalledJobs++,
    });
    workers.push(metadataWorker);
    const metadataScheduler = new MetadataScheduler({ client, keys: o.keys, queue: queues.metadata, now });
    let sweeping = false;
    const sweep = (): void => {
      if (sweeping || stats.fatal !== null) return;
      sweeping = true;
      metadataScheduler
        .sweep()
        .then((r) => (stats.metadataQueued += r.queued))
        .catch((err: unknown) => log(`metadata sweep: ${err instanceof Error ? err.message : String(err)}`))
        .finally(() => (sweeping = false));
    };
    const timer = setInterval(sweep, sweepMs);
    timer.unref();
    set.timers.push(timer);
  }

  try {
    await Promise.all([...workers.map((w) => w.waitUntilReady()), ...Object.values(queues).map((q) => q.waitUntilReady())]);
  } catch (err) {
    await set.close();
    throw err;
  }
  const run = (w: RunningWorker): void => {
    w.run().catch((err: unknown) => log(`${w.name} stopped: ${err instanceof Error ? err.message : String(err)}`));
  };
  for (const w of workers) {
    const node = joinGates.get(w);
    if (node === undefined) run(w);
    else whenJoined(node, set, stats, () => run(w));
  }
  return set;
}

/**
 * Runs `start` once the node has a contact. Until then peer-lookup jobs wait in the queue
 * untouched: taking them would only fail them and spend their attempts (a start with no network
 * once printed 281 such failures in 30 s). Checked on the node's 'bootstrapped' event and every
 * PEER_LOOKUP_JOIN_CHECK_MS (a table can also fill from nodes that query us).
 */
function whenJoined(node: DhtNode, set: WorkerSet, stats: WorkerStats, start: () => void): void {
  const joined = (): boolean => [4, 6].some((f) => (node.table(f as 4 | 6)?.size ?? 0) > 0);
  if (joined()) return start();
  stats.peerLookupsWaitingForNode = true;
  const check = (): void => {
    if (set.closed || !joined()) return;
    clearInterval(timer);
    node.off('bootstrapped', check);
    stats.peerLookupsWaitingForNode = false;
    start();
  };
  const timer = setInterval(check, PEER_LOOKUP_JOIN_CHECK_MS);
  timer.unref();
  set.timers.push(timer);
  node.on('bootstrapped', check);
}

/** Counts and logs what a worker does. Every failure is one line with the job and attempt. */
function watch(worker: Worker, what: string, log: (line: string) => void, verbose: (line: string) => void, count: { done: () => void; failed: () => void; stalled: () => void }): void {
  worker.on('error', (err: Error) => log(`${what} worker: ${err.message}`));
  worker.on('completed', () => count.done());
  worker.on('failed', (job: Job | undefined, err: Error) => {
    count.failed();
    const attempts = job?.opts.attempts ?? 1;
    const retry = job !== undefined && job.attemptsMade < attempts && !(err instanceof UnrecoverableError);
    // A failure that will be retried is routine (counted in the stats and metrics); only the
    // last one, after which the job is given up, is news.
    (retry ? verbose : log)(`${what} job ${job?.id ?? '?'} failed (attempt ${job?.attemptsMade ?? '?'} of ${attempts}${retry ? ', will retry' : ''}): ${err.message}`);
  });
  worker.on('stalled', (jobId: string) => {
    count.stalled();
    log(`${what} job ${jobId} stalled (its worker stopped): queued again`);
  });
}
