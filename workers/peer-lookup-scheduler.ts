import { type Queue } from 'bullmq';
import { DEFAULT_INDEX_CONFIG } from '../indexer/index-config.js';
import { type IndexKeys } from '../indexer/keys.js';
import { type RedisClient } from '../redis/client.js';
import { JOB_ATTEMPTS, JOB_BACKOFF_MS, KEEP_COMPLETED_JOBS, KEEP_FAILED_JOBS, PEER_LOOKUP_QUEUE_MAX, PEER_LOOKUP_REFRESH_MS } from './constants.js';
import { type PeerLookupJob } from './queues.js';

/**
 * Queues peer lookups for infohashes that have no live peers in the index.
 *
 * - Each infohash is looked up at most once per refresh window: the job id is
 *   `<infohash>-<window>` (window = floor(now / refreshMs); BullMQ ids may not hold ':'), and
 *   the same id is a BullMQ deduplication key that lives until the window ends, so the rule
 *   holds even after the finished job has been removed from the queue.
 * - The queue is bounded: while `queueMax` lookups wait, new ones are skipped and counted.
 */

export interface PeerLookupSchedulerOptions {
  client: RedisClient;
  keys: IndexKeys;
  queue: Queue<PeerLookupJob>;
  now?: () => number;
  /** One lookup per infohash per this many ms (default PEER_LOOKUP_REFRESH_MS). */
  refreshMs?: number;
  /** No new lookups while this many wait (default PEER_LOOKUP_QUEUE_MAX). */
  queueMax?: number;
  /** A peer seen within this long counts as live (default: the index's peer TTL). */
  peerTtlMs?: number;
}

export interface ScheduleResult {
  /** Handed to the queue (BullMQ drops any already queued in this window). */
  queued: number;
  /** Not queued because the queue was full. */
  skipped: number;
  /** Not needed: the infohash has live peers. */
  fresh: number;
}

export class PeerLookupScheduler {
  private readonly now: () => number;
  private readonly refreshMs: number;
  private readonly queueMax: number;
  private readonly peerTtlMs: number;

  constructor(private readonly o: PeerLookupSchedulerOptions) {
    this.now = o.now ?? Date.now;
    this.refreshMs = o.refreshMs ?? PEER_LOOKUP_REFRESH_MS;
    this.queueMax = o.queueMax ?? PEER_LOOKUP_QUEUE_MAX;
    this.peerTtlMs = o.peerTtlMs ?? DEFAULT_INDEX_CONFIG.peerTtlMs;
  }

  /** The job id of a lookup of `infohash` at time `now`. */
  jobId(infohash: string, now: number): string {
    return `${infohash}-${Math.floor(now / this.refreshMs)}`;
  }

  /** Queues lookups for those of `infohashes` (lowercase hex) that have no live peers. */
  async schedule(infohashes: Iterable<string>): Promise<ScheduleResult> {
    const list = [...new Set(infohashes)];
    if (list.length === 0) return { queued: 0, skipped: 0, fresh: 0 };
    const now = this.now();
    const stale = await this.withoutLivePeers(list, now);
    const fresh = list.length - stale.length;
    if (stale.length === 0) return { queued: 0, skipped: 0, fresh };

    const room = Math.max(0, this.queueMax - (await this.o.queue.getWaitingCount()));
    const take = stale.slice(0, room);
    if (take.length > 0) {
      const windowEndsIn = Math.max(1, (Math.floor(now / this.refreshMs) + 1) * this.refreshMs - now);
      await this.o.queue.addBulk(
        take.map((infohash) => {
          const jobId = this.jobId(infohash, now);
          return {
            name: 'lookup',
            data: { infohash },
            opts: {
              jobId,
              deduplication: { id: jobId, ttl: windowEndsIn },
              attempts: JOB_ATTEMPTS,
              backoff: { type: 'exponential', delay: JOB_BACKOFF_MS },
              removeOnComplete: { count: KEEP_COMPLETED_JOBS },
              removeOnFail: { count: KEEP_FAILED_JOBS },
            },
          };
        }),
      );
    }
    return { queued: take.length, skipped: stale.length - take.length, fresh };
  }

  /** One pipeline: the live peer count of each infohash. */
  private async withoutLivePeers(list: string[], now: number): Promise<string[]> {
    const min = `(${now - this.peerTtlMs}`;
    const p = this.o.client.pipeline();
    for (const hex of list) p.zcount(this.o.keys.infohashPeers(hex), min, '+inf');
    const res = (await p.exec()) ?? [];
    return list.filter((_, i) => {
      const [err, count] = res[i] ?? [new Error('no reply'), 0];
      if (err) throw err;
      return Number(count) === 0;
    });
  }
}
