import test from 'ava';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { type Discovery } from '../crawler/discovery.js';
import { newBatchId } from '../indexer/batch-id.js';
import { applyShardedBatch, SHARDED_SCHEMA_VERSION } from '../indexer/sharded-apply.js';
import { ShardedIndexKeys } from '../indexer/sharded-keys.js';
import { setShardedSchemaVersion, shardedTotals } from '../indexer/sharded-queries.js';
import { ReplicaTimeoutError, awaitReplicas, slotMasters } from '../redis/replication.js';
import { randomPrefix } from './helpers/redis.js';
import { useRedisCluster } from './helpers/redis-cluster.js';
import { pollUntil } from './helpers/wait.js';

/**
 * A batch applied with `awaitReplica` (as the workers apply them) returns only once a replica of
 * each master it wrote to has it (redis/replication.ts), on a real 3-master cluster: a stopped
 * replica holds the batch back, a master without replicas does not.
 */

const events = (n: number, at: number): Discovery[] =>
  // Infohashes of shard 0 (first byte 00), so the batch writes to the master of slots 0-255.
  Array.from({ length: n }, (_, i) => ({ type: 'infohash', infohash: `00${randomBytes(19).toString('hex')}`, node: `198.51.100.${i % 250}:6881`, source: 'sample', at }));

test('a batch waits for its replica: a stopped replica fails it (retried exactly once), a master with no replica left does not', async (t) => {
  t.timeout(120_000);
  const { cluster, client } = await useRedisCluster(t);
  const keys = new ShardedIndexKeys(randomPrefix());
  await setShardedSchemaVersion(client, keys, SHARDED_SCHEMA_VERSION);
  const master = cluster.masters()[0]!;
  const replica = cluster.nodes.find((n) => n.role === 'replica' && n.masterId === master.id)!;
  t.truthy(replica, 'master 0 has a replica');
  const shard = keys.shards[0]!;
  t.is((await cluster.masterOf(shard.counts)).port, master.port, 'shard 0 lives on master 0');
  const onReplica = new Redis({ host: '127.0.0.1', port: replica.port });
  t.teardown(() => void onReplica.disconnect());
  await onReplica.call('READONLY');
  const now = Date.now();

  // 1. With the replica running: when the call returns, the replica has the batch.
  const first = newBatchId();
  await applyShardedBatch(client, events(50, now), { keys, batchId: first, now, awaitReplica: true });
  t.is(await onReplica.exists(shard.applied(first)), 1, 'the replica holds the batch as soon as the call returns');
  t.is(Number(await onReplica.hget(shard.counts, 'infohashes')), 50);

  // 2. With the replica stopped (still connected, silent): the batch is written on the master but the call fails.
  const second = newBatchId();
  const batch = events(30, now);
  process.kill(replica.pid, 'SIGSTOP');
  let resumed = false;
  const resume = (): void => {
    if (!resumed) process.kill(replica.pid, 'SIGCONT');
    resumed = true;
  };
  t.teardown(resume);
  const failed = await t.throwsAsync(applyShardedBatch(client, batch, { keys, batchId: second, now, awaitReplica: true }), { instanceOf: ReplicaTimeoutError });
  t.is(failed?.code, 'ERR_REPLICA_TIMEOUT');
  resume();

  // 3. The job's retry: already applied on the master, so nothing is written twice, and it waits again until the replica has it.
  const retry = await applyShardedBatch(client, batch, { keys, batchId: second, now, awaitReplica: true });
  t.is(retry.applied, 0, 'the retry finds the batch applied');
  t.is(await onReplica.exists(shard.applied(second)), 1);
  t.is(Number(await onReplica.hget(shard.counts, 'infohashes')), 80, 'the replica has both batches, once each');
  t.is((await shardedTotals(client, keys))['events:infohash'], 80);

  // 4. With the replica gone for good: nothing to wait for, the write is on the master only.
  onReplica.disconnect();
  process.kill(replica.pid, 'SIGKILL');
  const masterClient = client.nodes('master').find((n) => n.options.port === master.port)!;
  await pollUntil(async () => /^connected_slaves:0/m.test(await masterClient.info('replication')), 'master 0 to see its replica gone', 30_000);
  await applyShardedBatch(client, events(10, now), { keys, batchId: newBatchId(), now, awaitReplica: true });
  t.deepEqual(await awaitReplicas(client, slotMasters(client, [shard.slot])), { confirmed: 0, unreplicated: 1 });
  t.is((await shardedTotals(client, keys))['events:infohash'], 90);
});
