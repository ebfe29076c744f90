import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import test from 'ava';
import { Cluster } from 'ioredis';
import { connectRedis } from '../redis/connection.js';
import { startRedisCluster } from '../testkit/redis-cluster.js';
import { pollUntil } from './helpers/wait.js';

// testkit/redis-cluster.ts, the real Redis Cluster that issue 14's tests run on: its shape,
// the spread of keys, a failover that loses no acknowledged write, and a clean stop.

/** Whether `pid` is a redis-server process (a reused pid of something else is not). */
const isRedisServer = (pid: number): boolean => {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'redis-server';
  } catch {
    return false;
  }
};

const KEYS = 3000;

test('3 masters + 3 replicas: keys spread over the masters, a killed master fails over with no acknowledged write lost, stop() leaves nothing', async (t) => {
  t.timeout(180_000);
  const startedAt = Date.now();
  const cluster = await startRedisCluster();
  t.teardown(() => cluster.stop());
  t.log(`harness start: ${Date.now() - startedAt} ms`);

  const masters = cluster.nodes.filter((n) => n.role === 'master');
  const replicas = cluster.nodes.filter((n) => n.role === 'replica');
  t.is(masters.length, 3);
  t.is(replicas.length, 3);
  t.deepEqual(masters.map((m) => replicas.filter((r) => r.masterId === m.id).length), [1, 1, 1], 'each master has one replica');
  t.is(cluster.url, `redis+cluster://${cluster.nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}`);
  t.true(cluster.nodes.every((n) => isRedisServer(n.pid)));

  // dataDir is not used with a url; env and defaultAddress keep the user's Redis out of it.
  const conn = await connectRedis({ url: cluster.url, dataDir: tmpdir(), env: {}, defaultAddress: null });
  t.teardown(() => conn.close());
  const client = conn.client;
  if (!(client instanceof Cluster)) return t.fail('connectRedis gave no Cluster client');

  // Each key its own hash tag, so the keys land on slots all over the ring.
  await Promise.all(Array.from({ length: KEYS }, (_, i) => client.set(`harness:{${i}}`, String(i))));
  const spread = await cluster.keysPerMaster('harness:*');
  t.log(`keys per master: ${spread.map((s) => s.keys).join(', ')}`);
  t.is(spread.length, 3);
  t.is(spread.reduce((sum, s) => sum + s.keys, 0), KEYS);
  for (const s of spread) t.true(s.keys >= 0.25 * KEYS && s.keys <= 0.42 * KEYS, `master :${s.port} holds ${s.keys} of ${KEYS}`);
  const holder = await cluster.masterOf('harness:{0}');
  const found = await cluster.keysPerMaster('harness:{0}');
  t.deepEqual(found.filter((s) => s.keys > 0).map((s) => s.port), [holder.port], 'masterOf names the master whose SCAN finds the key');

  // Acknowledged means on the replica too: WAIT on the very connections that wrote. (AOF
  // everysec alone could lose the last second on the killed master; the replica is what counts.)
  for (const node of client.nodes('master')) t.is(await node.call('WAIT', '1', '10000'), 1);

  const victim = await cluster.killMaster(0);
  const victimSlots = structuredClone(victim.slots); // a dead master is left with none
  await pollUntil(() => !isRedisServer(victim.pid), 'the killed master to exit', 10_000);
  const failoverMs = await cluster.waitForFailover();
  t.log(`failover: ${failoverMs} ms`);
  const promoted = cluster.masters()[0]!;
  t.not(promoted.id, victim.id);
  t.is(promoted.role, 'master');
  t.true(replicas.some((r) => r.id === promoted.id), 'the victim’s replica took over');
  t.deepEqual(promoted.slots, victimSlots);

  // The same client goes on: every acknowledged key is there, and new writes land on all three masters.
  const values = await Promise.all(Array.from({ length: KEYS }, (_, i) => client.get(`harness:{${i}}`)));
  t.deepEqual(
    values.flatMap((v, i) => (v === String(i) ? [] : [i])),
    [],
    'keys lost or wrong after the failover',
  );
  await Promise.all(Array.from({ length: 300 }, (_, i) => client.set(`after:{${i}}`, String(i))));
  const after = await cluster.keysPerMaster('after:*');
  t.is(after.reduce((sum, s) => sum + s.keys, 0), 300);
  t.true(after.every((s) => s.keys > 0));
  t.true(after.some((s) => s.port === promoted.port));
  t.deepEqual((await cluster.keysPerMaster('harness:*')).map((s) => s.keys), spread.map((s) => s.keys), 'the promoted replica holds all its master had');

  await conn.close();
  const pids = cluster.nodes.map((n) => n.pid);
  await cluster.stop();
  await cluster.stop(); // idempotent
  t.deepEqual(pids.filter(isRedisServer), [], 'no redis-server of ours is left');
  t.log(`total: ${Date.now() - startedAt} ms`);
});
