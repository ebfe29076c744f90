/**
 * Ingest benchmark (issue 5), two parts, against a real redis-server this script starts on a
 * free loopback port (no persistence, its own temp dir):
 *
 * 1. Discoveries per second from producer to queryable state: DiscoveryProducer (batches of
 *    500) → BullMQ → workers (applyShardedBatch: one Lua call per batch on one Redis) until the index's totals
 *    count every event, against a raw ioredis pipeline of the same writes per event (what a
 *    straightforward writer does: HSET/HINCRBY/PFADD/ZADD per event, 500 events per pipeline,
 *    no queue, no idempotency, no aggregation) in the same run. Prints the ratio (target ≥ 0.3).
 * 2. Query latency of GET /api/infohashes/:ih over HTTP (fastify on 127.0.0.1, keep-alive
 *    fetch, one request at a time) with 1,000,000 infohashes stored: p50 and p99.
 *
 *   node --import ./scripts/ts-node-register.mjs bench/ingest.ts [events] [stored infohashes]
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Discovery } from '../crawler/discovery.js';
import { applyShardedBatch } from '../indexer/sharded-apply.js';
import { ShardedIndexKeys } from '../indexer/sharded-keys.js';
import { newBatchId } from '../indexer/batch-id.js';
import { createApiServer } from '../server/api/server.js';
import { IndexKeys } from '../indexer/keys.js';
import { connectRedis } from '../redis/connection.js';
import { shardedTotals } from '../indexer/sharded-queries.js';
import { ensureSchema } from '../migrations/runner.js';
import { startRedisServer } from '../testkit/redis-server.js';
import { DiscoveryProducer } from '../workers/discovery-producer.js';
import { startWorkers } from '../workers/worker-set.js';

const EVENTS = Number(process.argv[2] ?? 200_000);
const STORED = Number(process.argv[3] ?? 1_000_000);
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

const server = await startRedisServer();
const dataDir = mkdtempSync(join(tmpdir(), 'dhtscope-bench-ingest-'));
const connection = await connectRedis({ url: server.url, dataDir });
const redis = connection.client;
const events = makeEvents(EVENTS);
console.log(`# Ingest benchmark: ${EVENTS.toLocaleString('en')} discoveries, then query latency with ${STORED.toLocaleString('en')} infohashes`);
console.log(`Node ${process.version}, redis-server on 127.0.0.1 (no persistence), ${new Date().toISOString()}\n`);

// ---- 1a. ours: producer → BullMQ → workers → index ----
const ours = new IndexKeys(`bench-ours-${hex(3)}`);
await ensureSchema(redis, ours, { migrate: true });
const workers = await startWorkers({ connection, keys: ours, concurrency: 4 });
const producer = await DiscoveryProducer.open({ connection, keys: ours, spoolDir: join(dataDir, 'spool') });
const redisCpu = async (): Promise<number> => {
  const info = await redis.info('cpu');
  const field = (name: string): number => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? NaN);
  return field('used_cpu_user') + field('used_cpu_sys');
};
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
console.log(`\nours: ${(oursMs / 1000).toFixed(2)} s, CPU of this process (producer and workers) ${nodeCpuS.toFixed(2)} s, of redis-server ${redisCpuS.toFixed(2)} s`);
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

// ---- 2. query latency with STORED infohashes ----
const big = new IndexKeys(`bench-q-${hex(3)}`);
await ensureSchema(redis, big, { migrate: true });
const stored: string[] = [];
const t2 = performance.now();
const at = Date.now();
for (let i = 0; i < STORED; i += 10_000) {
  const batch: Discovery[] = [];
  for (let j = i; j < Math.min(STORED, i + 10_000); j++) {
    const ih = hex(20);
    stored.push(ih);
    batch.push({ type: 'infohash', infohash: ih, node: '10.0.0.1:6881', source: 'sample', at });
    if (j % 10 === 0) batch.push({ type: 'peers', infohash: ih, peers: [addr()], node: '10.0.0.1:6881', at });
  }
  await applyShardedBatch(redis, batch, { keys: ShardedIndexKeys.of(big.prefix), batchId: newBatchId(), config: { maxBatchEvents: 20_000 } });
}
const loadMs = performance.now() - t2;
const info = await redis.info('memory');
const usedMb = Number(/used_memory:(\d+)/.exec(info)?.[1] ?? 0) / 2 ** 20;
console.log(`stored ${STORED.toLocaleString('en')} infohashes in ${(loadMs / 1000).toFixed(1)} s; Redis used_memory ${usedMb.toFixed(0)} MiB in all`);

const api = await createApiServer({ redis, keys: big });
const base = await api.listen({ host: '127.0.0.1', port: 0 });
const lat: number[] = [];
for (let i = 0; i < QUERIES + 200; i++) {
  const ih = stored[Math.floor(Math.random() * stored.length)]!;
  const s = performance.now();
  const res = await fetch(`${base}/api/infohashes/${ih}`);
  await res.arrayBuffer();
  if (res.status !== 200) throw new Error(`GET ${ih}: ${res.status}`);
  if (i >= 200) lat.push(performance.now() - s); // the first 200 warm up
}
lat.sort((a, b) => a - b);
const q = (p: number): number => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]!;
console.log(`GET /api/infohashes/:ih over HTTP, ${QUERIES} random stored infohashes one at a time: p50 ${q(0.5).toFixed(2)} ms, p99 ${q(0.99).toFixed(2)} ms, max ${lat.at(-1)!.toFixed(2)} ms`);

await api.close();
await connection.close();
await server.stop();
rmSync(dataDir, { recursive: true, force: true });
