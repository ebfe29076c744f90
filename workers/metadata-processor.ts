import { type Job } from 'bullmq';
import { type PeerAddress } from '../bep5/compact.js';
import { normalizeHost } from '../bep5/ip.js';
import { type IndexKeys } from '../indexer/keys.js';
import { type RedisClient } from '../redis/client.js';
import { getIndexedInfohash } from '../indexer/indexed-reads.js';
import { recordShardedMetadataFailure, shardedMetadataState } from '../indexer/sharded-fetch-state.js';
import { ShardedIndexKeys } from '../indexer/sharded-keys.js';
import { storeShardedMetadata } from '../indexer/sharded-metadata.js';
import { METADATA_PEERS_PER_JOB } from './constants.js';
import { parseMetadataJob } from './job-data.js';
import { fetchMetadata, type FetchMetadataOptions, type FetchMetadataResult, MetadataAbortError, MetadataError } from '../bep9/index.js';
import { type MetadataJob } from './queues.js';

/**
 * The processor of the metadata queue: reads an infohash's newest peers from the index,
 * fetches its info dictionary from them (bep9: BEP 9/10, SHA-1 verified, every
 * limit enforced) and stores the summary (indexer/sharded-metadata.ts). A fetch that fails is
 * recorded in the index's fetch state, which spaces out retries and gives up after a few:
 * the job itself completes, so BullMQ retries are left for Redis trouble.
 *
 * Idempotent: storing the same metadata twice changes nothing, and a failure is recorded once
 * per job (keyed by the job's creation time), so a job redelivered after a crash counts once.
 */

export type MetadataJobStatus = 'stored' | 'unchanged' | 'failed' | 'not-needed' | 'no-peers';

export interface MetadataJobResult {
  status: MetadataJobStatus;
  /** The failure code, when failed. */
  code?: string;
  /** Peers tried. */
  peers: number;
}

export interface MetadataProcessorOptions {
  client: RedisClient;
  keys: IndexKeys;
  now?: () => number;
  /** Fetch from private and loopback peers too (testnets, LANs); default false. */
  allowPrivate?: boolean;
  /** The fetcher (default fetchMetadata); tests may narrow its limits through `fetchOptions`. */
  fetchOptions?: Omit<FetchMetadataOptions, 'signal' | 'allowPrivate'>;
  onResult?: (result: MetadataJobResult) => void;
}

export type MetadataProcessor = (job: Pick<Job<MetadataJob>, 'data' | 'timestamp'>, token?: string, signal?: AbortSignal) => Promise<MetadataJobResult>;

/** "ip:port" or "[v6]:port" as the index stores peers; null when it is neither. */
export function parsePeerAddress(text: string): PeerAddress | null {
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(text) ?? /^([^:]+):(\d{1,5})$/.exec(text);
  if (m === null) return null;
  const host = normalizeHost(m[1]!);
  const port = Number(m[2]);
  return host === undefined || port < 1 || port > 65_535 ? null : { host, port };
}

export function createMetadataProcessor(o: MetadataProcessorOptions): MetadataProcessor {
  const now = o.now ?? Date.now;
  const finish = (r: MetadataJobResult): MetadataJobResult => {
    o.onResult?.(r);
    return r;
  };
  return async (job, _token, signal) => {
    const { infohash } = parseMetadataJob(job.data);
    const keys = ShardedIndexKeys.of(o.keys.prefix);
    const state = await shardedMetadataState(o.client, keys, infohash, { now: now() });
    if (!state.needsMetadata) return finish({ status: 'not-needed', peers: 0 });
    const record = await getIndexedInfohash(o.client, keys, infohash, { now: now(), peersLimit: METADATA_PEERS_PER_JOB });
    const peers = (record?.peers ?? []).map((p) => parsePeerAddress(p.address)).filter((p): p is PeerAddress => p !== null);
    // The failure is keyed by the job's creation time: a redelivered job records it once.
    const fail = async (code: string): Promise<MetadataJobResult> => {
      await recordShardedMetadataFailure(o.client, keys, infohash, { code, at: job.timestamp });
      return finish({ status: 'failed', code, peers: peers.length });
    };
    if (peers.length === 0) return fail('ERR_NO_PEERS');

    let fetched: FetchMetadataResult;
    try {
      fetched = await fetchMetadata(Buffer.from(infohash, 'hex'), peers, {
        ...o.fetchOptions,
        ...(signal ? { signal } : {}),
        allowPrivate: o.allowPrivate ?? false,
      });
    } catch (err) {
      // Shutdown: let BullMQ run the job again later, nothing recorded.
      if (err instanceof MetadataAbortError) throw err;
      if (err instanceof MetadataError) return fail(err.code);
      throw err;
    }
    const stored = await storeShardedMetadata(o.client, keys, infohash, fetched.parsed, { fetchedAt: now(), peer: fetched.peer });
    return finish({ status: stored.status === 'stored' ? 'stored' : 'unchanged', peers: peers.length });
  };
}
