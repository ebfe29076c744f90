/**
 * migrations/: data written by each older schema, migrated. Schema 1 (by its writer, frozen
 * here) to the schema-2 shape, also by two runners at once; schema 2 to 3, with metadata,
 * search and candidates working on the result; schema 3's registry rescored by last sighting;
 * each step run again after a crash or without its lock; and migration 3 refusing keys a
 * schema-2 index cannot have written.
 *
 * Each test stops at schema 4, where schema 4's readers and writers apply; migration 005, the
 * move to schema 5, is tested in schema4-mover.test.ts.
 */
import test from 'ava';
import { type Redis } from 'ioredis';
import type { Discovery } from '../crawler/discovery.js';
import { applyBatch, applyScript } from '../indexer/apply-batch.js';
import { newBatchId } from '../indexer/batch-id.js';
import { planBatch } from '../indexer/batch-plan.js';
import { DEFAULT_INDEX_CONFIG } from '../indexer/index-config.js';
import { IndexKeys, SCHEMA_4_VERSION } from '../indexer/keys.js';
import { LuaScript } from '../redis/lua-script.js';
import { getMetadata, metadataCandidates, storeMetadata } from '../indexer/metadata-store.js';
import { getInfohash, popularInfohashes, recentInfohashes, totals } from '../indexer/queries.js';
import { searchMetadata } from '../indexer/search.js';
import { peersZset } from '../migrations/002-peers-zset.js';
import { metadata } from '../migrations/003-metadata.js';
import { registryLastSeen } from '../migrations/004-registry-last-seen.js';
import { MigrationLockLostError } from '../migrations/errors.js';
import { MigrationRunner } from '../migrations/runner.js';
import { snapshot } from './helpers/redis.js';
import { peerIn } from './helpers/generators.js';
import { IH, useMigrationRedis } from './helpers/migrations.js';

const { redis, fresh } = useMigrationRedis(test);

const ADDR = (n: number): string => `10.0.${n >> 8}.${n & 255}:6881`;
const PEER = peerIn('203.0.113', 3000);

// ---------------------------------------------------------------------------------------
// The schema-1 writer, frozen as it was: peers per infohash in a plain SET (no times, full
// sets refuse new peers, no expiry), `popular` scored by the set's size. Everything else as in
// schema 2. Only infohash and peers events matter for this migration.

const V1_PEERS_CAP = 200;
const V1_LUA = `#!lua
-- KEYS: 1 applied, 2 version, 3 recent, 4 popular, 5 registry, 6 totals, then (hash, src, peers) per infohash
-- ARGV: 1 JSON [[hex, first, last, seen, [sources], [peers]], ...]
if (redis.call('GET', KEYS[2]) or '0') ~= '1' then return -1 end
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', 604800) then return 0 end
local ihs = cjson.decode(ARGV[1])
for i, e in ipairs(ihs) do
  local hk, sk, pk = KEYS[3 * i + 4], KEYS[3 * i + 5], KEYS[3 * i + 6]
  local cur = redis.call('HMGET', hk, 'first', 'last')
  local first, last = e[2], e[3]
  if cur[1] and tonumber(cur[1]) <= tonumber(first) then first = cur[1] end
  if cur[2] and tonumber(cur[2]) >= tonumber(last) then last = cur[2] end
  if not cur[1] then redis.call('HINCRBY', KEYS[6], 'infohashes:new', 1) end
  redis.call('ZADD', KEYS[5], 'LT', first, e[1])
  redis.call('HINCRBY', hk, 'seen', e[4])
  for _, s in ipairs(e[5]) do redis.call('PFADD', sk, s) end
  for _, p in ipairs(e[6]) do
    if redis.call('SCARD', pk) < ${V1_PEERS_CAP} then redis.call('SADD', pk, p) end
  end
  local peers = redis.call('SCARD', pk)
  redis.call('HSET', hk, 'first', first, 'last', last, 'sources', redis.call('PFCOUNT', sk), 'peers', peers)
  if peers > 0 then redis.call('ZADD', KEYS[4], peers, e[1]) end
  redis.call('ZADD', KEYS[3], 'GT', last, e[1])
end
redis.call('HINCRBY', KEYS[6], 'batches', 1)
return 1
`;
const v1Script = new LuaScript(V1_LUA);

async function applyBatchV1(c: Redis, keys: IndexKeys, events: Discovery[]): Promise<void> {
  const agg = new Map<string, { first: number; last: number; seen: number; sources: Set<string>; peers: Set<string> }>();
  for (const e of events) {
    if (e.type !== 'infohash' && e.type !== 'peers') continue;
    let a = agg.get(e.infohash);
    if (a === undefined) agg.set(e.infohash, (a = { first: e.at, last: e.at, seen: 0, sources: new Set(), peers: new Set() }));
    a.first = Math.min(a.first, e.at);
    a.last = Math.max(a.last, e.at);
    if (e.type === 'infohash') {
      a.seen++;
      a.sources.add(e.node);
    } else for (const p of e.peers) a.peers.add(p);
  }
  const scriptKeys = [keys.applied(newBatchId()), keys.schemaVersion, keys.recent, keys.popular, keys.infohashes, keys.totals];
  const data = [...agg].map(([hex, a]) => {
    scriptKeys.push(keys.infohash(hex), keys.infohashSources(hex), keys.infohashPeers(hex));
    return [hex, String(a.first), String(a.last), a.seen, [...a.sources], [...a.peers]];
  });
  const r = await v1Script.run(c, scriptKeys, [JSON.stringify(data)]);
  if (r !== 1) throw new Error(`v1 writer refused: ${String(r)}`);
}

test('two runners at once on real schema-1 data: migrated once, correctly', async (t) => {
  const { c, keys } = fresh(t);
  const c2 = redis.client(t);
  await new MigrationRunner(c, keys).migrate({ to: 1 });
  const now = Date.now();
  const events: Discovery[] = [];
  for (let i = 0; i < 500; i++) {
    events.push({ type: 'infohash', infohash: IH(i), node: ADDR(i), source: 'sample', at: now - 60_000 });
    events.push({ type: 'peers', infohash: IH(i), peers: [PEER(i), PEER(i + 1)], node: ADDR(i), at: now - 60_000 });
  }
  await applyBatchV1(c, keys, events);
  const [ra, rb] = await Promise.all([new MigrationRunner(c, keys, { pollMs: 10 }).migrate({ to: SCHEMA_4_VERSION }), new MigrationRunner(c2, keys, { pollMs: 10 }).migrate({ to: SCHEMA_4_VERSION })]);
  t.deepEqual([...ra.applied, ...rb.applied], [2, 3, 4]);
  for (const i of [0, 250, 499]) {
    t.is(await c.type(keys.infohashPeers(IH(i))), 'zset');
    t.deepEqual((await c.zrange(keys.infohashPeers(IH(i)), 0, '-1')).sort(), [PEER(i), PEER(i + 1)].sort());
  }
});

test('data written by schema 1 migrates to the schema-2 shape with the same information', async (t) => {
  const { c, keys } = fresh(t);
  await new MigrationRunner(c, keys).migrate({ to: 1 });
  const now = Date.now();
  const ttl = DEFAULT_INDEX_CONFIG.peerTtlMs;
  const events: Discovery[] = [
    // IH(1): two sightings, three peers, recent
    { type: 'infohash', infohash: IH(1), node: ADDR(1), source: 'sample', at: now - 120_000 },
    { type: 'infohash', infohash: IH(1), node: ADDR(2), source: 'get_peers', at: now - 60_000 },
    { type: 'peers', infohash: IH(1), peers: [PEER(1), PEER(2)], node: ADDR(1), at: now - 100_000 },
    { type: 'peers', infohash: IH(1), peers: [PEER(2), PEER(3)], node: ADDR(2), at: now - 90_000 },
    // IH(2): no peers
    { type: 'infohash', infohash: IH(2), node: ADDR(3), source: 'announce_peer', at: now - 30_000 },
    // IH(3): last seen longer ago than the peer TTL: its peers are stale under schema 2
    { type: 'infohash', infohash: IH(3), node: ADDR(4), source: 'sample', at: now - ttl - 3_600_000 },
    { type: 'peers', infohash: IH(3), peers: [PEER(7)], node: ADDR(4), at: now - ttl - 3_600_000 },
    // IH(4): more peers than schema 2 keeps (250 > 200)
    { type: 'infohash', infohash: IH(4), node: ADDR(5), source: 'sample', at: now - 10_000 },
  ];
  await applyBatchV1(c, keys, events);
  // A second v1 batch: IH(4) gets 250 peers, the v1 set stops at 200.
  await applyBatchV1(c, keys, [{ type: 'peers', infohash: IH(4), peers: Array.from({ length: 250 }, (_, i) => `198.51.100.${i}:${4000 + i}`), node: ADDR(5), at: now - 5_000 }]);

  // What schema 1 holds.
  t.is(await c.type(keys.infohashPeers(IH(1))), 'set');
  t.is(await c.scard(keys.infohashPeers(IH(4))), V1_PEERS_CAP);
  t.is(await c.pttl(keys.infohashPeers(IH(1))), -1, 'schema 1 peers never expire');
  const v1Hashes = await Promise.all([1, 2, 3, 4].map((i) => c.hgetall(keys.infohash(IH(i)))));
  const v1Peers1 = (await c.smembers(keys.infohashPeers(IH(1)))).sort();
  const v1Peers4 = (await c.smembers(keys.infohashPeers(IH(4)))).sort();
  const v1Recent = await recentInfohashes(c, keys);
  const v1Totals = await totals(c, keys);
  // The schema-2 writer refuses schema-1 data.
  await t.throwsAsync(applyBatch(c, events, { keys, batchId: newBatchId() }), { code: 'ERR_SCHEMA_MISMATCH' });

  const logs: string[] = [];
  const r = await new MigrationRunner(c, keys, { onLog: (l) => logs.push(l) }).migrate({ to: SCHEMA_4_VERSION });
  t.deepEqual(r, { from: 1, to: 4, applied: [2, 3, 4] });
  t.true(logs.some((l) => /3 peer sets converted \(4 infohashes walked\)/.test(l)), logs.join('\n'));
  // Schema 4's registry, scored by the schema-1 hashes' last sighting.
  t.deepEqual(await c.zrange(keys.infohashes, 0, '-1', 'WITHSCORES'), [1, 2, 3, 4].map((i) => [IH(i), v1Hashes[i - 1]!['last']!]).sort((a, b) => Number(a[1]) - Number(b[1]) || a[0]!.localeCompare(b[0]!)).flat());

  // Peers: the same members, as a ZSET scored by the infohash's last sighting, expiring.
  const last1 = Number(v1Hashes[0]!['last']);
  t.is(await c.type(keys.infohashPeers(IH(1))), 'zset');
  const z1 = await c.zrange(keys.infohashPeers(IH(1)), 0, '-1', 'WITHSCORES');
  t.deepEqual(
    z1.filter((_, i) => i % 2 === 0).sort(),
    v1Peers1,
  );
  t.true(z1.filter((_, i) => i % 2 === 1).every((s) => Number(s) === last1));
  const pttl = await c.pttl(keys.infohashPeers(IH(1)));
  t.true(pttl > 0 && pttl <= last1 + ttl - now + 1000, `pttl ${pttl}`);
  // IH(4): 200 of them (the v1 cap, also the v2 cap); all members came from the v1 set.
  const z4 = await c.zrange(keys.infohashPeers(IH(4)), 0, '-1');
  t.is(z4.length, DEFAULT_INDEX_CONFIG.peersCap);
  t.true(z4.every((m) => v1Peers4.includes(m)));
  // IH(3): stale under schema 2: gone, count 0, out of popular.
  t.is(await c.exists(keys.infohashPeers(IH(3))), 0);
  t.is(await c.hget(keys.infohash(IH(3)), 'peers'), '0');
  t.deepEqual(
    (await popularInfohashes(c, keys)).map((p) => [p.infohash, p.peers]),
    [
      [IH(4), 200],
      [IH(1), 3],
    ],
  );
  // Everything else is unchanged.
  const v2Hashes = await Promise.all([1, 2, 3, 4].map((i) => c.hgetall(keys.infohash(IH(i)))));
  for (const [i, h] of v2Hashes.entries()) {
    const { peers: _p1, ...rest2 } = h;
    const { peers: _p2, ...rest1 } = v1Hashes[i]!;
    t.deepEqual(rest2, rest1);
  }
  t.is(v2Hashes[0]!['peers'], '3');
  t.deepEqual(await recentInfohashes(c, keys), v1Recent);
  t.deepEqual(await totals(c, keys), v1Totals);
  t.like(await getInfohash(c, keys, IH(1)), { seen: 2, sources: 2, peerCount: 3, firstSeen: now - 120_000, lastSeen: now - 60_000 });

  // Running the step again (as after a crash) changes nothing: only SETs are converted.
  const state = await snapshot(c, keys.prefix);
  await c.set(keys.schemaLock, 'tok', 'PX', 10_000);
  await peersZset.up({ redis: c, keys, config: { ...DEFAULT_INDEX_CONFIG }, now: () => now, log: () => {}, lock: { key: keys.schemaLock, token: 'tok' }, assertLock: () => {} });
  await c.del(keys.schemaLock);
  const after = await snapshot(c, keys.prefix);
  for (const s of [state, after]) for (const v of Object.values(s)) (v as { ttl: boolean }).ttl = false;
  t.deepEqual(after, state);

  // The current writer works on migrated data: a newer sighting of PEER(1) moves it to the front.
  await applyBatch(c, [{ type: 'peers', infohash: IH(1), peers: [PEER(1), PEER(9)], node: ADDR(1), at: now }], { keys, batchId: newBatchId(), now });
  const rec = await getInfohash(c, keys, IH(1), { now });
  t.deepEqual(rec!.peers.slice(0, 2).map((p) => p.address).sort(), [PEER(1), PEER(9)].sort());
  t.is(rec!.peerCount, 4);
});

/**
 * The schema-2 batch writer: version 2's script is version 3's (schema 3 only adds metadata
 * keys, written elsewhere); only the version it checks differs. Resolves to the script's status
 * (1 applied, -1 refused for another version).
 */
async function applyBatchV2(c: Redis, keys: IndexKeys, events: Discovery[], now: number): Promise<number> {
  const plan = planBatch(events, { keys, batchId: newBatchId(), now });
  const args = JSON.stringify({ ...(JSON.parse(plan.args[0]) as object), v: '2' });
  const [status] = (await applyScript.run(c, plan.keys, [args])) as [number];
  return status;
}

test('data written by schema 2 migrates to 3 unchanged but for metadata_since; metadata, search and candidates work on it', async (t) => {
  const { c, keys } = fresh(t);
  await new MigrationRunner(c, keys).migrate({ to: 2 });
  const now = Date.now();
  const events: Discovery[] = [
    { type: 'infohash', infohash: IH(1), node: ADDR(1), source: 'sample', at: now - 60_000 },
    { type: 'peers', infohash: IH(1), peers: [PEER(1), PEER(2), PEER(3)], node: ADDR(1), at: now - 50_000 },
    { type: 'infohash', infohash: IH(2), node: ADDR(2), source: 'get_peers', at: now - 40_000 },
    { type: 'peers', infohash: IH(3), peers: [PEER(4)], node: ADDR(3), at: now - 30_000 },
    { type: 'node', id: IH(9), address: ADDR(9), version: null, rttMs: 12, bep51: true, bep42: false, at: now - 20_000 },
  ];
  t.is(await applyBatchV2(c, keys, events, now), 1);
  await t.throwsAsync(applyBatch(c, events, { keys, batchId: newBatchId(), now }), { code: 'ERR_SCHEMA_MISMATCH', message: /version 2, this dhtscope needs 4/ });
  const before = await snapshot(c, keys.prefix);

  const since = now + 5;
  const logs: string[] = [];
  t.deepEqual(await new MigrationRunner(c, keys, { now: () => since, onLog: (l) => logs.push(l) }).migrate({ to: 3 }), { from: 2, to: 3, applied: [3] });
  t.true(logs.some((l) => /metadata: keeping torrent metadata from /.test(l)), logs.join('\n'));
  const after = await snapshot(c, keys.prefix);
  const changed = Object.keys(after).filter((k) => JSON.stringify(after[k]) !== JSON.stringify(before[k]));
  t.deepEqual(changed.sort(), [keys.meta, keys.schemaHistory, keys.schemaVersion].sort(), 'nothing else changed');
  t.is(await c.hget(keys.meta, 'metadata_since'), String(since));
  t.is(await applyBatchV2(c, keys, [{ ...events[0]!, at: now }], now), -1, 'the schema-2 writer refuses the migrated index');

  // The step again (as after a crash between its write and the version bump): nothing changes.
  const state = await snapshot(c, keys.prefix);
  await c.set(keys.schemaLock, 'tok', 'PX', 10_000);
  await metadata.up({ redis: c, keys, config: { ...DEFAULT_INDEX_CONFIG }, now: () => since + 1000, log: () => {}, lock: { key: keys.schemaLock, token: 'tok' }, assertLock: () => {} });
  await c.del(keys.schemaLock);
  t.deepEqual(await snapshot(c, keys.prefix), state);
  // ...and without the lock it writes nothing.
  await t.throwsAsync(
    metadata.up({ redis: c, keys, config: { ...DEFAULT_INDEX_CONFIG }, now: () => since, log: () => {}, lock: { key: keys.schemaLock, token: 'tok' }, assertLock: () => {} }),
    { instanceOf: MigrationLockLostError },
  );

  // The current code on the migrated data (after schema 4's step).
  t.deepEqual(await new MigrationRunner(c, keys).migrate({ to: SCHEMA_4_VERSION }), { from: 3, to: 4, applied: [4] });
  t.deepEqual(await metadataCandidates(c, keys, { limit: 10, now }), [
    { infohash: IH(1), peers: 3, retry: false },
    { infohash: IH(3), peers: 1, retry: false },
  ]);
  const summary = {
    name: { raw: Buffer.from('Debian 12 netinst') },
    totalSize: 10,
    pieceLength: 16_384,
    pieceCount: 1,
    fileCount: 1,
    files: [{ path: [{ raw: Buffer.from('debian.iso') }], size: 10 }],
    singleFile: true,
    private: false,
    metaVersion: 1,
  };
  t.is((await storeMetadata(c, keys, IH(1), summary, { fetchedAt: now, peer: PEER(1) })).status, 'stored');
  t.is((await getMetadata(c, keys, IH(1)))!.name.display, 'Debian 12 netinst');
  t.deepEqual((await searchMetadata(c, keys, ['debian', 'netinst'], { limit: 5, offset: 0 })).items.map((i) => i.infohash), [IH(1)]);
  t.deepEqual((await metadataCandidates(c, keys, { limit: 10, now })).map((x) => x.infohash), [IH(3)]);
  t.like(await applyBatch(c, [{ ...events[0]!, at: now }], { keys, batchId: newBatchId(), now }), { applied: true });
});

test('data written by schema 3: the registry is rescored from first to last seen; a re-run and a lost lock change nothing', async (t) => {
  const { c, keys } = fresh(t);
  await new MigrationRunner(c, keys).migrate({ to: 3 });
  const now = Date.now();
  // 450 infohashes (more than one ZSCAN and script chunk). A third were seen again later.
  const events: Discovery[] = [];
  const first = (i: number): number => now - 1_000_000 + i;
  const last = (i: number): number => (i % 3 === 0 ? now - 500_000 + i : first(i));
  for (let i = 1; i <= 450; i++) {
    events.push({ type: 'infohash', infohash: IH(i), node: ADDR(i & 255), source: 'sample', at: first(i) });
    if (i % 3 === 0) events.push({ type: 'peers', infohash: IH(i), peers: [PEER(i)], node: ADDR(1), at: last(i) });
  }
  // The schema-3 writer was the current one but for the registry's score: first seen (ZADD LT).
  const plan = planBatch(events, { keys, batchId: newBatchId(), now });
  const [status] = (await applyScript.run(c, plan.keys, [JSON.stringify({ ...(JSON.parse(plan.args[0]) as object), v: '3' })])) as [number];
  t.is(status, 1);
  for (let i = 1; i <= 450; i++) await c.zadd(keys.infohashes, 'XX', first(i), IH(i));
  // A hash lost (damaged data) keeps its first-seen score.
  await c.del(keys.infohash(IH(9)));
  const before = await snapshot(c, keys.prefix);

  const logs: string[] = [];
  t.deepEqual(await new MigrationRunner(c, keys, { onLog: (l) => logs.push(l) }).migrate({ to: SCHEMA_4_VERSION }), { from: 3, to: 4, applied: [4] });
  t.true(logs.some((l) => /registry-last-seen: 450 infohashes walked, 149 rescored by last seen/.test(l)), logs.join('\n'));
  const scores = new Map<string, string>();
  const flat = await c.zrange(keys.infohashes, 0, '-1', 'WITHSCORES');
  for (let i = 0; i < flat.length; i += 2) scores.set(flat[i]!, flat[i + 1]!);
  t.is(scores.size, 450);
  for (const i of [1, 3, 100, 450]) t.is(scores.get(IH(i)), String(last(i)), `IH(${i})`);
  t.is(scores.get(IH(9)), String(first(9)));
  const after = await snapshot(c, keys.prefix);
  const changed = Object.keys(after).filter((k) => JSON.stringify(after[k]) !== JSON.stringify(before[k]));
  t.deepEqual(changed.sort(), [keys.infohashes, keys.schemaHistory, keys.schemaVersion].sort(), 'nothing else changed');

  // The step again (as after a crash before the version bump): nothing changes.
  const state = await snapshot(c, keys.prefix);
  const ctx = { redis: c, keys, config: { ...DEFAULT_INDEX_CONFIG }, now: () => now, log: () => {}, lock: { key: keys.schemaLock, token: 'tok' }, assertLock: () => {} };
  await c.set(keys.schemaLock, 'tok', 'PX', 10_000);
  await registryLastSeen.up(ctx);
  await c.del(keys.schemaLock);
  t.deepEqual(await snapshot(c, keys.prefix), state);
  await t.throwsAsync(registryLastSeen.up(ctx), { instanceOf: MigrationLockLostError });
  // The current writer keeps the registry at the newest sighting.
  await applyBatch(c, [{ type: 'infohash', infohash: IH(1), node: ADDR(1), source: 'sample', at: now }], { keys, batchId: newBatchId(), now });
  t.is(await c.zscore(keys.infohashes, IH(1)), String(now));
  await applyBatch(c, [{ type: 'infohash', infohash: IH(1), node: ADDR(2), source: 'sample', at: now - 5 }], { keys, batchId: newBatchId(), now });
  t.is(await c.zscore(keys.infohashes, IH(1)), String(now), 'an older sighting does not lower it');
});

test('migration 3 refuses metadata keys that a schema-2 index cannot have written', async (t) => {
  const { c, keys } = fresh(t);
  await new MigrationRunner(c, keys).migrate({ to: 2 });
  await c.zadd(keys.metadataWait, 1, IH(1));
  await t.throwsAsync(new MigrationRunner(c, keys).migrate({ to: SCHEMA_4_VERSION }), { message: /metadata keys under prefix .* exist in a version-2 index: refusing/ });
  t.is(await c.get(keys.schemaVersion), '2');
  t.is(await c.hget(keys.meta, 'metadata_since'), null);
  t.is(await c.exists(keys.schemaLock), 0);
});
