import test from 'ava';
import { randomBytes } from 'node:crypto';
import { Cluster } from 'ioredis';
import { InvalidInfohashKeyError } from '../indexer/errors.js';
import { BUCKETS, BUCKET_BITS, SHARDS, bucketOf, clusterSlot, shardOf, shardOfBucket, shardTag, shardTags } from '../indexer/shard.js';
import { startRedisCluster } from '../testkit/redis-cluster.js';
import { randomPrefix, useRedisServer } from './helpers/redis.js';

/** Schema 5's shards: where an infohash lives (indexer/shard.ts), and how shards meet cluster slots. */
const oneNodeCluster = useRedisServer(test, { cluster: true });

test('shards and buckets come from the leading bits, agree for hex and bytes, and spread evenly', (t) => {
  t.is(shardTag(0), '00');
  t.is(shardTag(SHARDS - 1), '3f');
  t.throws(() => shardTag(SHARDS), { instanceOf: RangeError });
  t.is(shardOf('ff'.repeat(20)), SHARDS - 1);
  t.is(bucketOf('ff'.repeat(20)), BUCKETS - 1);
  t.is(bucketOf('00'.repeat(20)), 0);
  t.throws(() => shardOf('XYZ'), { instanceOf: InvalidInfohashKeyError, code: 'ERR_BAD_INFOHASH_KEY' });
  t.throws(() => bucketOf(Buffer.alloc(19)), { instanceOf: InvalidInfohashKeyError });
  const perShard = new Array<number>(SHARDS).fill(0);
  for (let i = 0; i < 64_000; i++) {
    const id = randomBytes(20);
    const hex = id.toString('hex');
    t.is(shardOf(hex), shardOf(id));
    t.is(bucketOf(hex), bucketOf(id));
    t.is(shardOfBucket(bucketOf(id)), shardOf(id));
    t.true(bucketOf(id) >>> (BUCKET_BITS - 6) === shardOf(id));
    perShard[shardOf(id)]!++;
  }
  t.true(Math.min(...perShard) > 800 && Math.max(...perShard) < 1_200, `per shard: ${Math.min(...perShard)}..${Math.max(...perShard)} of an expected 1,000`);
});

test('clusterSlot is Redis Cluster\'s own CLUSTER KEYSLOT', async (t) => {
  const c = oneNodeCluster.client(t);
  const keys = ['a', 'dhtscope', '{dhtscope}:ih:00', 'x{}y', '{}', 'a{b}c{d}', '{a', 'ünïcode', ...Array.from({ length: 200 }, () => randomBytes(12).toString('base64'))];
  for (const key of keys) t.is(clusterSlot(key), Number(await c.call('CLUSTER', 'KEYSLOT', key)), key);
});

test('shard tags land in evenly spaced slots, so each of the 3 masters of a default cluster gets 20 to 22 shards', (t) => {
  for (const prefix of ['dhtscope', 'dhtscope-testnet', randomPrefix(), randomPrefix()]) {
    const tags = shardTags(prefix);
    t.is(tags.length, SHARDS);
    t.is(new Set(tags).size, SHARDS);
    tags.forEach((tag, s) => {
      t.true(tag === `${prefix}:${shardTag(s)}` || tag.startsWith(`${prefix}:${shardTag(s)}.`), tag);
      t.is(Math.floor(clusterSlot(tag) / 256), s, tag);
    });
    // redis-cli --cluster create with 3 masters: 0-5460, 5461-10922, 10923-16383.
    const per = [0, 0, 0];
    for (const tag of tags) per[clusterSlot(tag) <= 5460 ? 0 : clusterSlot(tag) <= 10922 ? 1 : 2]!++;
    // Two shards straddle a master boundary, so a master gets 21 ± 1 of the 64.
    t.true(per.every((n) => n >= 20 && n <= 22), `${prefix}: ${per.join(', ')}`);
    t.is(per[0]! + per[1]! + per[2]!, SHARDS);
    t.is(shardTags(prefix), tags, 'computed once per prefix');
  }
});

test('on a real 3-master cluster, one key per shard and bucket spreads 25-42% per master', async (t) => {
  t.timeout(120_000);
  const cluster = await startRedisCluster();
  t.teardown(() => cluster.stop());
  const nodes = cluster.masters().map((m) => ({ host: '127.0.0.1', port: m.port }));
  const client = new Cluster(nodes);
  t.teardown(() => void client.disconnect());
  const tags = shardTags('spread');
  // A key per bucket (2^17 would be slow to write here: one per 64th bucket, all shards covered).
  for (let bucket = 0; bucket < BUCKETS; bucket += 64) {
    await client.set(`{${tags[shardOfBucket(bucket)]!}}:r:${bucket.toString(16)}`, '1');
  }
  const per = await cluster.keysPerMaster('{spread:*');
  const total = per.reduce((n, m) => n + m.keys, 0);
  t.is(total, BUCKETS / 64);
  for (const m of per) t.true(m.keys / total >= 0.25 && m.keys / total <= 0.42, `${m.port}: ${m.keys} of ${total}`);
  t.log(per.map((m) => `${m.port}: ${((100 * m.keys) / total).toFixed(1)}%`).join(', '));
});
