/**
 * Ingest benchmark (issues 5 and 14), two parts, against a real redis-server this script starts
 * on a free loopback port (no persistence, its own temp dir), or with `--cluster` against a real
 * 3-master Redis Cluster (testkit/redis-cluster.ts: one replica each, AOF on):
 *
 * 1. Discoveries per second from producer to queryable state: DiscoveryProducer (batches of
 *    500; on a cluster grouped by shard, as `run` does) → BullMQ → workers (applyShardedBatch: one
 *    Lua call per batch on one Redis, one per shard on a cluster) until the index's totals count
 *    every event, against a raw ioredis pipeline of the same writes per event (what a
 *    straightforward writer does: HSET/HINCRBY/PFADD/ZADD per event, 500 events per pipeline,
 *    no queue, no idempotency, no aggregation) in the same run. Prints the ratio (target ≥ 0.3),
 *    and the CPU that this process and Redis spent.
 * 2. An index of [stored] infohashes (default 1,000,000) loaded in the same mix as
 *    bench/layout.ts (about 2.1 sightings from 2,000 nodes per infohash, a peer list of two for
 *    30%, node answers at the ingest mix's ratio), in batches of 5,000 infohashes. Prints the
 *    growth of `used_memory` per stored infohash (summed over the masters on a cluster, with each
 *    master's share: issue 14 wants each within ±10% of the mean), then the latency of
 *    GET /api/infohashes/:ih over HTTP (fastify on 127.0.0.1, keep-alive fetch, one request at a
 *    time): p50 and p99.
 * 3. Torrent metadata (bench/torrent-mix.ts) stored for a tenth of them, at most 100,000: the
 *    growth of `used_memory` per torrent (blob and search postings), per master on a cluster.
 *
 *   node --import ./scripts/ts-node-register.mjs bench/ingest.ts [events] [stored infohashes] [--cluster]
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster, Redis } from 'ioredis';
import { type Discovery } from '../crawler/discovery.js';
import { applyShardedBatch } from '../indexer/sharded-apply.js';
import { ShardedIndexKeys } from '../indexer/sharded-keys.js';
import { storeShardedMetadata } from '../indexer/sharded-metadata.js';
import { newBatchId } from '../indexer/batch-id.js';
import { createApiServer } from '../server/api/server.js';
import { IndexKeys } from '../indexer/keys.js';
import { connectRedis } from '../redis/connection.js';
import { shardedTotals } from '../indexer/sharded-queries.js';
import { ensureSchema } from '../migrations/runner.js';
import { startRedisCluster } from '../testkit/redis-cluster.js';
import { startRedisServer } from '../testkit/redis-server.js';
import { SHARD_GROUPS_ON_CLUSTER } from '../workers/constants.js';
import { DiscoveryProducer } from '../workers/discovery-producer.js';
import { startWorkers } from '../workers/worker-set.js';
import { torrentSummary } from './torrent-mix.js';

const CLUSTER = process.argv.includes('--cluster');
const positional = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const EVENTS = Number(positional[0] ?? 200_000);
const STORED = Number(positional[1] ?? 1_000_000);
const QUERIES = 5_000;
const hex = (n: number): string => randomBytes(n).toString('hex');
const addr = (): string => `${10 + Math.floor(Math.random() * 200)}.${Math.floor(Math.random() * 256)}.${Math.floor(Math.random() * 256)}.${1 + Math.floor(Math.random() * 254)}:${1024 + Math.floor(Math.random() * 60000)}`;

/** A crawl-like mix: 70% infohash sightings over a pool (repeats), 20% nodes, 10% peers. */
function makeEvents(n: number): Discovery[] {
  const pool = Array.from({ length: Math.max(1, Math.floor(n / 3)) }, () => hex(20));
  const nodes = Array.from({ length: 2_000 }, () => ({ id: hex(20), address: addr() }));
  const at = Date.now();
  const out: Discovery[] = [];
  for (let i = 0; i < n; i++) {
    const r = Math.random();
    const node = nodes[i % nodes.length]!;
    if (r < 0.7) out.push({ type: 'infohash', infohash: pool[Math.floor(Math.random() * pool.length)]!, node: node.address, source: 'sample', at: at + i });
    else if (r < 0.9) out.push({ type: 'node', id: node.id, address: node.address, version: '4c540200', rttMs: 50, bep51: true, bep42: false, at: at + i });
    else out.push({ type: 'peers', infohash: pool[Math.floor(Math.random() * pool.length)]!, peers: [addr(), addr()], node: node.address, at: at + i });
  }
  return out;
}

const dataDir = mkdtempSync(join(tmpdir(), 'dhtscope-bench-ingest-'));
// On a cluster, INFO goes to each master through a client of its own (the Cluster client would
// ask any one node).
const cluster = CLUSTER ? await startRedisCluster() : null;
const server = CLUSTER ? null : await startRedisServer();
const url = cluster?.url ?? server!.url;
const masters = cluster ? cluster.masters().map((m) => new Redis({ host: '127.0.0.1', port: m.port })) : [new Redis(server!.url)];
const connection = await connectRedis({ url, dataDir });
const redis = connection.client;
const infoField = (info: string, name: string): number => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? NaN);
const perMaster = async (section: string, f: (info: string) => number): Promise<number[]> => Promise.all(masters.map(async (m) => f(await m.info(section))));
const events = makeEvents(EVENTS);
console.log(`# Ingest benchmark: ${EVENTS.toLocaleString('en')} discoveries, then query latency with ${STORED.toLocaleString('en')} infohashes`);
const where = cluster ? `a Redis Cluster of ${masters.length} masters on 127.0.0.1 (one replica each, AOF everysec)` : 'redis-server on 127.0.0.1 (no persistence)';
console.log(`Node ${process.version}, ${where}, ${new Date().toISOString()}\n`);

// ---- 1a. ours: producer → BullMQ → workers → index ----
const ours = new IndexKeys(`bench-ours-${hex(3)}`);
await ensureSchema(redis, ours, { migrate: true });
const workers = await startWorkers({ connection, keys: ours, concurrency: 4 });
const producer = await DiscoveryProducer.open({ connection, keys: ours, spoolDir: join(dataDir, 'spool'), shardGroups: redis instanceof Cluster ? SHARD_GROUPS_ON_CLUSTER : 1 });
/** CPU seconds the masters have used so far, summed. */
const redisCpu = async (): Promise<number> => (await perMaster('cpu', (info) => infoField(info, 'used_cpu_user') + infoField(info, 'used_cpu_sys'))).reduce((a, b) => a + b, 0);
const cpu0 = process.cpuUsage();
const redisCpu0 = await redisCpu();
const t0 = performance.now();
// The fastest sustained rate: a batch at a time, waiting while the producer holds a backlog
// in memory (beyond its memory cap it would spill to disk, which only an outage should need).
for (let i = 0; i < events.length; i++) {
  producer.write(events[i]!);
  if (i % 500 === 499) {
    await new Promise((r) => setImmediate(r));
    while (producer.stats().memoryBatches >= 8) await new Promise((r) => setTimeout(r, 1));
  }
}
await producer.flush();
if (producer.stats().droppedEvents > 0) throw new Error(`the producer dropped ${producer.stats().droppedEvents} events`);
const counted = async (): Promise<number> => {
  const t = await shardedTotals(redis, ShardedIndexKeys.of(ours.prefix));
  return (t['events:node'] ?? 0) + (t['events:infohash'] ?? 0) + (t['events:peers'] ?? 0) + (t['events:sample'] ?? 0);
};
while ((await counted()) < EVENTS) await new Promise((r) => setTimeout(r, 5));
const oursMs = performance.now() - t0;
const nodeCpuS = (() => {
  const u = process.cpuUsage(cpu0);
  return (u.user + u.system) / 1e6;
})();
const redisCpuS = (await redisCpu()) - redisCpu0;
console.log(`\nours: ${(oursMs / 1000).toFixed(2)} s, CPU of this process (producer and workers) ${nodeCpuS.toFixed(2)} s, of Redis ${redisCpuS.toFixed(2)} s${cluster ? ' (the masters together)' : ''}`);
await producer.close();
await workers.close();

// ---- 1b. reference: a raw ioredis pipeline of the same writes, per event ----
const raw = `bench-raw-${hex(3)}`;
const t1 = performance.now();
for (let i = 0; i < events.length; i += 500) {
  const p = redis.pipeline();
  for (const e of events.slice(i, i + 500)) {
    if (e.type === 'infohash') {
      const k = `{${raw}}:ih:${e.infohash}`;
      p.hsetnx(k, 'first', e.at);
      p.hset(k, 'last', e.at);
      p.hincrby(k, 'seen', 1);
      p.pfadd(`${k}:src`, e.node);
      p.zadd(`{${raw}}:recent`, 'GT', e.at, e.infohash);
      p.zadd(`{${raw}}:infohashes`, 'NX', e.at, e.infohash);
      p.hincrby(`{${raw}}:totals`, 'events:infohash', 1);
    } else if (e.type === 'peers') {
      const k = `{${raw}}:ih:${e.infohash}:peers`;
      p.zadd(k, 'GT', ...e.peers.flatMap((a) => [e.at, a]));
      p.pexpire(k, 6 * 3600_000);
      p.zadd(`{${raw}}:popular`, e.peers.length, e.infohash);
      p.hincrby(`{${raw}}:totals`, 'events:peers', 1);
    } else if (e.type === 'node') {
      p.pfadd(`{${raw}}:nodes`, e.id);
      p.pfadd(`{${raw}}:nodes:v:${e.version}`, e.id);
      p.hincrby(`{${raw}}:totals`, 'events:node', 1);
    }
  }
  await p.exec();
}
const rawMs = performance.now() - t1;
const oursRate = EVENTS / (oursMs / 1000);
const rawRate = EVENTS / (rawMs / 1000);
console.log('| writer | discoveries/s | total ms |');
console.log('| --- | ---: | ---: |');
console.log(`| ours: producer → BullMQ → workers → index (queryable) | ${Math.round(oursRate).toLocaleString('en')} | ${Math.round(oursMs)} |`);
console.log(`| raw ioredis pipeline, same writes per event | ${Math.round(rawRate).toLocaleString('en')} | ${Math.round(rawMs)} |`);
const ratio = oursRate / rawRate;
console.log(`\nratio ours / raw: ${ratio.toFixed(2)} (target ≥ 0.30: ${ratio >= 0.3 ? 'met' : 'NOT met'})\n`);

// ---- 2. an index of STORED infohashes: memory, then query latency ----
const big = new IndexKeys(`bench-q-${hex(3)}`);
await ensureSchema(redis, big, { migrate: true });
const usedMemory = (): Promise<number[]> => perMaster('memory', (info) => infoField(info, 'used_memory'));
const memoryBefore = await usedMemory();
/** The stored infohashes, 20 bytes each (a Buffer, not 10 M strings). */
const stored = randomBytes(STORED * 20);
const storedHex = (i: number): string => stored.subarray(i * 20, i * 20 + 20).toString('hex');
const loadNodes = Array.from({ length: 2_000 }, () => ({ id: hex(20), address: addr() }));
const PER_BATCH = 5_000;
const t2 = performance.now();
for (let i = 0; i < STORED; i += PER_BATCH) {
  const batch: Discovery[] = [];
  const at = Date.now();
  let sightings = 0;
  for (let j = i; j < Math.min(STORED, i + PER_BATCH); j++) {
    const ih = storedHex(j);
    const n = 1 + (Math.random() < 0.7 ? 1 : 0) + (Math.random() < 0.4 ? 1 : 0);
    for (let s = 0; s < n; s++) batch.push({ type: 'infohash', infohash: ih, node: loadNodes[(j * 7 + s * 13) % loadNodes.length]!.address, source: 'sample', at: at + s });
    sightings += n;
    if (Math.random() < 0.3) batch.push({ type: 'peers', infohash: ih, peers: [addr(), addr()], node: loadNodes[j % loadNodes.length]!.address, at });
  }
  // Node answers at the ingest mix's ratio (20 for every 70 sightings), from the same 2,000 nodes.
  for (let k = 0; k < Math.round((sightings * 2) / 7); k++) {
    const node = loadNodes[(i + k) % loadNodes.length]!;
    batch.push({ type: 'node', id: node.id, address: node.address, version: '4c540200', rttMs: 50, bep51: true, bep42: false, at });
  }
  await applyShardedBatch(redis, batch, { keys: ShardedIndexKeys.of(big.prefix), batchId: newBatchId(), config: { maxBatchEvents: 20_000 } });
}
const loadMs = performance.now() - t2;
const memoryAfter = await usedMemory();
const growth = memoryAfter.map((m, i) => m - memoryBefore[i]!);
const totalGrowth = growth.reduce((a, b) => a + b, 0);
const mib = (b: number): string => (b / 2 ** 20).toFixed(0);
console.log(`stored ${STORED.toLocaleString('en')} infohashes in ${(loadMs / 1000).toFixed(1)} s (${Math.round(STORED / (loadMs / 1000)).toLocaleString('en')} infohashes/s); used_memory grew by ${mib(totalGrowth)} MiB: **${(totalGrowth / STORED).toFixed(1)} B per stored infohash** (${mib(memoryAfter.reduce((a, b) => a + b, 0))} MiB in all)`);
if (cluster) {
  const mean = totalGrowth / growth.length;
  const worst = Math.max(...growth.map((g) => Math.abs(g / mean - 1)));
  console.log(`per master, growth of used_memory: ${growth.map((g, i) => `${masters[i]!.options.port}: ${mib(g)} MiB (${((100 * g) / mean - 100).toFixed(1)}% from the mean)`).join('; ')}`);
  console.log(`balance: the farthest master is ${(100 * worst).toFixed(1)}% from the mean (target within ±10%: ${worst <= 0.1 ? 'met' : 'NOT met'})`);
}

const api = await createApiServer({ redis, keys: big });
const base = await api.listen({ host: '127.0.0.1', port: 0 });
const lat: number[] = [];
for (let i = 0; i < QUERIES + 200; i++) {
  const ih = storedHex(Math.floor(Math.random() * STORED));
  const s = performance.now();
  const res = await fetch(`${base}/api/infohashes/${ih}`);
  await res.arrayBuffer();
  if (res.status !== 200) throw new Error(`GET ${ih}: ${res.status}`);
  if (i >= 200) lat.push(performance.now() - s); // the first 200 warm up
}
lat.sort((a, b) => a - b);
const q = (p: number): number => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]!;
console.log(`GET /api/infohashes/:ih over HTTP, ${QUERIES} random stored infohashes one at a time: p50 ${q(0.5).toFixed(2)} ms, p99 ${q(0.99).toFixed(2)} ms, max ${lat.at(-1)!.toFixed(2)} ms`);
// The dashboard's poll: totals, census and the last hour's per-minute series, merged over the 64 shards.
const statsLat: number[] = [];
for (let i = 0; i < 60; i++) {
  const s = performance.now();
  const res = await fetch(`${base}/api/stats`);
  await res.arrayBuffer();
  if (res.status !== 200) throw new Error(`GET /api/stats: ${res.status}`);
  if (i >= 10) statsLat.push(performance.now() - s);
}
statsLat.sort((a, b) => a - b);
console.log(`GET /api/stats over HTTP, 50 times: p50 ${statsLat[25]!.toFixed(1)} ms, max ${statsLat.at(-1)!.toFixed(1)} ms`);

// ---- 3. torrent metadata for some of the stored infohashes: memory per torrent ----
const TORRENTS = Math.min(100_000, Math.floor(STORED / 10));
const metaBefore = await usedMemory();
const t3 = performance.now();
let nextTorrent = 0;
await Promise.all(
  Array.from({ length: 16 }, async () => {
    while (nextTorrent < TORRENTS) {
      const i = nextTorrent++;
      await storeShardedMetadata(redis, ShardedIndexKeys.of(big.prefix), storedHex(i * 10), torrentSummary(), { fetchedAt: Date.now(), peer: '198.51.100.7:6881' });
    }
  }),
);
const metaMs = performance.now() - t3;
const metaGrowth = (await usedMemory()).map((m, i) => m - metaBefore[i]!);
const metaTotal = metaGrowth.reduce((a, b) => a + b, 0);
// The search postings' share: MEMORY USAGE and ZCARD of every posting list (SCAN: a benchmark only).
let postingBytes = 0;
let postings = 0;
let postingLists = 0;
for (const m of masters) {
  let cursor = '0';
  do {
    const [next, found] = await m.scan(cursor, 'MATCH', `{${big.prefix}:*}:s:*`, 'COUNT', 1000);
    cursor = next;
    for (const key of found) {
      postingBytes += Number(await m.memory('USAGE', key, 'SAMPLES', 0));
      postings += await m.zcard(key);
      postingLists++;
    }
  } while (cursor !== '0');
}
console.log(`stored metadata of ${TORRENTS.toLocaleString('en')} of them (bench/torrent-mix.ts names and files) in ${(metaMs / 1000).toFixed(1)} s: **${(metaTotal / TORRENTS).toFixed(0)} B per torrent**, blob and postings, of which postings ${(postingBytes / TORRENTS).toFixed(0)} B (${postings.toLocaleString('en')} postings in ${postingLists.toLocaleString('en')} lists, ${(postingBytes / postings).toFixed(1)} B per posting by MEMORY USAGE)${cluster ? `; per master ${metaGrowth.map((g) => `${((100 * g) / (metaTotal / metaGrowth.length) - 100).toFixed(1)}%`).join(', ')} from the mean` : ''}`);

await api.close();
await connection.close();
for (const m of masters) m.disconnect();
await (cluster ?? server!).stop();
rmSync(dataDir, { recursive: true, force: true });
