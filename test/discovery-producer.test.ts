import test, { type ExecutionContext } from 'ava';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type Job } from 'bullmq';
import { IndexKeys } from '../indexer/keys.js';
import { JOB_ATTEMPTS, JOB_BACKOFF_MS, KEEP_COMPLETED_JOBS, KEEP_FAILED_JOBS } from '../workers/constants.js';
import { DiscoveryProducer, type DiscoveryProducerOptions } from '../workers/discovery-producer.js';
import { type DiscoveryBatchJob } from '../workers/queues.js';
import { discoveryQueue, spoolFiles, tempDir, testConnection, waitingJobs } from './helpers/discovery-queue.js';
import { pollUntil, sleep } from './helpers/wait.js';
import { freePort, randomPrefix, type RedisServerHandle, startRedisServer, useRedisServer } from './helpers/redis.js';
import { numberedEvent } from './helpers/spool-batches.js';

const redis = useRedisServer(test);

/** Fast outage detection and retries, so each outage test takes seconds. */
const QUICK = { deliveryTimeoutMs: 500, redeliveryIntervalMs: 100, closeTimeoutMs: 1_000 };

interface Setup {
  producer: DiscoveryProducer;
  keys: IndexKeys;
  dir: string;
  logs: string[];
  connection: ReturnType<typeof testConnection>;
}

/** A producer on its own spool directory; `redisUp` waits for its client to connect, so that start-up is never an outage. */
async function setup(t: ExecutionContext, server: { host: string; port: number }, options: Partial<DiscoveryProducerOptions> = {}, redisUp = true): Promise<Setup> {
  const keys = options.keys ?? new IndexKeys(randomPrefix());
  const dir = options.spoolDir ?? (await tempDir(t));
  const connection = testConnection(t, server);
  const logs: string[] = [];
  const producer = await DiscoveryProducer.open({ connection, keys, spoolDir: dir, log: (l) => logs.push(l), ...QUICK, ...options });
  t.teardown(() => producer.close());
  if (redisUp) await pollUntil(() => connection.clients[0]?.status === 'ready', 'the producer to connect');
  return { producer, keys, dir, logs, connection };
}

/** Stops the server and waits until the producer's client knows (so no add is in flight when the test writes). */
async function outage(server: RedisServerHandle, s: Setup): Promise<void> {
  await server.kill();
  await pollUntil(() => s.connection.clients[0]!.status !== 'ready', 'the client to notice');
}

/** A redis-server of the test's own, with AOF, so that kill()/start() is an outage that loses no data. */
async function ownServer(t: ExecutionContext): Promise<RedisServerHandle> {
  const server = await startRedisServer({ args: ['--appendonly', 'yes'] });
  t.teardown(() => server.stop());
  return server;
}

function writeNumbered(producer: DiscoveryProducer, from: number, count: number): void {
  for (let n = from; n < from + count; n++) producer.write(numberedEvent(n));
}

/** The `num` of every event of the jobs, job after job. */
const nums = (jobs: Array<Job<DiscoveryBatchJob>>): number[] => jobs.flatMap((j) => j.data.events.map((e) => (e.type === 'sample' ? e.num : -1)));
const range = (from: number, count: number): number[] => Array.from({ length: count }, (_, i) => from + i);

test('1,200 events become jobs of 500, 500 and 200 whose job ids are their batch ids', async (t) => {
  const { producer, keys } = await setup(t, redis.server, { batchMaxDelayMs: 60_000 });
  writeNumbered(producer, 0, 1200);
  await producer.flush();
  const jobs = await waitingJobs(discoveryQueue(t, redis.server, keys));
  t.deepEqual(
    jobs.map((j) => j.data.events.length),
    [500, 500, 200],
  );
  t.deepEqual(nums(jobs), range(0, 1200), 'every event once, in order');
  for (const job of jobs) {
    t.is(job.id, job.data.id);
    t.regex(job.data.id, /^[0-9a-f]{40}$/);
    t.is(job.name, 'batch');
    t.is(job.opts.attempts, JOB_ATTEMPTS);
    t.deepEqual(job.opts.backoff, { type: 'exponential', delay: JOB_BACKOFF_MS });
    t.is(job.opts.removeOnComplete, KEEP_COMPLETED_JOBS);
    t.is(job.opts.removeOnFail, KEEP_FAILED_JOBS);
  }
  t.is(new Set(jobs.map((j) => j.id)).size, 3);
  t.like(producer.stats(), { eventsWritten: 1200, batchesSealed: 3, batchesDelivered: 3, eventsDelivered: 1200, droppedEvents: 0, redisUp: true });
});

test('a partial batch leaves after batchMaxDelayMs without a flush', async (t) => {
  const { producer, keys } = await setup(t, redis.server, { batchMaxDelayMs: 100 });
  const queue = discoveryQueue(t, redis.server, keys);
  writeNumbered(producer, 0, 3);
  t.is(producer.stats().batchesSealed, 0, 'not sealed at once');
  await pollUntil(async () => (await queue.getWaitingCount()) === 1, 'the partial batch');
  const [job] = await waitingJobs(queue);
  t.deepEqual(nums([job!]), [0, 1, 2]);
  t.like(producer.stats(), { batchesSealed: 1, batchesDelivered: 1 });
});

test('close() with Redis up delivers everything, a burst that spilled to the spool included, and leaves the spool empty', async (t) => {
  // close() waits up to closeTimeoutMs for Redis: 1 s (QUICK) once ran out on a machine loaded by
  // another process while 9 batches came back from the spool. The subject is "delivers everything".
  const { producer, keys, dir } = await setup(t, redis.server, { batchMaxEvents: 10, memoryBatchesMax: 1, closeTimeoutMs: 15_000 });
  writeNumbered(producer, 0, 100); // 10 batches at once: one fits in memory, the rest go to disk
  await producer.close();
  const jobs = await waitingJobs(discoveryQueue(t, redis.server, keys));
  t.deepEqual(nums(jobs), range(0, 100), 'in order, none lost, none twice');
  const s = producer.stats();
  t.true(s.spooledBatches >= 8, `${s.spooledBatches} batches went through the spool`);
  t.is(s.replayedBatches, s.spooledBatches);
  t.deepEqual(await spoolFiles(dir), []);
  t.false(existsSync(join(dir, 'lock')), 'the lock is released');
});

test('during an outage batches wait in memory, then in the spool, nothing queues in ioredis, and all arrive oldest first', async (t) => {
  const server = await ownServer(t);
  const s = await setup(t, server, { batchMaxEvents: 10, memoryBatchesMax: 3, batchMaxDelayMs: 60_000 });
  const { producer, keys, dir, logs, connection } = s;
  const outages: string[] = [];
  const recoveries: number[] = [];
  producer.on('outage', ({ reason }) => outages.push(reason));
  producer.on('recovered', ({ spooledBatches }) => recoveries.push(spooledBatches));
  writeNumbered(producer, 0, 20);
  await producer.flush();
  t.is(producer.stats().batchesDelivered, 2);

  await outage(server, s);
  writeNumbered(producer, 20, 300); // 30 batches: 3 in memory, 27 on disk
  await pollUntil(() => !producer.stats().redisUp, 'the outage to be noticed');
  await pollUntil(() => producer.stats().spooledBatches === 27, 'the spool to take the rest');
  t.true((await spoolFiles(dir)).length > 0);
  // Retries keep failing fast for a while; ioredis holds no command for us meanwhile.
  const client = connection.clients[0]!;
  for (let i = 0; i < 10; i++) {
    await sleep(100); // pacing: a second of outage, looked at ten times
    const held = client.commandQueue.length + (client as unknown as { offlineQueue: { length: number } }).offlineQueue.length;
    t.true(held <= 4, `${held} commands held by the client during the outage`);
  }
  t.like(producer.stats(), { memoryBatches: 3, batchesDelivered: 2 });

  await server.start();
  await producer.drain();
  const jobs = await waitingJobs(discoveryQueue(t, server, keys));
  t.deepEqual(nums(jobs), range(0, 320), 'every event once, oldest first');
  t.like(producer.stats(), { batchesDelivered: 32, droppedEvents: 0, corruptSpoolLines: 0, redisUp: true, outages: 1, replayedBatches: 27 });
  t.is(outages.length, 1);
  t.deepEqual(recoveries, [27]);
  t.deepEqual(await spoolFiles(dir), [], 'delivered spool files are deleted');
  t.is(logs.filter((l) => /unreachable/.test(l)).length, 1, logs.join('\n'));
});

test('close() during an outage spools what is in memory; a new producer on the same directory delivers it once Redis is back', async (t) => {
  const server = await ownServer(t);
  const first = await setup(t, server, { batchMaxEvents: 10, batchMaxDelayMs: 60_000 });
  writeNumbered(first.producer, 0, 10);
  await first.producer.flush();
  await outage(server, first);
  writeNumbered(first.producer, 10, 45); // 4 full batches and a partial one, all in memory
  t.is(first.producer.stats().memoryBatches, 4);
  await first.producer.close();
  t.like(first.producer.stats(), { batchesSealed: 6, batchesDelivered: 1, spooledBatches: 5, droppedEvents: 0 });
  const files = await spoolFiles(first.dir);
  const onDisk = files.reduce((sum, f) => sum + statSync(join(first.dir, f)).size, 0);
  t.true(onDisk > 0);
  t.is(first.producer.stats().spooledBytes, onDisk, 'spooledBytes counts what was written');
  t.false(existsSync(join(first.dir, 'lock')));

  // Started while Redis is still down: it finds the spool and waits.
  const second = await setup(t, server, { keys: first.keys, spoolDir: first.dir }, false);
  t.true(second.producer.stats().spoolBytes > 0);
  await server.start();
  await second.producer.drain();
  const jobs = await waitingJobs(discoveryQueue(t, server, first.keys));
  t.deepEqual(nums(jobs), range(0, 55));
  t.like(second.producer.stats(), { replayedBatches: 5, batchesDelivered: 5, batchesSealed: 0 });
  await second.producer.close();
  t.deepEqual(await spoolFiles(first.dir), []);
});

test('beyond spoolMaxBytes new events are dropped, counted and logged once per outage', async (t) => {
  const server = await ownServer(t);
  const lineBytes = JSON.stringify({ id: 'f'.repeat(40), events: range(0, 10).map(numberedEvent) }).length + 1;
  const s = await setup(t, server, { batchMaxEvents: 10, memoryBatchesMax: 1, spoolMaxBytes: lineBytes * 3 + lineBytes / 2 });
  const { producer, keys, logs } = s;
  await outage(server, s);
  writeNumbered(producer, 0, 100); // 1 batch in memory, 3 on disk, 6 dropped
  await producer.flush(); // Redis is down: the batch in memory must go to disk, which is full
  t.like(producer.stats(), { spooledBatches: 3, droppedEvents: 70, memoryBatches: 0 });
  writeNumbered(producer, 100, 20);
  await producer.flush();
  t.like(producer.stats(), { spooledBatches: 3, droppedEvents: 90 });
  t.is(logs.filter((l) => /dropping/.test(l)).length, 1, logs.join('\n'));
  await server.start();
  await producer.drain();
  const delivered = nums(await waitingJobs(discoveryQueue(t, server, keys)));
  t.deepEqual(delivered, range(10, 30), 'what the spool took');
  t.is(delivered.length + producer.stats().droppedEvents, producer.stats().eventsWritten, 'every event delivered or counted as dropped');
});

test('saturated() turns true before the spool would overflow, so a writer that heeds it loses nothing; Redis back clears it', async (t) => {
  const server = await ownServer(t);
  const lineBytes = JSON.stringify({ id: 'f'.repeat(40), events: range(0, 10).map(numberedEvent) }).length + 1;
  const s = await setup(t, server, { batchMaxEvents: 10, memoryBatchesMax: 2, spoolMaxBytes: lineBytes * 20 });
  const { producer, keys } = s;
  t.false(producer.saturated(), 'Redis up, nothing spooled');
  await outage(server, s);
  // A crawler-like writer: a few events at a time, only while the producer is not saturated.
  let n = 0;
  for (let round = 0; round < 200 && !producer.saturated(); round++) {
    writeNumbered(producer, n, 4);
    n += 4;
    if (round % 5 === 4) await producer.flush();
  }
  t.true(producer.saturated(), `saturated after ${n} events`);
  await producer.flush();
  t.is(producer.stats().droppedEvents, 0, 'nothing dropped');
  t.true(producer.stats().spoolBytes > lineBytes * 14, `the spool was used (${producer.stats().spoolBytes} of ${lineBytes * 20} bytes)`);
  await server.start();
  await producer.drain();
  t.false(producer.saturated(), 'Redis back and drained');
  t.deepEqual(nums(await waitingJobs(discoveryQueue(t, server, keys))), range(0, n), 'every event, in order');
});

test('with no Redis at all, write() never throws and close() returns, with everything in the spool', async (t) => {
  const port = await freePort(); // nothing listens there
  const { producer, dir } = await setup(t, { host: '127.0.0.1', port }, { batchMaxEvents: 10 }, false);
  t.notThrows(() => writeNumbered(producer, 0, 25));
  await producer.close();
  t.like(producer.stats(), { eventsWritten: 25, batchesSealed: 3, batchesDelivered: 0, spooledBatches: 3, droppedEvents: 0, redisUp: false });
  t.true((await spoolFiles(dir)).length > 0);
  t.notThrows(() => producer.write(numberedEvent(99)));
  t.is(producer.stats().droppedEvents, 1, 'a write after close is counted, not thrown');
});

test('a burst of 100,000 events in one synchronous loop with Redis up is delivered whole (memory, then the spool, nothing dropped)', async (t) => {
  t.timeout(120_000);
  const { producer } = await setup(t, redis.server);
  writeNumbered(producer, 0, 100_000);
  await producer.flush();
  await Promise.race([producer.drain(), new Promise((r) => setTimeout(r, 90_000))]);
  const s = producer.stats();
  t.is(s.droppedEvents, 0);
  t.true(s.spooledBatches > 0, 'the burst went past the memory batches into the spool');
  t.is(s.batchesDelivered, 200);
  t.is(s.eventsDelivered, 100_000);
});
