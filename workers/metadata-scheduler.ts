import { type Queue } from 'bullmq';
import { type IndexKeys } from '../indexer/keys.js';
import { type RedisClient } from '../redis/client.js';
import { shardedMetadataCandidates } from '../indexer/sharded-fetch-state.js';
import { ShardedIndexKeys } from '../indexer/sharded-keys.js';
import { JOB_ATTEMPTS, JOB_BACKOFF_MS, KEEP_COMPLETED_JOBS, KEEP_FAILED_JOBS, METADATA_DEDUP_MS, METADATA_QUEUE_MAX, METADATA_SWEEP_BATCH } from './constants.js';
import { type MetadataJob } from './queues.js';

/**
 * Queues metadata fetches for infohashes that have peers and no metadata (never tried, or
 * their retry is due: the fetch state lives in the index, indexer/sharded-fetch-state.ts).
 * Every worker process sweeps; BullMQ's deduplication id `meta-<infohash>` makes the sweeps of
 * several processes queue each infohash once per window. The queue is bounded.
 */
export interface MetadataSchedulerOptions {
  client: RedisClient;
  keys: IndexKeys;
  queue: Queue<MetadataJob>;
  now?: () => number;
  batch?: number;
  queueMax?: number;
  dedupMs?: number;
}

export interface MetadataSweepResult {
  queued: number;
  /** Candidates left for a later sweep because the queue was full. */
  skipped: number;
}

export class MetadataScheduler {
  private readonly now: () => number;

  constructor(private readonly o: MetadataSchedulerOptions) {
    this.now = o.now ?? Date.now;
  }

  async sweep(): Promise<MetadataSweepResult> {
    const queueMax = this.o.queueMax ?? METADATA_QUEUE_MAX;
    const room = Math.max(0, queueMax - (await this.o.queue.getWaitingCount()));
    const batch = this.o.batch ?? METADATA_SWEEP_BATCH;
    if (room === 0) return { queued: 0, skipped: batch };
    const now = this.now();
    const candidates = (await shardedMetadataCandidates(this.o.client, ShardedIndexKeys.of(this.o.keys.prefix), { limit: Math.min(batch, room), now })).filter((c) => c.peers > 0);
    if (candidates.length === 0) return { queued: 0, skipped: 0 };
    const window = Math.floor(now / (this.o.dedupMs ?? METADATA_DEDUP_MS));
    await this.o.queue.addBulk(
      candidates.map((c) => {
        // The job id changes per window so a due retry is not mistaken for a finished job.
        const jobId = `meta-${c.infohash}-${window}`;
        return {
          name: 'metadata',
          data: { infohash: c.infohash },
          opts: {
            jobId,
            deduplication: { id: `meta-${c.infohash}`, ttl: this.o.dedupMs ?? METADATA_DEDUP_MS },
            // Attempts cover Redis trouble; a failed fetch is recorded and retried by the sweep.
            attempts: JOB_ATTEMPTS,
            backoff: { type: 'exponential', delay: JOB_BACKOFF_MS },
            removeOnComplete: { count: KEEP_COMPLETED_JOBS },
            removeOnFail: { count: KEEP_FAILED_JOBS },
          },
        };
      }),
    );
    return { queued: candidates.length, skipped: 0 };
  }
}
