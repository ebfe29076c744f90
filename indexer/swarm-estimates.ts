import { Cluster } from 'ioredis';
import { type RedisClient } from '../redis/client.js';
import { LuaScript } from '../redis/lua-script.js';
import { SchemaMismatchError } from './errors.js';
import { type PageOptions, type SortedSetPage, type SwarmEstimate } from './queries.js';
import { DEFAULT_INDEX_CONFIG } from './index-config.js';
import { SHARDED_SCHEMA_VERSION, shardCap } from './sharded-apply.js';
import { type ShardKeys, type ShardedIndexKeys } from './sharded-keys.js';
import { pageShardedSortedSet } from './sharded-pages.js';

/**
 * BEP 33 scrape estimates per infohash (schema 6): seeders and leechers as the peer-lookup
 * worker estimated them from the bloom filters of the nodes closest to the infohash, and the
 * minute it did. 8 bytes per infohash in its bucket's `sw` HASH (u16 seeders, u16 leechers,
 * u32 minute since the epoch, big-endian), and a capped per-shard ZSET by seeders for the
 * "most seeders" ranking. BEP 33's filters saturate near 8,000 entries, so u16 loses nothing.
 *
 * An estimate is stored only for an infohash with a record, and only if it is newer than the
 * stored one (lua/shard-swarm.lua); retention removes it with the record (sharded-prune.ts).
 */

const swarmScript = LuaScript.fromFile(new URL('./lua/shard-swarm.lua', import.meta.url));

export const SWARM_BYTES = 8;
const MINUTE_MS = 60_000;
const U16_MAX = 0xffff;

export interface SwarmWrite extends SwarmEstimate {
  infohash: string;
}

function count(n: number, what: string): number {
  if (!Number.isFinite(n) || n < 0) throw new RangeError(`${what} must be a non-negative number, got ${n}`);
  return Math.min(Math.round(n), U16_MAX);
}

/** Stores the estimates (each kept only if newer than the stored one); returns how many were stored. */
export async function writeSwarmEstimates(
  redis: RedisClient,
  keys: ShardedIndexKeys,
  estimates: readonly SwarmWrite[],
  opts: { popularCap?: number } = {},
): Promise<number> {
  const cap = shardCap(opts.popularCap ?? DEFAULT_INDEX_CONFIG.popularCap);
  const byShard = new Map<ShardKeys, { keys: string[]; e: Array<{ r: number; w: number; h: string; s: number; l: number; m: number }> }>();
  for (const est of estimates) {
    const hex = est.infohash.toLowerCase();
    const { shard, bucket } = keys.locate(hex);
    let part = byShard.get(shard);
    if (part === undefined) byShard.set(shard, (part = { keys: [shard.schemaVersion, shard.seeders], e: [] }));
    const index = (key: string): number => {
      const i = part!.keys.indexOf(key) + 1;
      return i > 0 ? i : part!.keys.push(key);
    };
    part.e.push({ r: index(shard.records(bucket)), w: index(shard.swarm(bucket)), h: hex, s: count(est.seeders, 'seeders'), l: count(est.leechers, 'leechers'), m: Math.floor(est.at / MINUTE_MS) });
  }
  const run = async (part: { keys: string[]; e: unknown[] }): Promise<number> => {
    const out = (await swarmScript.run(redis, part.keys, [JSON.stringify({ v: String(SHARDED_SCHEMA_VERSION), cap, e: part.e })])) as number | [number, string];
    if (Array.isArray(out)) throw new SchemaMismatchError(Number(out[1]), SHARDED_SCHEMA_VERSION);
    return out;
  };
  const parts = [...byShard.values()];
  if (redis instanceof Cluster) return (await Promise.all(parts.map(run))).reduce((a, b) => a + b, 0);
  let stored = 0;
  for (const part of parts) stored += await run(part);
  return stored;
}

export function decodeSwarm(raw: Uint8Array | null | undefined): SwarmEstimate | null {
  if (raw === null || raw === undefined || raw.length !== SWARM_BYTES) return null;
  const v = Buffer.from(raw.buffer, raw.byteOffset, raw.length);
  return { seeders: v.readUInt16BE(0), leechers: v.readUInt16BE(2), at: v.readUInt32BE(4) * MINUTE_MS };
}

/** The stored estimates of `infohashes` (lowercase hex), in order; null where none was taken. */
export async function readSwarmEstimates(redis: RedisClient, keys: ShardedIndexKeys, infohashes: readonly string[]): Promise<Array<SwarmEstimate | null>> {
  const raws = await Promise.all(
    infohashes.map((hex) => {
      const { shard, bucket } = keys.locate(hex);
      return redis.hgetBuffer(shard.swarm(bucket), Buffer.from(hex, 'hex'));
    }),
  );
  return raws.map(decodeSwarm);
}

/** A page of infohashes by seeders in their latest estimate, most first (schema 4 had none to list). */
export function pageIndexedSeeders(redis: RedisClient, keys: ShardedIndexKeys, opts: PageOptions): Promise<SortedSetPage> {
  return pageShardedSortedSet(redis, keys.shards.map((s) => s.seeders), opts);
}
