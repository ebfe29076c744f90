/**
 * Writer throughput, schema 4 against schema 5, on one real redis-server this script starts (no
 * persistence, no queue): the same discoveries in batches of BATCH, applied by applyBatch (one
 * script per batch) and by applyShardedBatch (one script per shard the batch touches). Issue 14
 * requires that ingest on one Redis stays at least as fast as schema 4's. Run from the root:
 *
 *   node --import ./scripts/ts-node-register.mjs bench/apply-throughput.ts [events] [batch size]
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { type Discovery } from '../crawler/discovery.js';
import { applyBatch } from '../indexer/apply-batch.js';
import { newBatchId } from '../indexer/batch-id.js';
import { IndexKeys, SCHEMA_4_VERSION } from '../indexer/keys.js';
import { applyShardedBatch } from '../indexer/sharded-apply.js';
import { ShardedIndexKeys } from '../indexer/sharded-keys.js';
import { setShardedSchemaVersion } from '../indexer/sharded-queries.js';
import { MigrationRunner } from '../migrations/runner.js';
import { startRedisServer } from '../testkit/redis-server.js';

const EVENTS = Number(process.argv[2] ?? 200_000);
const BATCH = Number(process.argv[3] ?? 500);

/** bench:ingest's mix: 70% sightings over a pool (repeats), 20% node answers, 10% peer lists. */
function makeEvents(n: number): Discovery[] {
  const address = (): string => `${10 + (randomBytes(1)[0]! % 200)}.${randomBytes(1)[0]}.${randomBytes(1)[0]}.${1 + (randomBytes(1)[0]! % 254)}:${1024 + (randomBytes(2).readUInt16BE(0) % 60_000)}`;
  const pool = Array.from({ length: Math.max(1, Math.floor(n / 3)) }, () => randomBytes(20).toString('hex'));
  const nodes = Array.from({ length: 2_000 }, () => ({ id: randomBytes(20).toString('hex'), address: address() }));
  const at = Date.now();
  return Array.from({ length: n }, (_, i): Discovery => {
    const r = Math.random();
    const node = nodes[i % nodes.length]!;
    const infohash = pool[Math.floor(Math.random() * pool.length)]!;
    if (r < 0.7) return { type: 'infohash', infohash, node: node.address, source: 'sample', at: at + i };
    if (r < 0.9) return { type: 'node', id: node.id, address: node.address, version: '4c540200', rttMs: 50, bep51: true, bep42: false, at: at + i };
    return { type: 'peers', infohash, peers: [address(), address()], node: node.address, at: at + i };
  });
}

const server = await startRedisServer();
const redis = new Redis(server.url);
try {
  const events = makeEvents(EVENTS);
  const batches: Discovery[][] = [];
  for (let i = 0; i < events.length; i += BATCH) batches.push(events.slice(i, i + BATCH));
  const v4 = new IndexKeys('throughput4');
  await new MigrationRunner(redis, v4).migrate({ to: SCHEMA_4_VERSION }); // schema 4's writer
  const v5 = new ShardedIndexKeys('throughput5');
  await setShardedSchemaVersion(redis, v5, 5);

  /** Microseconds Redis spent in scripts so far (INFO commandstats, EVALSHA and EVAL). */
  const scriptUsec = async (): Promise<number> => {
    const info = await redis.info('commandstats');
    return [...info.matchAll(/cmdstat_eval(?:sha)?:calls=\d+,usec=(\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
  };
  const inRedis: number[] = [];
  const time = async (apply: (b: Discovery[]) => Promise<unknown>): Promise<number> => {
    const u0 = await scriptUsec();
    const t0 = performance.now();
    for (const b of batches) await apply(b);
    const rate = EVENTS / ((performance.now() - t0) / 1000);
    inRedis.push((await scriptUsec()) - u0);
    return rate;
  };
  const now = Date.now();
  const schema4 = await time((b) => applyBatch(redis, b, { keys: v4, batchId: newBatchId(), now }));
  const schema5 = await time((b) => applyShardedBatch(redis, b, { keys: v5, batchId: newBatchId(), now }));
  console.log(`# Writer throughput: ${EVENTS.toLocaleString('en')} discoveries in batches of ${BATCH}, one redis-server on 127.0.0.1`);
  console.log(`Node ${process.version}, ${new Date().toISOString()}\n`);
  console.log('| writer | discoveries/s | time in Redis scripts |');
  console.log('|---|---:|---:|');
  console.log(`| schema 4 (applyBatch: one script per batch) | ${Math.round(schema4).toLocaleString('en')} | ${(inRedis[0]! / 1e6).toFixed(2)} s |`);
  console.log(`| schema 5 (applyShardedBatch: one script per batch on one Redis) | ${Math.round(schema5).toLocaleString('en')} | ${(inRedis[1]! / 1e6).toFixed(2)} s |`);
  console.log(`\nratio schema 5 / schema 4: ${(schema5 / schema4).toFixed(2)}`);
} finally {
  redis.disconnect();
  await server.stop();
}
