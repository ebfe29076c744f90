import { type Discovery } from '../../crawler/discovery.js';
import { getIndexedInfohash, indexedInfohashCount } from '../../indexer/indexed-reads.js';
import { shardedTotals } from '../../indexer/sharded-queries.js';
import { type IndexConfig } from '../../indexer/index-config.js';
import { type IndexKeys } from '../../indexer/keys.js';
import { type MetadataFailure } from '../../indexer/metadata-fetch-state.js';
import { type MetadataInput, type StoreMetadataOptions } from '../../indexer/metadata-store.js';
import { type QueryOptions } from '../../indexer/queries.js';
import { applyShardedBatch } from '../../indexer/sharded-apply.js';
import { recordShardedMetadataFailure, shardedMetadataState } from '../../indexer/sharded-fetch-state.js';
import { ShardedIndexKeys } from '../../indexer/sharded-keys.js';
import { getShardedMetadata, storeShardedMetadata } from '../../indexer/sharded-metadata.js';
import { type RedisClient } from '../../redis/client.js';

/**
 * The index's writers and readers (schema 5) called with the IndexKeys a test already has, as
 * the workers and the API call them: for tests that seed an index and check what the system
 * shows, not the schema itself.
 */

export function applyIndexed(c: RedisClient, events: readonly Discovery[], opts: { keys: IndexKeys; batchId: string; now?: number; invalid?: number; config?: Partial<IndexConfig> }) {
  return applyShardedBatch(c, events, { ...opts, keys: ShardedIndexKeys.of(opts.keys.prefix) });
}

export function storeIndexed(c: RedisClient, keys: IndexKeys, infohash: string, summary: MetadataInput, opts: StoreMetadataOptions) {
  return storeShardedMetadata(c, ShardedIndexKeys.of(keys.prefix), infohash, summary, opts);
}

export function recordFailureIndexed(c: RedisClient, keys: IndexKeys, infohash: string, failure: MetadataFailure) {
  return recordShardedMetadataFailure(c, ShardedIndexKeys.of(keys.prefix), infohash, failure);
}

export function getIndexed(c: RedisClient, keys: IndexKeys, infohash: string, opts: QueryOptions & { peersLimit?: number } = {}) {
  return getIndexedInfohash(c, ShardedIndexKeys.of(keys.prefix), infohash, opts);
}

export function countIndexed(c: RedisClient, keys: IndexKeys): Promise<number> {
  return indexedInfohashCount(c, ShardedIndexKeys.of(keys.prefix));
}

export function totalsIndexed(c: RedisClient, keys: IndexKeys): Promise<Record<string, number>> {
  return shardedTotals(c, ShardedIndexKeys.of(keys.prefix));
}

export function metadataIndexed(c: RedisClient, keys: IndexKeys, infohash: string) {
  return getShardedMetadata(c, ShardedIndexKeys.of(keys.prefix), infohash);
}

export function stateIndexed(c: RedisClient, keys: IndexKeys, infohash: string, opts: { now?: number } = {}) {
  return shardedMetadataState(c, ShardedIndexKeys.of(keys.prefix), infohash, opts);
}
