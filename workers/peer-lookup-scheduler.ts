import { type Queue } from 'bullmq';
import { DEFAULT_INDEX_CONFIG } from '../indexer/index-config.js';
import { type IndexKeys } from '../indexer/keys.js';
import { claimPeerLookups } from '../indexer/peer-lookup-claims.js';
import { ShardedIndexKeys } from '../indexer/sharded-keys.js';
import { getShardedPeers } from '../indexer/sharded-queries.js';
import { readSwarmEstimates } from '../indexer/swarm-estimates.js';
import { type RedisClient } from '../redis/client.js';
import { JOB_ATTEMPTS, JOB_BACKOFF_MS, KEEP_COMPLETED_JOBS, KEEP_FAILED_JOBS, PEER_LOOKUP_QUEUE_MAX, PEER_LOOKUP_REFRESH_MS, SCRAPE_REFRESH_MS } from './constants.js';
import { type PeerLookupJob } from './queues.js';

/**
 * Queues peer lookups for infohashes that have no live peers in the index, or whose BEP 33
 * scrape estimate (which the lookup takes, indexer/swarm-estimates.ts) is missing or older than
 * `scrapeRefreshMs`: without the second rule, a torrent the crawl finds with peers would never
 * get seeders and leechers.
 *
 * - Each infohash is looked up at most once per refresh window: it is claimed for the window in
 *   its index record (indexer/peer-lookup-claims.ts: 4 bytes in the record, where a BullMQ
 *   deduplication key per infohash cost about 238 B), so the rule holds across schedulers and
 *   after the finished job has left the queue. The job id is `<infohash>-<window>` (window =
 *   floor(now / refreshMs); BullMQ ids may not hold ':').
 * - An infohash is claimed before its peers are checked: one that still has live peers uses up
 *   its window without a lookup, which saves reading the peers of every infohash a batch saw.
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
  /** An infohash with live peers is looked up again once its scrape estimate is this old (default SCRAPE_REFRESH_MS). */
  scrapeRefreshMs?: number;
}

export interface ScheduleResult {
  /** Handed to the queue. */
  queued: number;
  /** Not queued because the queue was full (for a scrape-only lookup: half full). */
  skipped: number;
  /** Not needed: the infohash has live peers and a recent scrape, or was claimed in this window already. */
  fresh: number;
}

export class PeerLookupScheduler {
  private readonly now: () => number;
  private readonly refreshMs: number;
  private readonly queueMax: number;
  private readonly peerTtlMs: number;
  private readonly scrapeRefreshMs: number;

  constructor(private readonly o: PeerLookupSchedulerOptions) {
    this.now = o.now ?? Date.now;
    this.refreshMs = o.refreshMs ?? PEER_LOOKUP_REFRESH_MS;
    this.queueMax = o.queueMax ?? PEER_LOOKUP_QUEUE_MAX;
    this.peerTtlMs = o.peerTtlMs ?? DEFAULT_INDEX_CONFIG.peerTtlMs;
    this.scrapeRefreshMs = o.scrapeRefreshMs ?? SCRAPE_REFRESH_MS;
  }

  /** The job id of a lookup of `infohash` at time `now`. */
  jobId(infohash: string, now: number): string {
    return `${infohash}-${Math.floor(now / this.refreshMs)}`;
  }

  /** Queues lookups for those of `infohashes` (lowercase hex) that need one (see above) and had none in this window. */
  async schedule(infohashes: Iterable<string>): Promise<ScheduleResult> {
    const list = [...new Set(infohashes)];
    if (list.length === 0) return { queued: 0, skipped: 0, fresh: 0 };
    const now = this.now();
    // Room first: what cannot be queued is not claimed, so a later batch can still queue it.
    const waiting = await this.o.queue.getWaitingCount();
    const room = Math.max(0, this.queueMax - waiting);
    const keys = ShardedIndexKeys.of(this.o.keys.prefix);
    const claimed = room === 0 ? [] : await claimPeerLookups(this.o.client, keys, list.slice(0, room), { now, windowMs: this.refreshMs });
    const needed = await this.needingLookup(keys, claimed, now);
    // Finding peers comes first: scrape-only lookups (the infohash has live peers) may fill the
    // queue only to half, so a backlog of them never keeps out a torrent without peers. One left
    // out has used its window; it gets another chance in the next.
    let scrapeRoom = Math.max(0, Math.floor(this.queueMax / 2) - waiting);
    const stale = needed.filter((n) => !n.peers || scrapeRoom-- > 0).map((n) => n.infohash);
    const skipped = Math.max(0, list.length - room) + (needed.length - stale.length);
    if (stale.length > 0) {
      await this.o.queue.addBulk(
        stale.map((infohash) => ({
          name: 'lookup',
          data: { infohash },
          opts: {
            jobId: this.jobId(infohash, now),
            attempts: JOB_ATTEMPTS,
            backoff: { type: 'exponential', delay: JOB_BACKOFF_MS },
            removeOnComplete: { count: KEEP_COMPLETED_JOBS },
            removeOnFail: { count: KEEP_FAILED_JOBS },
          },
        })),
      );
    }
    return { queued: stale.length, skipped, fresh: list.length - skipped - stale.length };
  }

  /** Those of `list` with no live peer in the index, or no scrape estimate younger than scrapeRefreshMs. */
  private async needingLookup(keys: ShardedIndexKeys, list: readonly string[], now: number): Promise<Array<{ infohash: string; peers: boolean }>> {
    const [peers, swarms] = await Promise.all([
      Promise.all(list.map((hex) => getShardedPeers(this.o.client, keys, hex, { now, peerTtlMs: this.peerTtlMs, limit: 1 }))),
      readSwarmEstimates(this.o.client, keys, list),
    ]);
    return list.flatMap((infohash, i): Array<{ infohash: string; peers: boolean }> => {
      const hasPeers = peers[i]!.length > 0;
      const scraped = swarms[i] !== null && now - swarms[i]!.at < this.scrapeRefreshMs;
      return !hasPeers || !scraped ? [{ infohash, peers: hasPeers }] : [];
    });
  }
}
