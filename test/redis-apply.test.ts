import test, { type ExecutionContext } from 'ava';
import { Cluster, type Redis } from 'ioredis';
import { type Discovery, validateDiscoveries } from '../crawler/discovery.js';
import { applyBatch } from '../indexer/apply-batch.js';
import { newBatchId } from '../indexer/batch-id.js';
import { planBatch } from '../indexer/batch-plan.js';
import { IndexKeyTypeError, SchemaMismatchError } from '../indexer/errors.js';
import { DEFAULT_INDEX_CONFIG, type IndexConfig } from '../indexer/index-config.js';
import { dayOf, dayStartMs, IndexKeys, minuteOfDay, SCHEMA_4_VERSION } from '../indexer/keys.js';
import { getInfohash, infohashCount, nodeCensus, nodesPerDay, popularInfohashes, recentInfohashes, statsSeries, totals } from '../indexer/queries.js';
import { MigrationRunner } from '../migrations/runner.js';
import { randomPrefix, snapshot, startRedisServer, useRedisServer } from './helpers/redis.js';
import { infohashes, nodeAddress, nodeIdHex, testNetPeer } from './helpers/generators.js';

const redis = useRedisServer(test);

const IH = infohashes('f');
const NODE_ID = nodeIdHex;
const ADDR = nodeAddress;
const PEER = testNetPeer;

/** Whole minutes, recent enough that per-day keys are inside the retention. */
const T0 = Math.floor(Date.now() / 60_000) * 60_000 - 3_600_000;

/** Applies a batch: a new one (a fresh id) unless `batch.batchId` names one applied before. */
type Apply = (events: Discovery[], now?: number, batch?: { batchId?: string; invalid?: number }) => ReturnType<typeof applyBatch>;

async function setup(t: ExecutionContext, config: Partial<IndexConfig> = {}): Promise<{ c: Redis; keys: IndexKeys; apply: Apply }> {
  const { c, keys } = await redis.freshSchema4Index(t);
  return { c, keys, apply: (events, now = T0 + 600_000, batch = {}) => applyBatch(c, events, { keys, config, now, batchId: newBatchId(), ...batch }) };
}

/** A batch with known counts: 3 infohashes, 4 nodes, peers, samples. */
function sampleBatch(): Discovery[] {
  return [
    { type: 'node', id: NODE_ID(1), address: ADDR(1), version: '4c540102', rttMs: 40, bep51: true, bep42: true, at: T0 },
    { type: 'node', id: NODE_ID(2), address: ADDR(2), version: '4c540102', rttMs: 60, bep51: false, bep42: false, at: T0 + 1000 },
    { type: 'node', id: NODE_ID(3), address: ADDR(3), version: null, rttMs: 80, bep51: null, bep42: true, at: T0 + 61_000 },
    { type: 'node', id: NODE_ID(1), address: ADDR(1), version: '4c540102', rttMs: 20, bep51: true, bep42: true, at: T0 + 62_000 },
    { type: 'sample', node: ADDR(1), num: 120, interval: 300, samples: 20, at: T0 },
    { type: 'infohash', infohash: IH(1), node: ADDR(1), source: 'sample', at: T0 },
    { type: 'infohash', infohash: IH(1), node: ADDR(2), source: 'sample', at: T0 + 5000 },
    { type: 'infohash', infohash: IH(1), node: ADDR(1), source: 'get_peers', at: T0 + 70_000 },
    { type: 'infohash', infohash: IH(2), node: ADDR(3), source: 'announce_peer', at: T0 + 10_000 },
    { type: 'peers', infohash: IH(1), peers: [PEER(1), PEER(2), PEER(3)], node: ADDR(1), at: T0 + 20_000 },
    { type: 'peers', infohash: IH(1), peers: [PEER(2), PEER(4)], node: ADDR(2), at: T0 + 30_000 },
    { type: 'peers', infohash: IH(3), peers: [PEER(9)], node: ADDR(2), at: T0 + 40_000 },
  ];
}

test.serial('queries read the index without SCAN or KEYS', async (t) => {
  const { c, keys, apply } = await setup(t);
  await c.config('RESETSTAT');
  await apply(sampleBatch());
  await getInfohash(c, keys, IH(1), { now: T0 + 600_000 });
  await recentInfohashes(c, keys, 10);
  await popularInfohashes(c, keys, 10);
  await infohashCount(c, keys);
  await nodeCensus(c, keys);
  await nodesPerDay(c, keys, T0, T0 + 600_000);
  await statsSeries(c, keys, 'events:infohash', T0 - 3_600_000, T0 + 3_600_000);
  await totals(c, keys);
  const info = String(await c.info('commandstats'));
  t.true(/cmdstat_evalsha|cmdstat_eval:/.test(info), 'the batch went through a script');
  t.false(/cmdstat_scan:|cmdstat_keys:/.test(info), info);
});

test('a batch is applied once: the same batch again changes nothing, counts stay exact', async (t) => {
  const { c, keys, apply } = await setup(t);
  const events = sampleBatch();
  const id = newBatchId();
  const first = await apply(events, undefined, { batchId: id });
  t.true(first.applied);
  t.is(first.batchId, id);
  t.is(first.newInfohashes, 3);
  const before = await snapshot(c, keys.prefix);

  const again = await apply(events, T0 + 900_000, { batchId: id });
  t.false(again.applied);
  t.is(again.newInfohashes, 0);
  // The same batch redelivered with its events in another order is still the same batch.
  const shuffled = await apply([...events].reverse(), T0 + 900_000, { batchId: id });
  t.is(shuffled.batchId, first.batchId);
  t.false(shuffled.applied);
  t.deepEqual(await snapshot(c, keys.prefix), before);

  const rec = await getInfohash(c, keys, IH(1), { now: T0 + 600_000 });
  t.like(rec, { infohash: IH(1), firstSeen: T0, lastSeen: T0 + 70_000, seen: 3, sources: 2, peerCount: 4 });
  // Most recent first; PEER(2) was seen twice, its newest time counts.
  t.deepEqual(rec!.peers, [
    { address: PEER(4), lastSeen: T0 + 30_000 },
    { address: PEER(2), lastSeen: T0 + 30_000 },
    { address: PEER(3), lastSeen: T0 + 20_000 },
    { address: PEER(1), lastSeen: T0 + 20_000 },
  ]);
  // IH(3) is known only from a peers reply: no sighting, no source.
  t.like(await getInfohash(c, keys, IH(3), { now: T0 + 600_000 }), { seen: 0, sources: 0, peerCount: 1 });
  t.is(await getInfohash(c, keys, IH(99)), null);

  t.deepEqual(await totals(c, keys), {
    batches: 1,
    'events:node': 4,
    'events:sample': 1,
    'events:infohash': 4,
    'events:peers': 3,
    'infohashes:new': 3,
    'peers:reported': 6,
    'samples:returned': 20,
    'rtt:sum': 200,
    'rtt:count': 4,
  });
  t.is(await infohashCount(c, keys), 3);
  t.deepEqual(
    (await recentInfohashes(c, keys)).map((r) => r.infohash),
    [IH(1), IH(3), IH(2)],
  );
  t.deepEqual(await popularInfohashes(c, keys), [
    { infohash: IH(1), peers: 4 },
    { infohash: IH(3), peers: 1 },
  ]);

  // A later batch with one more sighting adds exactly one.
  const more = await apply([{ type: 'infohash', infohash: IH(1), node: ADDR(4), source: 'sample', at: T0 + 80_000 }]);
  t.true(more.applied);
  t.like(await getInfohash(c, keys, IH(1), { now: T0 + 600_000 }), { seen: 4, sources: 3, lastSeen: T0 + 80_000, firstSeen: T0 });
  t.is((await totals(c, keys))['infohashes:new'], 3);
});

test('the same batch from two clients at once is applied once', async (t) => {
  const { c, keys } = await setup(t);
  const c2 = redis.client(t);
  const events = sampleBatch();
  const batchId = newBatchId();
  const results = await Promise.all([c, c2, c, c2].map((client) => applyBatch(client, events, { keys, batchId, now: T0 + 600_000 })));
  t.is(results.filter((r) => r.applied).length, 1);
  t.is(new Set(results.map((r) => r.batchId)).size, 1);
  t.like(await getInfohash(c, keys, IH(1), { now: T0 + 600_000 }), { seen: 3, sources: 2, peerCount: 4 });
  t.like(await totals(c, keys), { batches: 1, 'events:infohash': 4, 'infohashes:new': 3 });
});

test('caps: recent, popular and peers per infohash keep only the newest / the top', async (t) => {
  const { c, keys, apply } = await setup(t, { recentCap: 5, popularCap: 3, peersCap: 4 });
  const events: Discovery[] = [];
  for (let i = 1; i <= 10; i++) {
    events.push({ type: 'infohash', infohash: IH(i), node: ADDR(i), source: 'sample', at: T0 + i * 1000 });
    // infohash i gets i peers, peer j seen at T0 + j s.
    events.push({ type: 'peers', infohash: IH(i), peers: Array.from({ length: i }, (_, j) => PEER(j)), node: ADDR(i), at: T0 });
    for (let j = 0; j < i; j++) events.push({ type: 'peers', infohash: IH(i), peers: [PEER(j)], node: ADDR(i), at: T0 + j * 1000 });
  }
  await apply(events);
  t.deepEqual(
    (await recentInfohashes(c, keys, 100)).map((r) => r.infohash),
    [IH(10), IH(9), IH(8), IH(7), IH(6)],
  );
  // Infohashes 4..10 all have 4 peers (the cap); the top 3 by score, ties broken by member.
  const popular = await popularInfohashes(c, keys, 100);
  t.is(popular.length, 3);
  t.true(popular.every((p) => p.peers === 4));
  for (let i = 1; i <= 10; i++) {
    const rec = await getInfohash(c, keys, IH(i), { now: T0 + 600_000 });
    t.is(rec!.peerCount, Math.min(i, 4));
    t.is(await c.zcard(keys.infohashPeers(IH(i))), Math.min(i, 4));
    // the newest are kept
    t.deepEqual(
      rec!.peers.map((p) => p.address),
      Array.from({ length: Math.min(i, 4) }, (_, k) => PEER(i - 1 - k)),
    );
  }
  t.is(await infohashCount(c, keys), 10, 'the registry is not capped');

  // A cap on one batch's peers too: 1,500 peers in one event, cap 4.
  await apply([{ type: 'peers', infohash: IH(11), peers: Array.from({ length: 1500 }, (_, j) => `198.51.100.${j % 256}:${2000 + j}`), node: ADDR(1), at: T0 }]);
  t.is(await c.zcard(keys.infohashPeers(IH(11))), 4);
});

test('peers expire: trimmed by age on every write, the key has a TTL', async (t) => {
  const ttl = 3_600_000;
  const { c, keys, apply } = await setup(t, { peerTtlMs: ttl });
  const now = T0 + 600_000;
  await apply(
    [
      { type: 'peers', infohash: IH(1), peers: [PEER(1)], node: ADDR(1), at: now - ttl - 1 }, // already stale
      { type: 'peers', infohash: IH(1), peers: [PEER(2)], node: ADDR(1), at: now - ttl + 60_000 },
      { type: 'peers', infohash: IH(1), peers: [PEER(3)], node: ADDR(1), at: now - 1000 },
    ],
    now,
  );
  const peersKey = keys.infohashPeers(IH(1));
  t.deepEqual((await getInfohash(c, keys, IH(1), { now, peerTtlMs: ttl }))!.peers.map((p) => p.address), [PEER(3), PEER(2)]);
  const pttl = await c.pttl(peersKey);
  t.true(pttl > ttl - 2000 && pttl <= ttl, `pttl ${pttl}`);

  // Two minutes later PEER(2) is stale: a read leaves it out, the next write removes it.
  const later = now + 120_000;
  t.is((await getInfohash(c, keys, IH(1), { now: later, peerTtlMs: ttl }))!.peerCount, 1);
  await apply([{ type: 'infohash', infohash: IH(1), node: ADDR(2), source: 'sample', at: later }], later);
  t.deepEqual(await c.zrange(peersKey, 0, '-1'), [PEER(3)]);
  t.is(await c.hget(keys.infohash(IH(1)), 'peers'), '1');

  // Every peer stale: the key goes and the infohash leaves `popular`.
  await apply([{ type: 'infohash', infohash: IH(1), node: ADDR(3), source: 'sample', at: later }], now + ttl + 1);
  t.is(await c.exists(peersKey), 0);
  t.is(await c.hget(keys.infohash(IH(1)), 'peers'), '0');
  t.deepEqual(await popularInfohashes(c, keys), []);
});

test('node census: distinct nodes per version and BEP 51 / BEP 42, versions capped', async (t) => {
  const { c, keys, apply } = await setup(t, { versionsCap: 3 });
  const events: Discovery[] = [];
  const versions = ['4c540102', '5554b500', null, 'zz', '4c540200', '4c540200'];
  for (let i = 0; i < 60; i++) {
    events.push({ type: 'node', id: NODE_ID(i), address: ADDR(i), version: versions[i % versions.length]!, rttMs: 10, bep51: i % 3 === 0 ? true : i % 3 === 1 ? false : null, bep42: i % 2 === 0, at: T0 });
  }
  // seen twice: not counted twice
  events.push({ ...(events[0] as Discovery & { type: 'node' }), at: T0 + 1000 });
  await apply(events);
  const census = await nodeCensus(c, keys);
  t.is(census.nodes, 60);
  t.deepEqual(census.bep51, { yes: 20, no: 20 });
  t.deepEqual(census.bep42, { yes: 30, no: 30 });
  // Labels in the order first met: 4c540102, 5554b500, none fill the cap of 3; 'invalid' and
  // 4c540200 become "other".
  t.deepEqual(census.versions, [
    { label: 'other', nodes: 30 },
    { label: '4c540102', nodes: 10 },
    { label: '5554b500', nodes: 10 },
    { label: 'none', nodes: 10 },
  ]);
  t.deepEqual(await nodesPerDay(c, keys, T0, T0), [{ day: dayOf(T0), nodes: 60 }]);
  t.true((await c.ttl(keys.nodesDay(dayOf(T0)))) > 29 * 86_400);
});

test('statistics: per-minute series across midnight, kept for the retention', async (t) => {
  const { c, keys, apply } = await setup(t);
  const midnight = dayStartMs(Date.now());
  const before = midnight - 30_000; // 23:59:30 the day before
  const after = midnight + 90_000; // 00:01:30
  const now = midnight + 600_000;
  await apply(
    [
      { type: 'infohash', infohash: IH(1), node: ADDR(1), source: 'sample', at: before },
      { type: 'infohash', infohash: IH(2), node: ADDR(1), source: 'sample', at: before + 10_000 },
      { type: 'infohash', infohash: IH(1), node: ADDR(2), source: 'sample', at: after },
      { type: 'sample', node: ADDR(1), num: 5, interval: 60, samples: 7, at: after },
    ],
    now,
  );
  t.deepEqual(await statsSeries(c, keys, 'events:infohash', before - 3_600_000, now), [
    { t: midnight - 60_000, value: 2 },
    { t: midnight + 60_000, value: 1 },
  ]);
  t.deepEqual(await statsSeries(c, keys, 'infohashes:new', before - 3_600_000, now), [{ t: midnight - 60_000, value: 2 }]);
  t.deepEqual(await statsSeries(c, keys, 'samples:returned', midnight, now), [{ t: midnight + 60_000, value: 7 }]);
  t.deepEqual(await statsSeries(c, keys, 'batches', midnight, now), [{ t: midnight + 600_000, value: 1 }]);
  const statsKey = keys.stats('events:infohash', dayOf(before));
  t.is(await c.hget(statsKey, String(minuteOfDay(before))), '2');
  const ttl = await c.ttl(statsKey);
  t.true(ttl > 29 * 86_400 && ttl <= 31 * 86_400, `ttl ${ttl}`);
});

test('malformed events are skipped and counted; the rest is applied', async (t) => {
  const { c, keys, apply } = await setup(t);
  const { events, invalid } = validateDiscoveries([
    { type: 'infohash', infohash: IH(1), node: ADDR(1), source: 'sample', at: T0 },
    { type: 'infohash', infohash: 'not-hex', node: ADDR(1), source: 'sample', at: T0 },
    { type: 'infohash', infohash: IH(2), node: ADDR(1), source: 'sample', at: -1 },
    { type: 'peers', infohash: IH(3), peers: [42], node: ADDR(1), at: T0 },
    { type: 'node', id: NODE_ID(1), address: 'has space:1', version: null, rttMs: 1, bep51: null, bep42: false, at: T0 },
    { type: 'whatever', at: T0 },
    null,
    'x',
    { type: 'infohash', infohash: IH(4).toUpperCase(), node: ADDR(1), source: 'sample', at: T0 },
  ]);
  const r = await apply(events, undefined, { invalid });
  t.like(r, { applied: true, events: 9, invalid: 7, newInfohashes: 2 });
  t.like(await totals(c, keys), { 'events:invalid': 7, 'events:infohash': 2 });
  t.truthy(await getInfohash(c, keys, IH(4)), 'upper-case hex is normalised');
});

test('a database at another schema version is refused, nothing written', async (t) => {
  const c = redis.client(t);
  const keys = new IndexKeys(randomPrefix());
  const events = sampleBatch();
  await t.throwsAsync(applyBatch(c, events, { keys, batchId: newBatchId() }), { instanceOf: SchemaMismatchError, code: 'ERR_SCHEMA_MISMATCH', message: /version 0.*run "dhtscope migrate"/ });
  await c.set(keys.schemaVersion, '99');
  await t.throwsAsync(applyBatch(c, events, { keys, batchId: newBatchId() }), { instanceOf: SchemaMismatchError, message: /newer than this dhtscope knows/ });
  t.deepEqual(Object.keys(await snapshot(c, keys.prefix)), [keys.schemaVersion]);
});

test('the registry holds every infohash scored by its newest sighting, uncapped', async (t) => {
  const { c, keys, apply } = await setup(t, { recentCap: 2 });
  await apply(sampleBatch());
  // IH(1): newest event at T0 + 70 s; IH(2) at T0 + 10 s; IH(3) (peers only) at T0 + 40 s.
  t.deepEqual(await c.zrange(keys.infohashes, 0, '-1', 'WITHSCORES'), [IH(2), String(T0 + 10_000), IH(3), String(T0 + 40_000), IH(1), String(T0 + 70_000)]);
  t.is(await c.zcard(keys.recent), 2, 'recent is capped; the registry is not');
  // An older sighting later does not move it back; a newer one moves it forward.
  await apply([{ type: 'infohash', infohash: IH(1), node: ADDR(9), source: 'sample', at: T0 - 5000 }]);
  t.is(await c.zscore(keys.infohashes, IH(1)), String(T0 + 70_000));
  await apply([{ type: 'infohash', infohash: IH(2), node: ADDR(9), source: 'sample', at: T0 + 90_000 }]);
  t.is(await c.zscore(keys.infohashes, IH(2)), String(T0 + 90_000));
});

test('a key of the wrong type under the prefix (written by something else) refuses the batch before anything is written', async (t) => {
  const { c, keys, apply } = await setup(t);
  await apply([{ type: 'infohash', infohash: IH(5), node: ADDR(1), source: 'sample', at: T0 }]);
  const cases: Array<[string, () => Promise<unknown>, string, string]> = [
    [keys.infohashPeers(IH(1)), () => c.set(keys.infohashPeers(IH(1)), 'not a zset'), 'string', 'zset'],
    [keys.infohash(IH(2)), () => c.sadd(keys.infohash(IH(2)), 'x'), 'set', 'hash'],
    [keys.nodesVersion('none'), () => c.rpush(keys.nodesVersion('none'), 'x'), 'list', 'string'],
  ];
  for (const [key, write, found, expected] of cases) {
    const base = await snapshot(c, keys.prefix);
    await write();
    const before = await snapshot(c, keys.prefix);
    const events = sampleBatch();
    const err = await t.throwsAsync(apply(events), { instanceOf: IndexKeyTypeError, code: 'ERR_INDEX_KEY_TYPE' });
    t.like(err, { key, found, expected });
    t.deepEqual(await snapshot(c, keys.prefix), before, `${key}: nothing written, not even the applied marker`);
    // With the foreign key gone, the same batch applies in full.
    await c.del(key);
    t.deepEqual(await snapshot(c, keys.prefix), base);
  }
  t.like(await apply(sampleBatch()), { applied: true });
  t.is(await c.hget(keys.infohash(IH(1)), 'seen'), '3');
});

test('a large batch: thousands of events, long lists chunked inside the script', async (t) => {
  const { c, keys, apply } = await setup(t, { peersCap: 5000 });
  const events: Discovery[] = [];
  for (let i = 0; i < 3000; i++) events.push({ type: 'infohash', infohash: IH(i), node: ADDR(i % 700), source: 'sample', at: T0 + i });
  for (let i = 0; i < 3000; i++) events.push({ type: 'infohash', infohash: IH(7), node: ADDR(i), source: 'sample', at: T0 + i });
  for (let i = 0; i < 3000; i++) events.push({ type: 'node', id: NODE_ID(i), address: ADDR(i), version: null, rttMs: 5, bep51: true, bep42: false, at: T0 });
  events.push({ type: 'peers', infohash: IH(7), peers: Array.from({ length: 2500 }, (_, j) => `198.51.${j >> 8}.${j & 255}:6881`), node: ADDR(1), at: T0 });
  const started = Date.now();
  const r = await apply(events);
  t.log(`${events.length} events applied in ${Date.now() - started} ms`);
  t.like(r, { applied: true, newInfohashes: 3000 });
  t.is(await infohashCount(c, keys), 3000);
  const rec = await getInfohash(c, keys, IH(7), { now: T0 + 600_000 });
  t.is(rec!.seen, 3001);
  t.is(rec!.peerCount, 2500);
  t.true(Math.abs(rec!.sources - 3000) < 60, `sources ${rec!.sources}`);
  t.true(Math.abs((await nodeCensus(c, keys)).nodes - 3000) < 60);
  const tooMany = validateDiscoveries(new Array(DEFAULT_INDEX_CONFIG.maxBatchEvents + 1).fill(null));
  t.throws(() => planBatch(tooMany.events, { keys, batchId: newBatchId(), invalid: tooMany.invalid }), { code: 'ERR_BATCH_TOO_LARGE' });
});

test('Redis Cluster: every key of a batch is in one slot; the script and queries run unchanged', async (t) => {
  const server = await startRedisServer({ cluster: true });
  t.teardown(() => server.stop());
  const cluster = new Cluster([{ host: server.host, port: server.port }]);
  t.teardown(() => void cluster.disconnect());
  const keys = new IndexKeys(randomPrefix());
  await new MigrationRunner(cluster, keys).migrate({ to: SCHEMA_4_VERSION });
  const events = sampleBatch();
  const batchId = newBatchId();
  const r = await applyBatch(cluster, events, { keys, batchId, now: T0 + 600_000 });
  t.true(r.applied);
  t.false((await applyBatch(cluster, events, { keys, batchId, now: T0 + 600_000 })).applied);
  t.like(await getInfohash(cluster, keys, IH(1), { now: T0 + 600_000 }), { seen: 3, sources: 2, peerCount: 4 });
  t.is((await nodeCensus(cluster, keys)).nodes, 3);
  const plan = planBatch(events, { keys, batchId, now: T0 + 600_000 });
  const slots = new Set(await Promise.all(plan.keys.map((k) => cluster.cluster('KEYSLOT', k))));
  t.is(slots.size, 1, 'one hash slot for the whole batch');
  // Without the shared tag, Redis Cluster refuses a multi-key script.
  await t.throwsAsync(cluster.eval('return 1', 2, `${keys.prefix}:a`, `${keys.prefix}:b`), { message: /CROSSSLOT/ });
});
