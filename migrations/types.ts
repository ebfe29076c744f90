import { type IndexConfig } from '../indexer/index-config.js';
import { type IndexKeys } from '../indexer/keys.js';
import { type RedisClient } from '../redis/client.js';

/**
 * One schema step. `up` moves the data from version `version - 1` to `version`. It runs under
 * the migration lock, but a process can still die half-way, so `up` must be resumable: running
 * it again on partly migrated data finishes the job (for example, convert a key only if it
 * still has the old type). Writes should be fenced with the lock (see `lock`) so that a runner
 * that lost its lock cannot keep writing. There are no down migrations.
 */
export interface Migration {
  version: number;
  /** Short kebab-case name, as in the file name (`002-peers-zset.ts` → "peers-zset"). */
  name: string;
  /** One line for `migrate --status`. */
  description: string;
  up(ctx: MigrationContext): Promise<void>;
}

export interface MigrationContext {
  redis: RedisClient;
  keys: IndexKeys;
  config: IndexConfig;
  now(): number;
  log(line: string): void;
  /** The lock key and this runner's token: pass both into Lua scripts to fence their writes. */
  lock: { key: string; token: string };
  /** Throws MigrationLockLostError if the lock was lost (renewal failed). Call between chunks. */
  assertLock(): void;
}
