import test from 'ava';
import { randomBytes } from 'node:crypto';
import { type Discovery } from '../crawler/discovery.js';
import { newBatchId } from '../indexer/batch-id.js';
import { SchemaMismatchError } from '../indexer/errors.js';
import { estimateSources, sourceBit } from '../indexer/infohash-record.js';
import { applyShardPlan, applyShardedBatch, planShardedBatch, SHARDED_SCHEMA_VERSION } from '../indexer/sharded-apply.js';
import { ShardedIndexKeys } from '../indexer/sharded-keys.js';
import { shardedPopular, shardedRecent } from '../indexer/sharded-pages.js';
import { getShardedInfohash, getShardedPeers, setShardedSchemaVersion, shardedInfohashCount, shardedNodeCensus, shardedStatsSeries, shardedTotals } from '../indexer/sharded-queries.js';
import { applyBatch } from '../indexer/apply-batch.js';
import { METRICS } from '../indexer/keys.js';
import { statsSeries, totals } from '../indexer/queries.js';
import { type RedisClient } from '../redis/client.js';
import { dumpIndex } from '../testkit/index-dump.js';
import { randomPrefix, useRedisServer } from './helpers/redis.js';
import { useRedisCluster } from './helpers/redis-cluster.js';

/**
 * Schema 5's sharded writer of sightings (indexer/sharded-apply.ts) and its readers, on one
 * Redis and on a real 3-master cluster: exact counts, exactly once per (batch, shard), also when
 * a batch is redelivered after a crash between two shards' scripts.
 */
const redis = useRedisServer(test);

const T0 = Date.UTC(2026, 11, 1);
const node = (n: number): string => `198.51.100.${n % 250}:${6881 + n}`;

interface Truth {
  first: number;
  last: number;
  seen: number;
  sources: Set<string>;
}

/** `count` infohashes, each seen 1-4 times by different nodes, shuffled; and what is true of each. */
function sightings(count: number): { events: Discovery[]; truth: Map<string, Truth> } {
  const events: Discovery[] = [];
  const truth = new Map<string, Truth>();
  for (let i = 0; i < count; i++) {
    const hex = randomBytes(20).toString('hex');
    const t: Truth = { first: Infinity, last: 0, seen: 0, sources: new Set() };
    for (let s = 0; s <= i % 4; s++) {
      const at = T0 + i * 1000 + s * 7;
      events.push({ type: 'infohash', infohash: hex, node: node(i + s * 31), source: 'sample', at });
      t.first = Math.min(t.first, at);
      t.last = Math.max(t.last, at);
      t.seen++;
      t.sources.add(node(i + s * 31));
    }
    truth.set(hex, t);
  }
  events.sort(() => Math.random() - 0.5);
  return { events, truth };
}

async function checkAgainst(t: import('ava').ExecutionContext, c: RedisClient, keys: ShardedIndexKeys, truth: Map<string, Truth>): Promise<void> {
  t.is(await shardedInfohashCount(c, keys), truth.size, 'the count is exact');
  for (const [hex, want] of truth) {
    const got = await getShardedInfohash(c, keys, hex);
    // Sources are linear-counted: the estimate from the bits the true sources set (two may share one).
    const sources = estimateSources([...want.sources].reduce((m, a) => (m | (1 << sourceBit(a))) >>> 0, 0));
    if (got === null || got.firstSeen !== want.first || got.lastSeen !== want.last || got.seen !== want.seen || got.sources !== sources) {
      t.fail(`${hex}: ${JSON.stringify(got)} vs first ${want.first}, last ${want.last}, seen ${want.seen}, sources ${sources}`);
      return;
    }
  }
  const newest = [...truth].sort(([a, x], [b, y]) => y.last - x.last || (a < b ? 1 : -1)).slice(0, 100);
  t.deepEqual(await shardedRecent(c, keys, 100), newest.map(([infohash, x]) => ({ infohash, lastSeen: x.last })), 'recent: the newest 100 over all shards');
}

test('a batch lands in its shards: records, exact count, recent merged over shards; again, it changes nothing', async (t) => {
  const c = redis.client(t);
  const keys = new ShardedIndexKeys(randomPrefix());
  await setShardedSchemaVersion(c, keys, SHARDED_SCHEMA_VERSION);
  const { events, truth } = sightings(2_000);
  const batchId = newBatchId();
  const first = await applyShardedBatch(c, events, { keys, batchId });
  t.is(first.shards, 64);
  t.like(first, { applied: 64, newInfohashes: 2_000 });
  await checkAgainst(t, c, keys, truth);
  const state = async (): Promise<unknown[]> => (await dumpIndex(c, keys.prefix, '')).keys.map(({ pttl, ...k }) => ({ ...k, ttl: pttl !== null }));
  const before = await state();
  t.true(before.length > 64 * 3, `${before.length} keys`);
  t.like(await applyShardedBatch(c, [...events].reverse(), { keys, batchId }), { applied: 0, newInfohashes: 0 });
  t.deepEqual(await state(), before, 'a redelivered batch changes no byte');
  // A second batch about the same infohashes merges into their records.
  const more: Discovery[] = [...truth.keys()].slice(0, 10).map((hex, i) => ({ type: 'infohash', infohash: hex, node: '203.0.113.9:1', source: 'get_peers', at: T0 - 1 - i }));
  t.like(await applyShardedBatch(c, more, { keys, batchId: newBatchId() }), { newInfohashes: 0 });
  for (const [i, e] of more.entries()) {
    const w = truth.get((e as { infohash: string }).infohash)!;
    w.first = T0 - 1 - i;
    w.seen++;
    w.sources.add('203.0.113.9:1');
  }
  await checkAgainst(t, c, keys, truth);
});

test('a batch redelivered after a crash between shards applies the missing shards only; another schema writes nothing', async (t) => {
  const c = redis.client(t);
  const keys = new ShardedIndexKeys(randomPrefix());
  await setShardedSchemaVersion(c, keys, SHARDED_SCHEMA_VERSION);
  const { events, truth } = sightings(500);
  const batchId = newBatchId();
  const plans = planShardedBatch(events, { keys, batchId });
  // The worker died after 20 of the batch's shard scripts.
  for (const plan of plans.slice(0, 20)) t.true((await applyShardPlan(c, plan)).applied);
  t.like(await applyShardedBatch(c, events, { keys, batchId }), { shards: plans.length, applied: plans.length - 20 });
  await checkAgainst(t, c, keys, truth);
  // Delivered once more: nothing applied again. On one Redis the batch script kept one marker
  // for the whole batch, beside the 20 shard markers of the crashed attempt.
  t.like(await applyShardedBatch(c, events, { keys, batchId }), { applied: 0 });
  await checkAgainst(t, c, keys, truth);
  const markers = (await dumpIndex(c, keys.prefix, '')).keys.filter((k) => k.key.includes(`:applied:${batchId}`));
  t.is(markers.length, 21, 'one marker for the whole batch and the crashed attempt\'s 20');

  const old = new ShardedIndexKeys(randomPrefix());
  await setShardedSchemaVersion(c, old, 4);
  await t.throwsAsync(applyShardedBatch(c, events, { keys: old, batchId: newBatchId() }), { instanceOf: SchemaMismatchError, code: 'ERR_SCHEMA_MISMATCH' });
  t.is((await dumpIndex(c, old.prefix, '')).keys.length, 64, 'only the 64 schema-version keys');
});

test('peers: kept per hour, each address at its newest report, only live ones counted and served; popular merged over shards', async (t) => {
  const c = redis.client(t);
  const keys = new ShardedIndexKeys(randomPrefix());
  await setShardedSchemaVersion(c, keys, SHARDED_SCHEMA_VERSION);
  const now = Date.now();
  const ttl = 6 * 3_600_000;
  const events: Discovery[] = [];
  const truth = new Map<string, Map<string, number>>(); // infohash → address → newest report
  for (let i = 0; i < 300; i++) {
    const hex = randomBytes(20).toString('hex');
    const peers = new Map<string, number>();
    for (let r = 0; r < 1 + (i % 3); r++) {
      // Reports spread over 8 hours: the oldest are past the TTL; addresses repeat across reports.
      const at = now - Math.floor(Math.random() * 8 * 3_600_000);
      const list = Array.from({ length: 1 + (i % 7) }, (_, j) => (j % 3 === 2 ? `[2001:db8::${(i * 10 + j).toString(16)}]:${1000 + j}` : `203.0.${i % 250}.${j + 1}:${1000 + j}`));
      events.push({ type: 'peers', infohash: hex, peers: list, node: node(i), at });
      if (at >= now - ttl) for (const p of list) if ((peers.get(p) ?? -1) < at) peers.set(p, at);
    }
    events.push({ type: 'infohash', infohash: hex, node: node(i), source: 'sample', at: now - 1000 });
    truth.set(hex, peers);
  }
  await applyShardedBatch(c, events, { keys, batchId: newBatchId(), now });
  const popular: Array<{ infohash: string; peers: number }> = [];
  for (const [hex, peers] of truth) {
    const want = [...peers].map(([address, at]) => ({ address, at: Math.floor(at / 1000) * 1000 })).sort((a, b) => b.at - a.at || (a.address < b.address ? -1 : 1));
    t.deepEqual(await getShardedPeers(c, keys, hex, { now }), want, hex);
    t.is((await getShardedInfohash(c, keys, hex))?.peers, peers.size);
    if (peers.size > 0) popular.push({ infohash: hex, peers: peers.size });
  }
  popular.sort((a, b) => b.peers - a.peers || (a.infohash < b.infohash ? 1 : -1)); // ties: schema 4's order, member descending
  t.deepEqual(await shardedPopular(c, keys, 50), popular.slice(0, 50));
  const [someHex] = [...truth].find(([, p]) => p.size > 0)!;
  const { shard, bucket } = keys.locate(someHex);
  const ttls = await Promise.all(Array.from({ length: 7 }, (_, k) => c.pttl(shard.peers(bucket, Math.floor(now / 3_600_000) - k))));
  t.true(ttls.some((x) => x > 0) && ttls.every((x) => x === -2 || (x > 0 && x <= 7 * 3_600_000)), `hour buckets expire: ${ttls.join(', ')}`);
});

test('census, statistics and totals are schema 4\'s for the same batches: exact sums, census within HyperLogLog error', async (t) => {
  const { c, keys: old } = await redis.freshSchema4Index(t);
  const keys = new ShardedIndexKeys(randomPrefix());
  await setShardedSchemaVersion(c, keys, SHARDED_SCHEMA_VERSION);
  const now = Date.now();
  const day = 86_400_000;
  const labels = ['4c540102', '5554b500', '6c740d80', null, 'zz'];
  const ids = Array.from({ length: 600 }, () => randomBytes(20).toString('hex'));
  const seenIds = new Set<string>();
  const byLabel = new Map<string, Set<string>>();
  for (let b = 0; b < 3; b++) {
    const events: Discovery[] = [];
    for (let i = 0; i < 1_500; i++) {
      const at = now - Math.floor(Math.random() * 3 * day) - (i % 50 === 0 ? 40 * day : 0); // a few past the retention
      const r = i % 5;
      if (r < 2) events.push({ type: 'infohash', infohash: randomBytes(20).toString('hex'), node: node(i), source: 'sample', at });
      else if (r === 2) events.push({ type: 'peers', infohash: randomBytes(20).toString('hex'), peers: [`203.0.113.${i % 250}:${1000 + i}`], node: node(i), at });
      else if (r === 3) {
        const id = ids[(i * 7 + b) % ids.length]!;
        const label = labels[i % labels.length]! ?? 'none';
        seenIds.add(id);
        byLabel.set(label === 'zz' ? 'invalid' : label, (byLabel.get(label === 'zz' ? 'invalid' : label) ?? new Set()).add(id));
        events.push({ type: 'node', id, address: node(i), version: labels[i % labels.length]!, rttMs: 10 + (i % 90), bep51: i % 3 === 0 ? null : i % 2 === 0, bep42: i % 4 === 0, at });
      } else events.push({ type: 'sample', node: node(i), num: i, interval: 21_600, samples: i % 20, at });
    }
    const batchId = newBatchId();
    await applyBatch(c, events, { keys: old, batchId, now, invalid: 2 });
    await applyShardedBatch(c, events, { keys, batchId, now, invalid: 2 });
  }
  t.deepEqual(await shardedTotals(c, keys), await totals(c, old), 'totals');
  for (const metric of METRICS) t.deepEqual(await shardedStatsSeries(c, keys, metric, now - 3 * day, now), await statsSeries(c, old, metric, now - 3 * day, now), metric);
  const census = await shardedNodeCensus(c, keys);
  const seen = seenIds.size;
  t.true(Math.abs(census.nodes - seen) <= seen * 0.03, `${census.nodes} nodes for ${seen}`);
  t.deepEqual(census.versions.map((v) => v.label).sort(), [...byLabel.keys()].sort());
  for (const v of census.versions) {
    const want = byLabel.get(v.label)!.size;
    t.true(Math.abs(v.nodes - want) <= Math.max(2, want * 0.03), `${v.label}: ${v.nodes} for ${want}`);
  }
});

test('on a real 3-master cluster: every shard script runs in its slot, keys spread 25-42% per master, exactly once', async (t) => {
  const { cluster, client: c } = await useRedisCluster(t);
  const keys = new ShardedIndexKeys(randomPrefix());
  await setShardedSchemaVersion(c, keys, SHARDED_SCHEMA_VERSION);
  const { events, truth } = sightings(3_000);
  const batchId = newBatchId();
  t.like(await applyShardedBatch(c, events, { keys, batchId }), { shards: 64, applied: 64, newInfohashes: 3_000 });
  t.like(await applyShardedBatch(c, events, { keys, batchId }), { applied: 0 });
  await checkAgainst(t, c, keys, truth);
  const per = await cluster.keysPerMaster(`{${keys.prefix}:*`);
  const total = per.reduce((n, m) => n + m.keys, 0);
  t.log(per.map((m) => `${m.port}: ${m.keys} keys (${((100 * m.keys) / total).toFixed(1)}%)`).join(', '));
  for (const m of per) t.true(m.keys / total >= 0.25 && m.keys / total <= 0.42, `${m.port}: ${m.keys} of ${total}`);
});
