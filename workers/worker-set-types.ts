import { type DhtNode } from '../bep5/node.js';
import { type IndexConfig } from '../indexer/index-config.js';
import { type IndexKeys } from '../indexer/keys.js';
import { type RedisConnection } from '../redis/connection.js';
import { type MetadataProcessorOptions } from './metadata-processor.js';


/** The worker set's options, stats and queue depths (worker-set.ts). */

export interface PeerLookupWorkerOptions {
  /** A started node (bootstrapped, or bootstrapping: lookups wait for contacts). */
  node: DhtNode;
  /** Lookups at once in this process (default PEER_LOOKUP_CONCURRENCY). */
  concurrency?: number;
  /** Lookups started per second across every worker on this queue (default PEER_LOOKUPS_PER_SECOND). */
  perSecond?: number;
  timeoutMs?: number;
  refreshMs?: number;
  queueMax?: number;
}

export interface MetadataWorkerOptions {
  /** Fetch from private and loopback peers too (testnets, LANs). Default false. */
  allowPrivate?: boolean;
  /** Metadata jobs at once in this process (default METADATA_CONCURRENCY). */
  concurrency?: number;
  /** How often this process queues candidates (default METADATA_SWEEP_MS). */
  sweepMs?: number;
  /** Narrower fetch limits, for tests. */
  fetchOptions?: MetadataProcessorOptions['fetchOptions'];
}

export interface StartWorkersOptions {
  connection: RedisConnection;
  keys: IndexKeys;
  /** Discovery jobs at once (default DISCOVERY_CONCURRENCY). */
  concurrency?: number;
  /** Without a node, the peer-lookup queue is neither consumed nor fed. */
  peerLookups?: PeerLookupWorkerOptions | null;
  /** BEP 9 metadata fetches for infohashes with peers; null/absent: that queue is neither consumed nor fed. */
  metadata?: MetadataWorkerOptions | null;
  config?: Partial<IndexConfig>;
  stalledIntervalMs?: number;
  lockDurationMs?: number;
  shutdownGraceMs?: number;
  now?: () => number;
  log?: (line: string) => void;
  /** Routine lines (a failed attempt that will be retried): for `--verbose`; dropped by default. */
  verboseLog?: (line: string) => void;
  /** The set stopped taking jobs by itself (the index is at another schema version). */
  onFatal?: (err: Error) => void;
}

export interface WorkerStats {
  /** Discovery jobs finished (applied or duplicate). */
  discoveryJobsDone: number;
  /** Failed attempts (retried later unless unrecoverable or out of attempts). */
  discoveryJobsFailed: number;
  batchesApplied: number;
  /** Batches that had been applied before: nothing changed. */
  batchesDuplicate: number;
  eventsApplied: number;
  eventsInvalid: number;
  newInfohashes: number;
  /** Jobs of either queue that a stalled check moved back to waiting (some worker died). */
  stalledJobs: number;
  peerLookupsDone: number;
  peerLookupsFailed: number;
  peerLookupsQueued: number;
  /** Not queued: the peer-lookup queue was full. */
  peerLookupsSkipped: number;
  /** Jobs put back, attempts untouched, because the node had lost every contact. */
  peerLookupsDeferred: number;
  /** True while the peer-lookup worker waits for the node to join the DHT (it takes no job). */
  peerLookupsWaitingForNode: boolean;
  peersFound: number;
  metadataQueued: number;
  metadataStored: number;
  /** Fetches that failed (recorded in the index's fetch state, retried later or given up). */
  metadataFailed: number;
  /** Why the set stopped by itself, if it did. */
  fatal: string | null;
}

export interface QueueDepth {
  waiting: number;
  active: number;
  delayed: number;
  failed: number;
}

export interface QueueDepths {
  discoveries: QueueDepth;
  peerLookups: QueueDepth;
  metadata: QueueDepth;
}

export interface WorkerSetInfo {
  prefix: string;
  bullPrefix: string;
  concurrency: number;
  peerLookups: { concurrency: number; perSecond: number } | null;
  metadata: { concurrency: number; allowPrivate: boolean } | null;
}
