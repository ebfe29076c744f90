import test from 'ava';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { DhtNode } from '../bep5/node.js';
import { Crawler } from '../crawler/crawler.js';
import { type Discovery, MemorySink, TeeSink } from '../crawler/discovery.js';
import { Testnet } from '../crawler/testnet/testnet.js';
import { IndexKeys } from '../indexer/keys.js';
import { ensureSchema } from '../migrations/runner.js';
import { DiscoveryProducer } from '../workers/discovery-producer.js';
import { type DiscoveryBatchJob, queueNames } from '../workers/queues.js';
import { discoveryQueue, tempDir, testConnection } from './helpers/discovery-queue.js';
import { randomPrefix, startRedisServer } from './helpers/redis.js';
import { loopbackHost } from './helpers/udp.js';

/**
 * The acceptance test: stopping redis-server for 30 seconds during a crawl loses no
 * discovery. A real crawl of a 200-node testnet (127.170.x.y) feeds a MemorySink (the truth)
 * and a DiscoveryProducer; a BullMQ worker in this test applies each job with applyBatch. Redis
 * (AOF on, so its data survives the restart) is stopped while the crawl runs and started again;
 * afterwards the index must hold exactly what the MemorySink saw.
 */

const OUTAGE_MS = 30_000;
import { pollUntil, sleep } from './helpers/wait.js';
import { applyIndexed, countIndexed, getIndexed, totalsIndexed } from './helpers/index-writes.js';

function client(server: { host: string; port: number }): Redis {
  const c = new Redis({ host: server.host, port: server.port, maxRetriesPerRequest: null });
  c.on('error', () => {});
  return c;
}

test('stopping redis-server for 30 seconds during a crawl loses no discovery', async (t) => {
  t.timeout(180_000);
  const began = Date.now();
  const phase = (what: string): void => t.log(`${((Date.now() - began) / 1000).toFixed(1)} s: ${what}`);
  const server = await startRedisServer({ args: ['--appendonly', 'yes'] });
  t.teardown(() => server.stop());
  const keys = new IndexKeys(randomPrefix());
  const names = queueNames(keys);
  const index = client(server);
  t.teardown(() => index.disconnect());
  await ensureSchema(index, keys, { migrate: true });

  // The minimal processor (the production one is workers/discovery-processor.ts).
  const workerClient = client(server);
  const worker = new Worker<DiscoveryBatchJob>(
    names.discoveries,
    async (job) => {
      await applyIndexed(index, job.data.events, { keys, batchId: job.data.id });
    },
    // Jobs active when Redis stops lose their lock and come back through the stalled check:
    // checked every 5 s (not BullMQ's 30 s) so that this test does not wait for it.
    { connection: workerClient, prefix: names.bullPrefix, concurrency: 4, stalledInterval: 5_000, lockDuration: 10_000, maxStalledCount: 5 },
  );
  worker.on('error', () => {}); // reconnect errors during the outage
  t.teardown(async () => {
    await worker.close(true).catch(() => {});
    workerClient.disconnect();
  });

  const testnet = await Testnet.start({ nodes: 200, infohashes: 2_000, unresponsive: 0.1, noBep51: 0.1, seed: 170, addressBase: 170 });
  t.teardown(() => testnet.stop());
  const node = new DhtNode({ host: loopbackHost(), port: 0, bootstrap: [testnet.bootstrap], readOnly: true, adoptBep42Id: false, maxInflight: 512, queryTimeoutMs: 500 });
  await node.start();
  t.teardown(() => node.stop());

  const spoolDir = await tempDir(t);
  const producer = await DiscoveryProducer.open({ connection: testConnection(t, server), keys, spoolDir, log: (line) => t.log(line) });
  t.teardown(() => producer.close());
  const memory = new MemorySink();
  const [host, port] = testnet.bootstrap.split(':');
  const crawler = new Crawler({ node, bootstrap: [{ host: host!, port: Number(port) }], rate: 300, perIpRate: 20, sink: new TeeSink([memory, producer]) });
  const stop = new AbortController();
  const crawl = crawler.run({ signal: stop.signal });
  phase('crawling');

  // Running normally first: some batches reach Redis before the outage.
  await pollUntil(() => producer.stats().batchesDelivered >= 3, 'the first deliveries', 60_000);
  await server.kill();
  phase('redis-server stopped');
  const stoppedAt = Date.now();
  const eventsAtStop = memory.events.length;
  await pollUntil(() => !producer.stats().redisUp && producer.stats().spooledBatches > 0, 'the producer to spool', OUTAGE_MS);
  await sleep(OUTAGE_MS - (Date.now() - stoppedAt)); // pacing: the outage lasts OUTAGE_MS
  const duringOutage = memory.events.length - eventsAtStop;
  const statsAtRestart = producer.stats();
  await server.start();
  t.log(`outage: ${duringOutage} events crawled in ${((Date.now() - stoppedAt) / 1000).toFixed(1)} s; ${statsAtRestart.spooledBatches} batches spooled, ${statsAtRestart.memoryBatches} in memory`);

  // The crawl goes on for a while after Redis is back, then stops; the producer delivers everything.
  await sleep(5_000); // pacing: the crawl goes on for a while after the restart
  stop.abort();
  await crawl;
  await producer.flush();
  await producer.drain();
  await producer.close();
  phase('crawl over, producer closed');
  const queue = discoveryQueue(t, server, keys);
  await pollUntil(
    async () => {
      const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'failed');
      return Object.values(counts).every((n) => n === 0);
    },
    'the queue to drain',
    90_000,
    200,
  );

  phase('queue drained');
  const s = producer.stats();
  t.log(JSON.stringify(s));
  t.true(duringOutage > 0, 'the crawler kept crawling while Redis was down');
  t.true(s.spooledBatches > 0, 'batches went through the spool');
  t.is(s.droppedEvents, 0);
  t.is(s.corruptSpoolLines, 0);
  t.is(s.eventsDelivered, memory.events.length, 'the producer delivered every event it was given');

  // The index holds exactly what the crawl found.
  const seen = new Set(memory.events.flatMap((e) => (e.type === 'infohash' || e.type === 'peers' ? [e.infohash] : [])));
  t.true(seen.size > 100, `${seen.size} infohashes crawled`);
  t.is(await countIndexed(index, keys), seen.size);
  const missing: string[] = [];
  for (const ih of seen) if ((await getIndexed(index, keys, ih)) === null) missing.push(ih);
  t.deepEqual(missing, []);
  const perType = new Map<Discovery['type'], number>();
  for (const e of memory.events) perType.set(e.type, (perType.get(e.type) ?? 0) + 1);
  const tot = await totalsIndexed(index, keys);
  for (const type of ['node', 'infohash', 'sample', 'peers'] as const) t.is(tot[`events:${type}`] ?? 0, perType.get(type) ?? 0, `events:${type}`);
  t.is(tot['events:invalid'] ?? 0, 0);
});
