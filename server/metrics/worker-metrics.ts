import { Gauge, Histogram, type Registry } from 'prom-client';
import { BATCH_WRITE_BUCKETS, METRICS_PREFIX as P } from './constants.js';
import { SnapshotCounter } from './snapshot-counter.js';
import { type BatchWriteObservation, QUEUE_NAMES, type QueueDepthsSnapshot, type WorkerSnapshot } from './sources.js';

/**
 * The BullMQ side: jobs done and failed per queue (Prometheus turns them into job rates),
 * what the discovery jobs wrote, queue depths, and how long each batch's Redis write took.
 */

const STATES = ['waiting', 'active', 'delayed', 'failed'] as const;

/** peerLookups → peer_lookups: label values in Prometheus's snake_case. */
export function queueLabel(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

export class WorkerMetrics {
  private readonly jobs: SnapshotCounter<'queue' | 'outcome'>;
  private readonly batches: SnapshotCounter<'outcome'>;
  private readonly events: SnapshotCounter<'outcome'>;
  private readonly newInfohashes: SnapshotCounter;
  private readonly stalled: SnapshotCounter;
  private readonly lookupsScheduled: SnapshotCounter<'outcome'>;
  private readonly peersFound: SnapshotCounter;
  private readonly metadataQueued: SnapshotCounter;
  private readonly metadataFetches: SnapshotCounter<'outcome'>;
  private readonly depth: Gauge<'queue' | 'state'>;
  private readonly batchWrite: Histogram;

  constructor(registry: Registry) {
    const registers = [registry];
    this.jobs = new SnapshotCounter(registry, `${P}worker_jobs_total`, "Jobs this process's workers finished (done), attempted and failed (failed), or put back without an attempt while the node had no contacts (deferred), by queue.", ['queue', 'outcome']);
    this.batches = new SnapshotCounter(registry, `${P}worker_batches_total`, 'Discovery batches written to the index (applied) or found already applied (duplicate).', ['outcome']);
    this.events = new SnapshotCounter(registry, `${P}worker_events_total`, 'Discovery events written to the index (applied) or rejected as malformed (invalid).', ['outcome']);
    this.newInfohashes = new SnapshotCounter(registry, `${P}worker_new_infohashes_total`, 'Infohashes the index had never seen before.');
    this.stalled = new SnapshotCounter(registry, `${P}worker_stalled_jobs_total`, 'Jobs moved back to waiting because their worker stopped renewing the lock.');
    this.lookupsScheduled = new SnapshotCounter(
      registry,
      `${P}worker_peer_lookups_scheduled_total`,
      'Peer lookups queued for infohashes without live peers (queued), or not queued because the queue was full (skipped).',
      ['outcome'],
    );
    this.peersFound = new SnapshotCounter(registry, `${P}worker_peers_found_total`, 'Peers found by the peer-lookup jobs.');
    this.metadataQueued = new SnapshotCounter(registry, `${P}worker_metadata_queued_total`, 'BEP 9 metadata fetches queued for infohashes with peers.');
    this.metadataFetches = new SnapshotCounter(registry, `${P}worker_metadata_fetches_total`, 'BEP 9 metadata fetches that stored the metadata (stored) or failed (failed).', ['outcome']);
    this.depth = new Gauge({ name: `${P}queue_jobs`, help: 'Jobs in each BullMQ queue by state (all workers on this Redis and prefix).', labelNames: ['queue', 'state'], registers });
    this.batchWrite = new Histogram({
      name: `${P}redis_batch_write_duration_seconds`,
      help: 'How long writing one discovery batch to the Redis index took (one atomic Lua script).',
      buckets: BATCH_WRITE_BUCKETS,
      registers,
    });
  }

  observeBatchWrite(e: BatchWriteObservation): void {
    if (Number.isFinite(e.ms) && e.ms >= 0) this.batchWrite.observe(e.ms / 1000);
  }

  update(s: WorkerSnapshot): void {
    this.jobs.set(s.discoveryJobsDone, { queue: 'discoveries', outcome: 'done' });
    this.jobs.set(s.discoveryJobsFailed, { queue: 'discoveries', outcome: 'failed' });
    this.jobs.set(s.peerLookupsDone, { queue: 'peer_lookups', outcome: 'done' });
    this.jobs.set(s.peerLookupsFailed, { queue: 'peer_lookups', outcome: 'failed' });
    if (s.peerLookupsDeferred !== undefined) this.jobs.set(s.peerLookupsDeferred, { queue: 'peer_lookups', outcome: 'deferred' });
    this.batches.set(s.batchesApplied, { outcome: 'applied' });
    this.batches.set(s.batchesDuplicate, { outcome: 'duplicate' });
    this.events.set(s.eventsApplied, { outcome: 'applied' });
    this.events.set(s.eventsInvalid, { outcome: 'invalid' });
    this.newInfohashes.set(s.newInfohashes);
    this.stalled.set(s.stalledJobs);
    this.lookupsScheduled.set(s.peerLookupsQueued, { outcome: 'queued' });
    this.lookupsScheduled.set(s.peerLookupsSkipped, { outcome: 'skipped' });
    this.peersFound.set(s.peersFound);
    if (s.metadataQueued !== undefined) this.metadataQueued.set(s.metadataQueued);
    if (s.metadataStored !== undefined) this.metadataFetches.set(s.metadataStored, { outcome: 'stored' });
    if (s.metadataFailed !== undefined) this.metadataFetches.set(s.metadataFailed, { outcome: 'failed' });
  }

  /** Null: the depths could not be read; the gauges are left out rather than shown stale. */
  updateQueues(q: QueueDepthsSnapshot | null): void {
    this.depth.reset();
    if (q === null) return;
    for (const key of QUEUE_NAMES) {
      const depth = q[key];
      if (depth !== undefined) for (const state of STATES) this.depth.set({ queue: queueLabel(key), state }, depth[state]);
    }
  }
}
