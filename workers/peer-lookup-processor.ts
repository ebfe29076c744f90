import { createHash } from 'node:crypto';
import { type Job } from 'bullmq';
import { type PeerAddress } from '../bep5/compact.js';
import { KrpcAbortError } from '../bep5/errors.js';
import { type DhtNode } from '../bep5/node.js';
import { type Discovery } from '../crawler/discovery.js';
import { ScrapeTally } from '../bep5/scrape-tally.js';
import { applyShardedBatch } from '../indexer/sharded-apply.js';
import { writeSwarmEstimates } from '../indexer/swarm-estimates.js';
import { ShardedIndexKeys } from '../indexer/sharded-keys.js';
import { SchemaMismatchError } from '../indexer/errors.js';
import { type IndexConfig } from '../indexer/index-config.js';
import { type IndexKeys } from '../indexer/keys.js';
import { type RedisClient } from '../redis/client.js';
import { BATCH_MAX_EVENTS, PEER_LOOKUP_APPLIED_TTL_SEC, PEER_LOOKUP_TIMEOUT_MS } from './constants.js';
import { parsePeerLookupJob } from './job-data.js';
import { type PeerLookupJob } from './queues.js';
import { DhtNotReadyError, JobSchemaMismatchError } from './errors.js';

/**
 * The processor of the peer-lookup queue: a get_peers lookup through a started DhtNode, bounded
 * by `timeoutMs`, whose answers are applied to the index as `peers` discoveries, one per node
 * that returned peers (as the crawler reports them). Once converged, the lookup asks the K
 * closest nodes for BEP 33 scrape filters (at most K more packets; BEP 33 piggybacks scrapes on
 * announces the same way), and the seeder and leecher estimates are stored with the minute they
 * were taken (indexer/swarm-estimates.ts).
 *
 * Idempotent: the batch id is derived from the job id, so a retried job (its worker died after
 * applying) finds the batch already applied. The events need no validation: they are built
 * here, typed, from replies bep5 has already checked. A lookup cut short by the timeout keeps
 * what it found; one cut short by shutdown throws, and BullMQ runs it again later.
 */

export interface PeerLookupResult {
  /** Distinct peers found. */
  peers: number;
  /** Nodes that returned peers. */
  nodes: number;
  /** False when nothing was found or the batch had been applied before. */
  applied: boolean;
  /** The BEP 33 estimate stored, or null when the lookup heard from no node (or timed out with no answer). */
  swarm: { seeders: number; leechers: number; filterNodes: number } | null;
  timedOut: boolean;
}

export interface PeerLookupProcessorOptions {
  node: DhtNode;
  client: RedisClient;
  keys: IndexKeys;
  config?: Partial<IndexConfig>;
  timeoutMs?: number;
  now?: () => number;
  onResult?: (result: PeerLookupResult) => void;
  /** Called when the index is at another schema version: the worker set stops taking jobs. */
  onSchemaMismatch?: (err: JobSchemaMismatchError) => void;
}

export type PeerLookupProcessor = (job: Pick<Job<PeerLookupJob>, 'data' | 'id'>, token?: string, signal?: AbortSignal) => Promise<PeerLookupResult>;

const addressText = (a: PeerAddress): string => (a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`);

/** The batch id of a lookup job's discoveries: fixed by the job id, so retries are no-ops. */
export function lookupBatchId(jobId: string): string {
  return createHash('sha1').update(`peer-lookup\n${jobId}`).digest('hex');
}

export function createPeerLookupProcessor(o: PeerLookupProcessorOptions): PeerLookupProcessor {
  const now = o.now ?? Date.now;
  const timeoutMs = o.timeoutMs ?? PEER_LOOKUP_TIMEOUT_MS;
  // Three declared parameters: BullMQ passes the abort signal only to processors that take one.
  return async (job, _token, signal) => {
    const { infohash } = parsePeerLookupJob(job.data);
    if ((o.node.table()?.size ?? 0) === 0) throw new DhtNotReadyError();
    const timeout = AbortSignal.timeout(timeoutMs);
    const events: Discovery[] = [];
    const peers = new Set<string>();
    let timedOut = false;
    const tally = new ScrapeTally();
    let answered = 0;
    try {
      const lookupSignal = signal ? AbortSignal.any([timeout, signal]) : timeout;
      for await (const e of o.node.findPeers(Buffer.from(infohash, 'hex'), { signal: lookupSignal, scrape: true })) {
        tally.add(e);
        if (e.type === 'node-answered') answered++;
        if (e.type !== 'peers' || e.peers.length === 0 || events.length >= BATCH_MAX_EVENTS) continue;
        const list = e.peers.map(addressText);
        for (const p of list) peers.add(p);
        events.push({ type: 'peers', infohash, peers: list, node: addressText(e.from), at: now() });
      }
    } catch (err) {
      if (!(err instanceof KrpcAbortError) || signal?.aborted === true || !timeout.aborted) throw err;
      timedOut = true;
    }
    let applied = false;
    let swarm: PeerLookupResult['swarm'] = null;
    try {
      const keys = ShardedIndexKeys.of(o.keys.prefix);
      if (events.length > 0) {
        const config = { appliedTtlSec: PEER_LOOKUP_APPLIED_TTL_SEC, ...o.config };
        const r = await applyShardedBatch(o.client, events, { keys, batchId: lookupBatchId(job.id ?? infohash), now: now(), config, awaitReplica: true });
        applied = r.applied > 0;
      }
      // Nodes that answered and held nothing say "no swarm" (0 and 0); a lookup that heard from
      // no node says nothing, and the stored estimate stays.
      if (answered > 0) {
        const e = tally.estimate();
        swarm = { seeders: Math.round(e.seeders), leechers: Math.round(e.leechers), filterNodes: e.filterNodes };
        await writeSwarmEstimates(o.client, keys, [{ infohash, seeders: e.seeders, leechers: e.leechers, at: now() }], { popularCap: o.config?.popularCap });
      }
    } catch (err) {
      if (!(err instanceof SchemaMismatchError)) throw err;
      const fatal = new JobSchemaMismatchError(err.message, err.found, err.expected);
      o.onSchemaMismatch?.(fatal);
      throw fatal;
    }
    const result: PeerLookupResult = { peers: peers.size, nodes: events.length, applied, timedOut, swarm };
    o.onResult?.(result);
    return result;
  };
}
