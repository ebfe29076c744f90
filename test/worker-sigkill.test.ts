import test, { type ExecutionContext } from 'ava';
import { Cluster } from 'ioredis';
import { IndexKeys } from '../indexer/keys.js';
import { type RedisClient } from '../redis/client.js';
import { addBatches, discoveryQueue, expectedSightings, knownBatch, waitUntil } from './fixtures/discovery-batches.js';
import { startCli } from './helpers/cli.js';
import { randomPrefix, useRedisServer } from './helpers/redis.js';
import { countIndexed, getIndexed, totalsIndexed } from './helpers/index-writes.js';
import { ShardedIndexKeys } from '../indexer/sharded-keys.js';
import { useRedisCluster } from './helpers/redis-cluster.js';

/**
 * A real worker process (`dhtscope workers`) killed with SIGKILL while it holds jobs, then a
 * new one started: BullMQ's stalled check hands the dead worker's jobs to the new one, and the
 * idempotent batches keep every count exact. Lock and stalled intervals are shortened (the
 * CLI's tuning options) so the recovery takes seconds, not the production 30 + 15 s. On one
 * Redis and on a real 3-master cluster (with replicas: there a job also waits for its replica).
 */

const redis = useRedisServer(test);

const BATCHES = 200;
const SIZE = 500;
const DISTINCT = 3_000;

async function sigkillAndRestart(t: ExecutionContext, c: RedisClient, url: string): Promise<void> {
  const keys = new IndexKeys(randomPrefix());
  const queue = discoveryQueue(c, keys);
  t.teardown(() => queue.close());
  const batches = Array.from({ length: BATCHES }, (_, b) => knownBatch(b, SIZE, DISTINCT));
  await addBatches(queue, batches);

  const args = ['workers', '--redis-url', url, '--prefix', keys.prefix, '--no-peer-lookups', '--json'];
  const tuning = ['--lock-duration', '2000', '--stalled-interval', '1000', '--stats-interval', '1'];
  const first = startCli(t, [...args, ...tuning]);
  await first.nextEvent('ready', 60_000);
  await waitUntil('some batches done and some running', async () => {
    const n = await queue.getJobCounts('completed', 'active');
    return (n['completed'] ?? 0) >= 10 && (n['active'] ?? 0) >= 1;
  }, 60_000, 5);
  first.child.kill('SIGKILL');
  t.is((await first.exit()).signal, 'SIGKILL');
  const left = await queue.getJobCounts('active', 'completed');
  t.true((left['active'] ?? 0) >= 1, 'the dead worker left jobs active');
  t.true((left['completed'] ?? 0) < BATCHES, 'killed before the end');

  const second = startCli(t, [...args, ...tuning]);
  await second.nextEvent('ready', 60_000);
  await waitUntil('every batch to complete', async () => (await queue.getJobCounts('completed'))['completed'] === BATCHES, 90_000, 100);
  t.like(await queue.getJobCounts('waiting', 'active', 'delayed', 'failed'), { waiting: 0, active: 0, delayed: 0, failed: 0 });

  second.child.kill('SIGTERM');
  const stopped = await second.nextEvent('stopped', 30_000);
  t.is((await second.exit()).code, 0);
  t.true((stopped['stalledJobs'] as number) >= 1, 'the new worker recovered the dead one\'s jobs');

  // Exact counts: every event once, every batch once.
  const sums = await totalsIndexed(c, keys);
  t.is(sums['batches'], BATCHES);
  t.is(sums['events:infohash'], (BATCHES * SIZE * 9) / 10);
  t.is(sums['events:node'], (BATCHES * SIZE) / 10);
  t.is(sums['events:invalid'], undefined);
  const expected = expectedSightings(BATCHES, SIZE, DISTINCT);
  const seen = await Promise.all([...expected.keys()].map(async (ih) => (await getIndexed(c, keys, ih))?.seen));
  t.deepEqual(seen, [...expected.values()]);
  t.is(await countIndexed(c, keys), expected.size);
  // Each batch's applied markers: on one Redis one for the whole batch, on a cluster one per shard it touched.
  const shards = ShardedIndexKeys.of(keys.prefix).shards;
  const marked = async (id: string): Promise<boolean> => {
    if (!(c instanceof Cluster)) return (await c.exists(...shards.map((s) => s.appliedBatch(id)))) === 1;
    const each = await Promise.all(shards.map((s) => c.exists(s.applied(id))));
    return each.some((n) => n === 1);
  };
  const applied = await Promise.all(batches.map((b) => marked(b.id)));
  t.true(applied.every(Boolean), 'every batch applied');
}

test('SIGKILL mid-batch and a restart leave exact counts, no batch applied twice', async (t) => {
  t.timeout(120_000);
  await sigkillAndRestart(t, redis.client(t, { maxRetriesPerRequest: null }), redis.server.url);
});

test('on a 3-master cluster too: SIGKILL mid-batch and a restart leave exact counts, no batch applied twice', async (t) => {
  t.timeout(180_000);
  const { cluster, client } = await useRedisCluster(t);
  await sigkillAndRestart(t, client, cluster.url);
});
