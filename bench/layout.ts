/**
 * Redis memory per infohash for candidate index layouts (issue 14: "measure before choosing"),
 * on a real redis-server this script starts (no persistence). Run from the repository root:
 *
 *   node --import ./scripts/ts-node-register.mjs bench/layout.ts [infohashes]   # default 200,000
 *
 * The event mix is bench:ingest's: per stored infohash about 2.1 sightings from random nodes,
 * and for about 30% of them a peer list of two peers. Each layout stores the same infohashes in
 * its own server database (FLUSHALL between layouts); the figure is the growth of
 * `used_memory` divided by the infohashes stored. Layouts:
 *
 * - schema-4: today's writer (applyBatch): a HASH per infohash, a HyperLogLog of its sources,
 *   a ZSET of its peers, the registry ZSET, recent/popular capped at 10,000. Census and stats
 *   keys are left out of every layout (they do not grow per infohash).
 * - schema-4 without the HLL / registry: the same, minus what each of those costs.
 * - bucketed-B: one listpack HASH per bucket of B-bit infohash prefix (2^B buckets); field =
 *   the 20 binary bytes, value = a packed record: first and last seen (6 bytes each, ms), seen
 *   count (4), a 32-bit source bitmap (linear counting instead of an HLL), peer count (2).
 *   Peers, where an infohash has some: one STRING of packed peers (6 bytes IPv4 + port, 4 bytes
 *   seconds) per infohash. A per-bucket count replaces the registry's ZCARD.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { type Discovery } from '../crawler/discovery.js';
import { applyBatch } from '../indexer/apply-batch.js';
import { newBatchId } from '../indexer/batch-id.js';
import { IndexKeys, SCHEMA_4_VERSION } from '../indexer/keys.js';
import { applyShardedBatch, SHARDED_SCHEMA_VERSION } from '../indexer/sharded-apply.js';
import { ShardedIndexKeys } from '../indexer/sharded-keys.js';
import { setShardedSchemaVersion } from '../indexer/sharded-queries.js';
import { MigrationRunner } from '../migrations/runner.js';
import { startRedisServer } from '../testkit/redis-server.js';

const N = Number(process.argv[2] ?? 200_000);
const BATCH = 5_000;

interface Infohash {
  id: Buffer;
  sightings: Array<{ node: string; at: number }>;
  peers: string[];
}

function randomAddress(): string {
  const b = randomBytes(6);
  return `${10 + (b[0]! % 200)}.${b[1]}.${b[2]}.${1 + (b[3]! % 254)}:${1024 + (b.readUInt16BE(4) % 60000)}`;
}

/** The infohashes and what the ingest mix says about each. */
function makeData(n: number): Infohash[] {
  const nodes = Array.from({ length: 2_000 }, randomAddress);
  const at = Date.now();
  return Array.from({ length: n }, (_, i) => {
    const sightings = Array.from({ length: 1 + (Math.random() < 0.7 ? 1 : 0) + (Math.random() < 0.4 ? 1 : 0) }, (_, s) => ({ node: nodes[(i * 7 + s * 13) % nodes.length]!, at: at + i + s }));
    return { id: randomBytes(20), sightings, peers: Math.random() < 0.3 ? [randomAddress(), randomAddress()] : [] };
  });
}

async function usedMemory(redis: Redis): Promise<number> {
  return Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]);
}

/** The discoveries that say what the data says of these infohashes. */
function eventsOf(infohashes: readonly Infohash[]): Discovery[] {
  const events: Discovery[] = [];
  for (const ih of infohashes) {
    const hex = ih.id.toString('hex');
    for (const s of ih.sightings) events.push({ type: 'infohash', infohash: hex, node: s.node, source: 'sample', at: s.at });
    if (ih.peers.length > 0) events.push({ type: 'peers', infohash: hex, peers: ih.peers, node: ih.sightings[0]!.node, at: ih.sightings[0]!.at });
  }
  return events;
}

async function schema4(redis: Redis, data: Infohash[], variant: 'full' | 'no-hll' | 'no-registry'): Promise<void> {
  const keys = new IndexKeys('layout');
  await new MigrationRunner(redis, keys).migrate({ to: SCHEMA_4_VERSION }); // schema 4's writer
  for (let b = 0; b < data.length; b += BATCH) {
    const events = eventsOf(data.slice(b, b + BATCH));
    await applyBatch(redis, events, { keys, batchId: newBatchId(), now: Date.now(), config: { maxBatchEvents: 20_000 } });
  }
  // What the variants leave out, removed after the fact (the writer has no switch for it).
  if (variant !== 'full') {
    const p = redis.pipeline();
    for (const ih of data) {
      const hex = ih.id.toString('hex');
      if (variant === 'no-hll') p.del(keys.infohashSources(hex));
    }
    if (variant === 'no-registry') p.del(keys.infohashes);
    await p.exec();
  }
  // Per-batch markers and stats do not grow per infohash.
  const markers = await redis.keys('{layout}:applied:*');
  if (markers.length > 0) await redis.del(...markers);
  const stats = await redis.keys('{layout}:stats:*');
  if (stats.length > 0) await redis.del(...stats);
}

function packRecord(ih: Infohash): Buffer {
  const r = Buffer.alloc(22);
  const first = ih.sightings[0]!.at;
  const last = ih.sightings[ih.sightings.length - 1]!.at;
  r.writeUIntBE(first, 0, 6);
  r.writeUIntBE(last, 6, 6);
  r.writeUInt32BE(ih.sightings.length, 12);
  let bitmap = 0;
  for (const s of ih.sightings) bitmap |= 1 << (fnv(s.node) & 31);
  r.writeUInt32BE(bitmap >>> 0, 16);
  r.writeUInt16BE(ih.peers.length, 20);
  return r;
}

function packPeers(ih: Infohash): Buffer {
  const out = Buffer.alloc(10 * ih.peers.length);
  ih.peers.forEach((p, i) => {
    const [host, port] = p.split(':');
    host!.split('.').forEach((o, j) => (out[i * 10 + j] = Number(o)));
    out.writeUInt16BE(Number(port), i * 10 + 4);
    out.writeUInt32BE(Math.floor(ih.sightings[0]!.at / 1000), i * 10 + 6);
  });
  return out;
}

function fnv(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

async function bucketed(redis: Redis, data: Infohash[], bits: number, withPeers = true): Promise<void> {
  for (let b = 0; b < data.length; b += BATCH) {
    const p = redis.pipeline();
    for (const ih of data.slice(b, b + BATCH)) {
      const bucket = ih.id.readUInt32BE(0) >>> (32 - bits);
      const key = `{layout:${bucket >>> Math.max(0, bits - 8)}}:r:${bucket.toString(16)}`;
      p.hset(key, ih.id, packRecord(ih));
      p.hincrby(`{layout:${bucket >>> Math.max(0, bits - 8)}}:count`, 'infohashes', 1);
      if (withPeers && ih.peers.length > 0) p.set(`{layout:${bucket >>> Math.max(0, bits - 8)}}:p:${ih.id.toString('hex')}`, packPeers(ih), 'PX', 6 * 3_600_000);
    }
    await p.exec();
  }
}

/** The schema-5 writer itself (indexer/sharded-apply.ts), same events as schema4(). */
async function schema5(redis: Redis, data: Infohash[]): Promise<void> {
  const keys = new ShardedIndexKeys('layout5');
  await setShardedSchemaVersion(redis, keys, SHARDED_SCHEMA_VERSION);
  for (let b = 0; b < data.length; b += BATCH) {
    const events = eventsOf(data.slice(b, b + BATCH));
    await applyShardedBatch(redis, events, { keys, batchId: newBatchId(), config: { maxBatchEvents: 20_000 } });
  }
  for (const shard of keys.shards) {
    const markers = await redis.keys(`${shard.tag}:applied:*`);
    if (markers.length > 0) await redis.del(...markers);
  }
}

const server = await startRedisServer();
const redis = new Redis(server.url);
try {
  const data = makeData(N);
  const layouts: Array<[string, () => Promise<void>]> = [
    ['schema-4 (today)', () => schema4(redis, data, 'full')],
    ['schema-5 writer (sharded-apply: records, peers per hour, recent/popular)', () => schema5(redis, data)],
    ['schema-4 without the sources HLL', () => schema4(redis, data, 'no-hll')],
    ['schema-4 without the registry ZSET', () => schema4(redis, data, 'no-registry')],
    ...[12, 14, 16, 18].map((bits): [string, () => Promise<void>] => [`bucketed, 2^${bits} buckets (+ peer strings)`, () => bucketed(redis, data, bits)]),
    ...[14, 16].map((bits): [string, () => Promise<void>] => [`bucketed, 2^${bits} buckets, records only`, () => bucketed(redis, data, bits, false)]),
  ];
  const encoding = async (): Promise<string> => {
    const [, sample] = await redis.scan('0', 'MATCH', '{layout*}:r:*', 'COUNT', 1000);
    return sample.length > 0 ? String(await redis.object('ENCODING', sample[0]!)) : '-';
  };
  console.log(`# Index layouts: Redis memory per infohash, ${N.toLocaleString('en')} infohashes\n`);
  console.log(`redis-server ${(await redis.info('server')).match(/redis_version:(\S+)/)![1]}, Node ${process.version}, ${new Date().toISOString()}\n`);
  console.log('| layout | bytes per infohash | record encoding |');
  console.log('|---|---:|---|');
  for (const [name, write] of layouts) {
    await redis.flushall();
    const before = await usedMemory(redis);
    await write();
    const after = await usedMemory(redis);
    console.log(`| ${name} | ${((after - before) / N).toFixed(0)} | ${await encoding()} |`);
  }
} finally {
  redis.disconnect();
  await server.stop();
}
