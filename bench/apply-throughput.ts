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
import { applyShardedBatch, SHARDED_SCHEMA_VERSION } from '../indexer/sharded-apply.js';
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
  await setShardedSchemaVersion(redis, v5, SHARDED_SCHEMA_VERSION);

  /** Microseconds Redis spent in scripts so far (INFO commandstats, EVALSHA and EVAL). */
  const scriptUsec = async (): Promise<number> => {
    const info = await redis.info('commandstats');
    return [...info.matchAll(/cmdstat_eval(?:sha)?:calls=\d+,usec=(\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
  };
  /** Calls and microseconds per command so far (INFO commandstats; commands inside scripts count). */
  const commandStats = async (): Promise<Map<string, { calls: number; usec: number }>> => {
    const info = await redis.info('commandstats');
    return new Map([...info.matchAll(/cmdstat_([\w|]+):calls=(\d+),usec=(\d+)/g)].map((m) => [m[1]!, { calls: Number(m[2]), usec: Number(m[3]) }]));
  };
  const inRedis: number[] = [];
  const commands: string[] = [];
  const time = async (apply: (b: Discovery[]) => Promise<unknown>): Promise<number> => {
    const u0 = await scriptUsec();
    const c0 = await commandStats();
    const t0 = performance.now();
    for (const b of batches) await apply(b);
    const rate = EVENTS / ((performance.now() - t0) / 1000);
    inRedis.push((await scriptUsec()) - u0);
    const c1 = await commandStats();
    const delta = [...c1]
      .map(([name, c]) => ({ name, calls: c.calls - (c0.get(name)?.calls ?? 0), usec: c.usec - (c0.get(name)?.usec ?? 0) }))
      .filter((c) => c.calls > 0 && !/^(eval|evalsha|info)$/.test(c.name))
      .sort((a, b) => b.calls - a.calls);
    const total = delta.reduce((n, c) => n + c.calls, 0);
    const usec = delta.reduce((n, c) => n + c.usec, 0);
    commands.push(`${(total / batches.length).toFixed(0)} calls per batch, ${(usec / 1e6).toFixed(2)} s in them: ${delta.slice(0, 10).map((c) => `${c.name} ${(c.calls / batches.length).toFixed(1)} (${(c.usec / 1e6).toFixed(2)} s)`).join(', ')}`);
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
  console.log(`\nRedis commands inside the scripts (INFO commandstats):\n- schema 4: ${commands[0]}\n- schema 5: ${commands[1]}`);
  console.log(`\nratio schema 5 / schema 4: ${(schema5 / schema4).toFixed(2)}`);
} finally {
  redis.disconnect();
  await server.stop();
}
