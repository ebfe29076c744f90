import { type DiscoveryBatchJob, type MetadataJob, type PeerLookupJob } from './queues.js';
import { InvalidJobDataError } from './errors.js';
import { isCanonicalHexId } from '../bep5/node-id.js';
import { validateDiscoveries } from '../crawler/discovery.js';

/**
 * Checks the data of jobs read back from Redis. Anyone who can write to Redis can add a job,
 * so the shape is checked before use. A batch's events are validated here, once: what follows
 * (applyBatch, the lookups it schedules) takes them as typed. A malformed event is dropped and
 * counted, not fatal to its batch.
 */

/** A discovery job as checked: only valid events, and how many malformed ones were dropped. */
export interface ValidDiscoveryBatch extends DiscoveryBatchJob {
  invalid: number;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function parseDiscoveryJob(data: unknown, maxEvents: number): ValidDiscoveryBatch {
  if (!isRecord(data)) throw new InvalidJobDataError('discovery job data is not an object');
  const { id, events } = data;
  if (typeof id !== 'string' || !isCanonicalHexId(id)) throw new InvalidJobDataError('discovery job id must be 40 lowercase hex digits');
  if (!Array.isArray(events)) throw new InvalidJobDataError('discovery job events must be an array');
  if (events.length > maxEvents) throw new InvalidJobDataError(`discovery job holds ${events.length} events, at most ${maxEvents} are accepted`);
  return { id, ...validateDiscoveries(events) };
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
