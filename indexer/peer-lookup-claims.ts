import { Cluster } from 'ioredis';
import { type RedisClient } from '../redis/client.js';
import { LuaScript } from '../redis/lua-script.js';
import { SchemaMismatchError } from './errors.js';
import { SHARDED_SCHEMA_VERSION } from './sharded-apply.js';
import { type ShardKeys, type ShardedIndexKeys } from './sharded-keys.js';

/**
 * One peer lookup per infohash per window, kept in the infohash's record (its lookup minute,
 * infohash-record.ts) instead of a queue key per infohash. Schema 4's scheduler used a BullMQ
 * deduplication key per infohash for it, about 238 B each while the window lasted
 * (bench/RESULTS.md, "Running system"); the record holds it in 4 bytes.
 *
 * A claim is atomic per shard: of two schedulers claiming the same infohash in the same window,
 * one gets it. An infohash without a record is never claimed (it has nothing to look up for).
 */

const claimScript = LuaScript.fromFile(new URL('./lua/shard-claim-lookups.lua', import.meta.url));

const MINUTE_MS = 60_000;

export async function claimPeerLookups(redis: RedisClient, keys: ShardedIndexKeys, infohashes: Iterable<string>, opts: { now: number; windowMs: number }): Promise<string[]> {
  if (!Number.isSafeInteger(opts.windowMs) || opts.windowMs < MINUTE_MS || opts.windowMs % MINUTE_MS !== 0) throw new RangeError(`a lookup window is whole minutes, got ${opts.windowMs} ms`);
  const start = Math.floor(Math.floor(opts.now / opts.windowMs) * opts.windowMs / MINUTE_MS);
  const nowMinute = Math.floor(opts.now / MINUTE_MS);
  const byShard = new Map<ShardKeys, { keys: string[]; e: Array<{ k: number; h: string }> }>();
  for (const infohash of new Set(infohashes)) {
    const hex = infohash.toLowerCase();
    const { shard, bucket } = keys.locate(hex);
    let part = byShard.get(shard);
    if (part === undefined) byShard.set(shard, (part = { keys: [shard.schemaVersion], e: [] }));
    const key = shard.records(bucket);
    let k = part.keys.indexOf(key) + 1;
    if (k === 0) k = part.keys.push(key);
    part.e.push({ k, h: hex });
  }
  const run = async (part: { keys: string[]; e: Array<{ k: number; h: string }> }): Promise<string[]> => {
    const out = (await claimScript.run(redis, part.keys, [JSON.stringify({ v: String(SHARDED_SCHEMA_VERSION), start, now: nowMinute, e: part.e })])) as Array<string | number>;
    if (out[0] === -1) throw new SchemaMismatchError(Number(out[1]), SHARDED_SCHEMA_VERSION);
    return out as string[];
  };
  const parts = [...byShard.values()];
  if (redis instanceof Cluster) return (await Promise.all(parts.map(run))).flat();
  const claimed: string[] = [];
  for (const part of parts) claimed.push(...(await run(part)));
  return claimed;
}
