import { type KrpcSocketStats } from '../../bep5/krpc-socket-types.js';
import { type CrawlProgress } from '../../crawler/crawler-types.js';
import { type IndexPrunerStats } from '../../indexer/index-pruner.js';

/**
 * What the metrics read, described by shape only: indexer/ must not import workers/ or cli/,
 * and any process (dhtscope run, a workers-only process, a test) can hand over what it has.
 * Every source is optional and is asked anew at each scrape, so a source that does not exist
 * yet (the crawler is made last at start-up) or returns null simply leaves its metrics out.
 *
 * Snapshots hold running totals since the source started (as DhtNode.stats(),
 * Crawler.progress(), DiscoveryProducer.stats() and WorkerSet.stats() do); the metrics turn
 * them into Prometheus counters (snapshot-counter.ts).
 */

/** DhtNode.stats(): per address family ("ipv4", "ipv6"), the table and the socket's counters. */
export interface NodeSnapshot {
  families: Record<string, { tableSize: number; buckets?: number; socket: KrpcSocketStats }>;
  store?: { infohashes: number; peers: number };
  /** BEP 44 items stored for others (item-store.ts). */
  items?: { items: number; bytes: number };
}

/** Crawler.progress(). */
export type CrawlSnapshot = Pick<CrawlProgress, 'sweep' | 'known' | 'answered' | 'queued' | 'inflight' | 'queriesSent' | 'infohashes' | 'peers' | 'pausedForSink' | 'sinkPausedMs' | 'forgotten'>;

/** IndexPruner.stats(). */
export type RetentionSnapshot = Pick<IndexPrunerStats, 'passes' | 'pruned' | 'conflicts' | 'failures'>;

/** DiscoveryProducer.stats(): the running totals and gauges the metrics read (workers/ is not imported here). */
export type ProducerSnapshot = { redisUp: boolean } & Record<
  | 'eventsWritten' | 'eventsDelivered' | 'droppedEvents'
  | 'batchesSealed' | 'batchesDelivered' | 'spooledBatches' | 'replayedBatches'
  | 'spooledBytes' | 'spoolBytes' | 'memoryBatches' | 'outages',
  number
>;

/** WorkerSet.stats(): the running totals the metrics read. */
export type WorkerSnapshot = Record<
  | 'discoveryJobsDone' | 'discoveryJobsFailed' | 'batchesApplied' | 'batchesDuplicate'
  | 'eventsApplied' | 'eventsInvalid' | 'newInfohashes' | 'stalledJobs'
  | 'peerLookupsDone' | 'peerLookupsFailed' | 'peerLookupsQueued' | 'peerLookupsSkipped' | 'peersFound',
  number
> &
  /** Peer-lookup jobs put back untouched because the node had no contacts (worker-set.ts). */
  Partial<Record<'peerLookupsDeferred', number>> &
  /** BEP 9 metadata fetches, when the worker set runs them. */
  Partial<Record<'metadataQueued' | 'metadataStored' | 'metadataFailed', number>>;

export interface QueueDepthSnapshot {
  waiting: number;
  active: number;
  delayed: number;
  failed: number;
}

/** The BullMQ queues whose depths are shown (a queue the worker set does not run is left out). */
export const QUEUE_NAMES = ['discoveries', 'peerLookups', 'metadata'] as const;

/** WorkerSet.queueDepths(). */
export type QueueDepthsSnapshot = Partial<Record<(typeof QUEUE_NAMES)[number], QueueDepthSnapshot>>;

/** One reply to one of our queries (DhtNode's 'rpc' event). */
export interface RpcObservation {
  family: number;
  method: string;
  rttMs: number;
}

/** Anything that emits 'rpc' events: a DhtNode. */
export interface RpcEventSource {
  on(event: 'rpc', listener: (e: RpcObservation) => void): unknown;
  off(event: 'rpc', listener: (e: RpcObservation) => void): unknown;
}

/** One discovery batch written to the Redis index: its events, and how long the write took. */
export interface BatchWriteObservation {
  events: number;
  ms: number;
}

/** Anything that emits 'batch-applied' events (the worker set, once it has the hook). */
export interface BatchWriteEventSource {
  on(event: 'batch-applied', listener: (e: BatchWriteObservation) => void): unknown;
  off(event: 'batch-applied', listener: (e: BatchWriteObservation) => void): unknown;
}

type Maybe<T> = T | null | undefined;

export interface MetricsSources {
  node?: () => Maybe<NodeSnapshot>;
  /** Subscribed to for the RPC latency histogram (re-subscribed if a scrape finds another one). */
  rpcEvents?: () => Maybe<RpcEventSource>;
  crawl?: () => Maybe<CrawlSnapshot>;
  producer?: () => Maybe<ProducerSnapshot>;
  retention?: () => Maybe<RetentionSnapshot>;
  workers?: () => Maybe<WorkerSnapshot>;
  /** Read from Redis at scrape time, bounded by QUEUE_DEPTHS_TIMEOUT_MS. */
  queues?: () => Maybe<QueueDepthsSnapshot> | Promise<Maybe<QueueDepthsSnapshot>>;
  /** Subscribed to for the Redis write latency histogram; DhtscopeMetrics.observeBatchWrite is the push alternative. */
  batchWrites?: () => Maybe<BatchWriteEventSource>;
}
