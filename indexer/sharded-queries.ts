import { type RedisClient } from '../redis/client.js';
import { decodeRecord, estimateSources } from './infohash-record.js';
import { type ShardedIndexKeys } from './sharded-keys.js';

/**
 * Schema 5's readers of what sharded-apply.ts writes: one infohash (one HGET), the count (one
 * HGET per shard, summed) and `recent` (each shard's top, merged). No key is scanned.
 */

export interface ShardedInfohash {
  infohash: string;
  firstSeen: number;
  lastSeen: number;
  seen: number;
  /** Distinct reporting nodes, by linear counting (infohash-record.ts). */
  sources: number;
  peers: number;
}

export async function getShardedInfohash(redis: RedisClient, keys: ShardedIndexKeys, infohash: string): Promise<ShardedInfohash | null> {
  const hex = infohash.toLowerCase();
  const { shard, bucket } = keys.locate(hex);
  const raw = await redis.hgetBuffer(shard.records(bucket), Buffer.from(hex, 'hex'));
  if (raw === null) return null;
  const r = decodeRecord(raw);
  return { infohash: hex, firstSeen: r.firstSeen, lastSeen: r.lastSeen, seen: r.sightings, sources: estimateSources(r.sources), peers: r.peers };
}

/** Every record, counted exactly: the shards' counters summed. */
export async function shardedInfohashCount(redis: RedisClient, keys: ShardedIndexKeys): Promise<number> {
  const counts = await Promise.all(keys.shards.map((s) => redis.hget(s.counts, 'infohashes')));
  return counts.reduce((n, c) => n + Number(c ?? 0), 0);
}

/** The most recently seen infohashes over all shards, newest first (at most each shard's cap). */
export async function shardedRecent(redis: RedisClient, keys: ShardedIndexKeys, limit = 100): Promise<Array<{ infohash: string; lastSeen: number }>> {
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`limit must be a positive integer, got ${limit}`);
  const parts = await Promise.all(keys.shards.map((s) => redis.zrange(s.recent, '0', String(limit - 1), 'REV', 'WITHSCORES')));
  const all: Array<{ infohash: string; lastSeen: number }> = [];
  for (const flat of parts) for (let i = 0; i < flat.length; i += 2) all.push({ infohash: flat[i]!, lastSeen: Number(flat[i + 1]) });
  // Newest first; equal times in infohash order, so pages are stable.
  all.sort((a, b) => b.lastSeen - a.lastSeen || (a.infohash < b.infohash ? -1 : 1));
  return all.slice(0, limit);
}

/** Marks every shard as schema `version` (what migration 005 will do once the data is moved). */
export async function setShardedSchemaVersion(redis: RedisClient, keys: ShardedIndexKeys, version: number): Promise<void> {
  if (!Number.isInteger(version) || version < 0) throw new RangeError(`a schema version is a non-negative integer, got ${version}`);
  await Promise.all(keys.shards.map((s) => redis.set(s.schemaVersion, String(version))));
}
