import { randomBytes } from 'node:crypto';
import { Cluster } from 'ioredis';
import { type RedisClient } from '../redis/client.js';

/**
 * Distinct counts of unions of HyperLogLogs that live in different hash slots: schema 5's
 * per-shard census joined with the census schema 4 kept in one key (sharded-queries.ts).
 *
 * On one Redis, `PFCOUNT k1 k2 …` counts a union whatever the keys' tags. Redis Cluster refuses
 * that (CROSSSLOT), so there every HyperLogLog is copied (DUMP, RESTORE: at most 12 KB each)
 * into keys of one temporary slot, counted there, and deleted. Each distinct key is copied once
 * however many unions use it.
 */

/** The temporary copies live this long at most, should the reader die before deleting them. */
const COPY_TTL_MS = 60_000;

export async function hllUnionCounts(redis: RedisClient, unions: ReadonlyArray<readonly string[]>, tmpTag: string): Promise<number[]> {
  if (!(redis instanceof Cluster)) {
    return Promise.all(unions.map((keys) => (keys.length === 0 ? 0 : redis.pfcount(...keys))));
  }
  const distinct = [...new Set(unions.flat())];
  const dumps = await Promise.all(distinct.map((key) => redis.dumpBuffer(key)));
  const run = randomBytes(6).toString('hex');
  const copyOf = new Map<string, string>();
  await Promise.all(
    distinct.map(async (key, i) => {
      const dump = dumps[i];
      if (dump === null || dump === undefined) return;
      const copy = `{${tmpTag}}:hll:${run}:${i}`;
      await redis.restore(copy, COPY_TTL_MS, dump);
      copyOf.set(key, copy);
    }),
  );
  try {
    return await Promise.all(
      unions.map((keys) => {
        const copies = keys.flatMap((k) => (copyOf.has(k) ? [copyOf.get(k)!] : []));
        return copies.length === 0 ? 0 : redis.pfcount(...copies);
      }),
    );
  } finally {
    if (copyOf.size > 0) await redis.del(...copyOf.values());
  }
}
