/**
 * Writer throughput, schema 4 against schema 5, on one real redis-server this script starts (no
 * persistence, no queue): the same discoveries in batches of BATCH, applied by applyBatch (one
 * script per batch) and by applyShardedBatch (one script per shard the batch touches). Issue 14
 * requires that ingest on one Redis stays at least as fast as schema 4's. Run from the root:
 *
 *   node --import ./scripts/ts-node-register.mjs bench/apply-throughput.ts [events] [batch size]
 */
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
import { ingestMix } from './ingest-mix.js';

const EVENTS = Number(process.argv[2] ?? 200_000);
const BATCH = Number(process.argv[3] ?? 500);

const server = await startRedisServer();
const redis = new Redis(server.url);
try {
  const events = ingestMix(EVENTS);
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
