/**
 * What the migrations-*.test.ts files share: the file's redis-server with, per test, a client
 * and an index of its own that is not yet migrated (`fresh`), and the files' infohashes.
 */
import type { ExecutionContext, TestFn } from 'ava';
import { type Redis } from 'ioredis';
import { IndexKeys } from '../../indexer/keys.js';
import { infohashes } from './generators.js';
import { randomPrefix, type RedisFixture, useRedisServer } from './redis.js';

export const IH = infohashes('e');

/** One redis-server for the test file (useRedisServer), and `fresh`: a client and an empty, unversioned index. */
export function useMigrationRedis(test: TestFn): { redis: RedisFixture; fresh: (t: ExecutionContext) => { c: Redis; keys: IndexKeys } } {
  const redis = useRedisServer(test);
  function fresh(t: ExecutionContext): { c: Redis; keys: IndexKeys } {
    return { c: redis.client(t), keys: new IndexKeys(randomPrefix()) };
  }
  return { redis, fresh };
}
