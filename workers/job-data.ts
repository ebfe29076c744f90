import { type DiscoveryBatchJob, type MetadataJob, type PeerLookupJob } from './queues.js';
import { InvalidJobDataError } from './worker-errors.js';
import { isCanonicalHexId } from '../bep5/node-id.js';

/**
 * Checks the data of jobs read back from Redis. Anyone who can write to Redis can add a job,
 * so the shape is checked before use; each event inside a batch is checked again by
 * applyBatch (malformed events are skipped and counted there, not fatal to the batch).
 */

/** A batch id is a sha1 in lowercase hex: it names the batch's applied marker in the index. */

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function parseDiscoveryJob(data: unknown, maxEvents: number): DiscoveryBatchJob {
  if (!isRecord(data)) throw new InvalidJobDataError('discovery job data is not an object');
  const { id, events } = data;
  if (typeof id !== 'string' || !isCanonicalHexId(id)) throw new InvalidJobDataError('discovery job id must be 40 lowercase hex digits');
  if (!Array.isArray(events)) throw new InvalidJobDataError('discovery job events must be an array');
  if (events.length > maxEvents) throw new InvalidJobDataError(`discovery job holds ${events.length} events, at most ${maxEvents} are accepted`);
  return { id, events: events as DiscoveryBatchJob['events'] };
}

export function parsePeerLookupJob(data: unknown): PeerLookupJob {
  if (!isRecord(data) || typeof data['infohash'] !== 'string' || !isCanonicalHexId(data['infohash'])) {
    throw new InvalidJobDataError('peer lookup job data must be {infohash: 40 lowercase hex digits}');
  }
  return { infohash: data['infohash'] };
}

export function parseMetadataJob(data: unknown): MetadataJob {
  if (!isRecord(data) || typeof data['infohash'] !== 'string' || !isCanonicalHexId(data['infohash'])) {
    throw new InvalidJobDataError('metadata job data must be {infohash: 40 lowercase hex digits}');
  }
  return { infohash: data['infohash'] };
}
