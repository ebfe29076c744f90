import { type RedisOptions } from 'ioredis';
import { type Clock, systemClock } from '../bep5/clock.js';
import { type IndexKeys } from '../indexer/keys.js';
import { type RedisClient } from '../redis/client.js';
import {
  BATCH_MAX_DELAY_MS,
  BATCH_MAX_EVENTS,
  CLOSE_DRAIN_TIMEOUT_MS,
  DELIVERY_MAX_INFLIGHT,
  DELIVERY_TIMEOUT_MS,
  MEMORY_BATCHES_MAX,
  REDELIVERY_INTERVAL_MS,
  SPOOL_FILE_MAX_BYTES,
  SPOOL_MAX_BYTES,
  SPOOL_WRITE_BACKLOG_MAX,
} from './constants.js';

/** The discovery producer's options (workers/discovery-producer.ts) and their defaults (workers/constants.ts says why each value). */

export interface DiscoveryProducerOptions {
  /** Where Redis is: a RedisConnection (redis/connection.ts) or anything that makes clients. */
  connection: { newClient(overrides?: RedisOptions): RedisClient };
  keys: IndexKeys;
  /** Created if missing; the CLI passes `<dataDir>/spool/<prefix>`. One producer per directory. */
  spoolDir: string;
  batchMaxEvents?: number;
  batchMaxDelayMs?: number;
  memoryBatchesMax?: number;
  spoolMaxBytes?: number;
  spoolFileMaxBytes?: number;
  /** Batches waiting for the spool's disk at most (default SPOOL_WRITE_BACKLOG_MAX). */
  spoolWriteBacklogMax?: number;
  deliveryTimeoutMs?: number;
  redeliveryIntervalMs?: number;
  /** Queue adds in flight at once (default DELIVERY_MAX_INFLIGHT). */
  maxInflight?: number;
  /**
   * Batches kept apart by group of index shards (workers/discovery-batcher.ts): 1 (the default)
   * on one Redis, where a batch is one script whatever it touches; SHARD_GROUPS_ON_CLUSTER on a
   * cluster, where it is one script per shard.
   */
  shardGroups?: number;
  /** How long close() waits for Redis before spooling what is left (default CLOSE_DRAIN_TIMEOUT_MS). */
  closeTimeoutMs?: number;
  clock?: Clock;
  log?: (line: string) => void;
}

/** Every option but the connection and the keys, with defaults filled in. */
export type ResolvedProducerOptions = Required<Omit<DiscoveryProducerOptions, 'connection' | 'keys'>>;

export function resolveProducerOptions(options: DiscoveryProducerOptions): ResolvedProducerOptions {
  return {
    spoolDir: options.spoolDir,
    batchMaxEvents: options.batchMaxEvents ?? BATCH_MAX_EVENTS,
    batchMaxDelayMs: options.batchMaxDelayMs ?? BATCH_MAX_DELAY_MS,
    memoryBatchesMax: options.memoryBatchesMax ?? MEMORY_BATCHES_MAX,
    spoolMaxBytes: options.spoolMaxBytes ?? SPOOL_MAX_BYTES,
    spoolFileMaxBytes: options.spoolFileMaxBytes ?? SPOOL_FILE_MAX_BYTES,
    spoolWriteBacklogMax: options.spoolWriteBacklogMax ?? SPOOL_WRITE_BACKLOG_MAX,
    deliveryTimeoutMs: options.deliveryTimeoutMs ?? DELIVERY_TIMEOUT_MS,
    redeliveryIntervalMs: options.redeliveryIntervalMs ?? REDELIVERY_INTERVAL_MS,
    maxInflight: options.maxInflight ?? DELIVERY_MAX_INFLIGHT,
    shardGroups: options.shardGroups ?? 1,
    closeTimeoutMs: options.closeTimeoutMs ?? CLOSE_DRAIN_TIMEOUT_MS,
    clock: unrefTimers(options.clock ?? systemClock),
    log: options.log ?? (() => {}),
  };
}

/** `clock` with every timer unref'd: no timer of the producer keeps the process alive on its own. */
function unrefTimers(clock: Clock): Clock {
  return {
    now: () => clock.now(),
    setTimeout: (fn, ms) => {
      const handle = clock.setTimeout(fn, ms);
      handle.unref?.();
      return handle;
    },
    clearTimeout: (handle) => clock.clearTimeout(handle),
  };
}
