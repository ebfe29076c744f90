import { type Job } from 'bullmq';
import { type Discovery } from '../crawler/discovery.js';
import { applyShardedBatch } from '../indexer/sharded-apply.js';
import { ShardedIndexKeys } from '../indexer/sharded-keys.js';
import { BatchTooLargeError, SchemaMismatchError } from '../indexer/errors.js';
import { DEFAULT_INDEX_CONFIG, type IndexConfig } from '../indexer/index-config.js';
import { type IndexKeys } from '../indexer/keys.js';
import { type RedisClient } from '../redis/client.js';
import { parseDiscoveryJob } from './job-data.js';
import { type PeerLookupScheduler, type ScheduleResult } from './peer-lookup-scheduler.js';
import { type DiscoveryBatchJob } from './queues.js';
import { InvalidJobDataError, JobSchemaMismatchError } from './errors.js';

/**
 * The processor of the discovery queue: one job is one batch of Discovery events, applied with
 * applyShardedBatch (one Lua call per shard the batch touches, or one in all on one Redis, each
 * idempotent by the batch id). A job run twice, because its worker died after the scripts ran
 * or the producer delivered it twice, finds the batch's applied markers and changes nothing, so
 * counts stay exact whatever BullMQ retries; a job that died between two shards' scripts applies
 * the rest when it runs again.
 *
 * After the batch, infohashes it saw that have no live peers get a peer lookup queued (when a
 * scheduler is given). That runs for a duplicate batch too: a worker that died between the
 * two steps must not lose the lookups, and the scheduler's per-window job id makes it harmless.
 */

export interface DiscoveryJobResult {
  applied: boolean;
  events: number;
  invalid: number;
  newInfohashes: number;
  lookups: ScheduleResult | null;
  /** How long the batch's write took, in ms: the Redis write latency (server/metrics). */
  applyMs: number;
}

export interface DiscoveryProcessorOptions {
  client: RedisClient;
  keys: IndexKeys;
  config?: Partial<IndexConfig>;
  now?: () => number;
  scheduler?: PeerLookupScheduler | null;
  /** Called after each batch (applied or a duplicate): the worker set's counters. */
  onResult?: (result: DiscoveryJobResult) => void;
  /** Called when the index is at another schema version: the worker set stops taking jobs. */
  onSchemaMismatch?: (err: JobSchemaMismatchError) => void;
}

export type DiscoveryProcessor = (job: Pick<Job<DiscoveryBatchJob>, 'data'>) => Promise<DiscoveryJobResult>;

/** The distinct infohashes of a batch's `infohash` events. */
export function sightedInfohashes(events: readonly Discovery[]): string[] {
  const out = new Set<string>();
  for (const e of events) if (e.type === 'infohash') out.add(e.infohash);
  return [...out];
}

export function createDiscoveryProcessor(o: DiscoveryProcessorOptions): DiscoveryProcessor {
  const now = o.now ?? Date.now;
  const maxEvents = o.config?.maxBatchEvents ?? DEFAULT_INDEX_CONFIG.maxBatchEvents;
  return async (job) => {
    const batch = parseDiscoveryJob(job.data, maxEvents);
    let applied: { applied: boolean; newInfohashes: number };
    const writeStarted = performance.now();
    try {
      const keys = ShardedIndexKeys.of(o.keys.prefix);
      const r = await applyShardedBatch(o.client, batch.events, { keys, batchId: batch.id, invalid: batch.invalid, now: now(), awaitReplica: true, ...(o.config ? { config: o.config } : {}) });
      applied = { applied: r.applied > 0, newInfohashes: r.newInfohashes };
    } catch (err) {
      if (err instanceof SchemaMismatchError) {
        const fatal = new JobSchemaMismatchError(err.message, err.found, err.expected);
        o.onSchemaMismatch?.(fatal);
        throw fatal;
      }
      if (err instanceof BatchTooLargeError) throw new InvalidJobDataError(err.message);
      throw err; // Redis unreachable, a script error: transient, BullMQ retries with backoff
    }
    const applyMs = performance.now() - writeStarted;
    const lookups = o.scheduler ? await o.scheduler.schedule(sightedInfohashes(batch.events)) : null;
    const result: DiscoveryJobResult = {
      applied: applied.applied,
      events: batch.events.length + batch.invalid,
      invalid: batch.invalid,
      newInfohashes: applied.newInfohashes,
      lookups,
      applyMs,
    };
    o.onResult?.(result);
    return result;
  };
}
