import test from 'ava';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { Cluster } from 'ioredis';
import { type Discovery } from '../crawler/discovery.js';
import { newBatchId } from '../indexer/batch-id.js';
import { applyShardedBatch, SHARDED_SCHEMA_VERSION } from '../indexer/sharded-apply.js';
import { ShardedIndexKeys } from '../indexer/sharded-keys.js';
import { getShardedInfohash, setShardedSchemaVersion, shardedInfohashCount, shardedTotals } from '../indexer/sharded-queries.js';
import { connectRedis } from '../redis/connection.js';
import { startRedisCluster } from '../testkit/redis-cluster.js';
import { randomPrefix } from './helpers/redis.js';
import { sleep } from './helpers/wait.js';

/**
 * Schema 5's writer through a master failover on a real 3-master cluster (3 replicas, AOF): a
 * worker applies batches one after another, a master is SIGKILLed in the middle, the batch that
 * fails is applied again with the same id (as a redelivered job is) until the replica has taken
 * over, and every count comes out exact: nothing lost, nothing applied twice.
 *
 * A batch counts as done once its writes are on a replica (`awaitReplica`, as the workers apply
 * it: redis/replication.ts): a master that dies before replicating an acknowledged write would
 * take it with it, and the queue would not redeliver a job it saw complete.
 */

test('a master fails over mid-crawl: the batch in flight is applied again once, every count exact', async (t) => {
  t.timeout(180_000);
  const cluster = await startRedisCluster();
  t.teardown(() => cluster.stop());
  const conn = await connectRedis({ url: cluster.url, dataDir: tmpdir(), env: {}, defaultAddress: null });
  t.teardown(() => conn.close());
  const c = conn.client;
  if (!(c instanceof Cluster)) return t.fail('no Cluster client');
  const keys = new ShardedIndexKeys(randomPrefix());
  await setShardedSchemaVersion(c, keys, SHARDED_SCHEMA_VERSION);

  const now = Date.now();
  const seen = new Map<string, number>();
  const batches: Discovery[][] = [];
  for (let b = 0; b < 30; b++) {
    const events: Discovery[] = [];
    for (let i = 0; i < 150; i++) {
      // New infohashes, and sightings of earlier ones: a batch applied twice would show in `seen`.
      const known = [...seen.keys()];
      const hex = i % 3 === 0 && known.length > 0 ? known[(b * 151 + i) % known.length]! : randomBytes(20).toString('hex');
      events.push({ type: 'infohash', infohash: hex, node: `198.51.100.${i % 250}:${7000 + b}`, source: 'sample', at: now - b * 1000 - i });
      seen.set(hex, (seen.get(hex) ?? 0) + 1);
    }
    batches.push(events);
  }

  let retried = 0;
  let kill: Promise<unknown> = Promise.resolve();
  for (const [b, events] of batches.entries()) {
    // Killed while batch 10 is being applied.
    if (b === 10) kill = cluster.killMaster(0);
    const batchId = newBatchId();
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        await applyShardedBatch(c, events, { keys, batchId, now, awaitReplica: true });
        break;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        retried++;
        await sleep(250);
      }
    }
  }
  await kill;
  const failoverMs = await cluster.waitForFailover();
  t.log(`master 0 killed during batch 10; ${retried} failed attempts retried; failover ${failoverMs} ms`);
  t.true(retried > 0, 'the kill was felt: some attempt failed and was retried');

  t.is(await shardedInfohashCount(c, keys), seen.size, 'every infohash once');
  t.is((await shardedTotals(c, keys))['events:infohash'], 30 * 150, 'every event counted once');
  const wrong: string[] = [];
  for (const [hex, n] of seen) if ((await getShardedInfohash(c, keys, hex))?.seen !== n) wrong.push(hex);
  t.deepEqual(wrong, [], 'sightings exact for every infohash');
});
