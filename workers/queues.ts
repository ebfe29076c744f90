import { type IndexKeys } from '../indexer/keys.js';
import { type Discovery } from '../crawler/discovery.js';

/**
 * Queue names and the BullMQ key prefix for an index. BullMQ's keys get their own hash tag,
 * `{<prefix>:bull}`, so every key of a queue is in one slot on Redis Cluster (BullMQ's Lua
 * scripts need that), apart from the index's `{<prefix>}` slot.
 */
export interface QueueNames {
  /** The `prefix` option for every BullMQ Queue, Worker and QueueEvents. */
  bullPrefix: string;
  discoveries: string;
  peerLookups: string;
  metadata: string;
}

export function queueNames(keys: IndexKeys): QueueNames {
  return { bullPrefix: `{${keys.prefix}:bull}`, discoveries: 'discoveries', peerLookups: 'peer-lookups', metadata: 'metadata' };
}

/**
 * The data of a discovery job. `id` (newBatchId) is fixed when the batch is sealed and is also
 * the job id, so a batch delivered twice (a timed-out add that did land, a spool replay) is
 * applied once. Read back from Redis, the events are untrusted until parseDiscoveryJob.
 */
export interface DiscoveryBatchJob {
  id: string;
  events: Discovery[];
}

/** The data of a peer-lookup job. */
export interface PeerLookupJob {
  infohash: string;
}

/** The data of a metadata (BEP 9) job. */
export interface MetadataJob {
  infohash: string;
}
