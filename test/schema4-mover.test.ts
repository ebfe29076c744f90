import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Discovery } from '../crawler/discovery.js';
import { applyBatch } from '../indexer/apply-batch.js';
import { newBatchId } from '../indexer/batch-id.js';
import { SchemaMismatchError } from '../indexer/errors.js';
import { IndexKeys, SCHEMA_4_VERSION } from '../indexer/keys.js';
import { getInfohash } from '../indexer/queries.js';
import { getMetadata, metadataState } from '../indexer/metadata-store.js';
import { searchMetadata } from '../indexer/search.js';
import { shardedMetadataState } from '../indexer/sharded-fetch-state.js';
import { getShardedMetadata, shardedMetadataCount } from '../indexer/sharded-metadata.js';
import { searchSharded } from '../indexer/sharded-search.js';
import { applyShardedBatch, SHARDED_SCHEMA_VERSION } from '../indexer/sharded-apply.js';
import { ShardedIndexKeys } from '../indexer/sharded-keys.js';
import { shardedRecent } from '../indexer/sharded-pages.js';
import { getShardedInfohash, getShardedPeers, setShardedSchemaVersion, shardedInfohashCount, shardedNodeCensus, shardedStatsSeries, shardedTotals } from '../indexer/sharded-queries.js';
import { MigrationLockBusyError, MigrationLockLostError } from '../migrations/errors.js';
import { MigrationRunner } from '../migrations/runner.js';
import { moveSchema4, sourceBitsFor } from '../migrations/schema4-mover.js';
import { estimateSources } from '../indexer/infohash-record.js';
import { type Redis } from 'ioredis';
import { type RedisClient } from '../redis/client.js';
import { type IndexDump, dumpIndex, restoreIndex } from '../testkit/index-dump.js';
import { ROOT, runCli } from './helpers/cli.js';
import { useRedisCluster } from './helpers/redis-cluster.js';
import { type Expected, lockFor, node, writeLegacy } from './helpers/schema4.js';
import { randomPrefix, useRedisServer } from './helpers/redis.js';

/**
 * Migration 005's mover (migrations/schema4-mover.ts): schema-4 infohashes into schema 5's
 * shards while schema 5 is being written, exactly once even when a chunk is redone after a crash
 * between its shard scripts and the drop of the schema-4 keys.
 */
const redis = useRedisServer(test);

async function expectMoved(t: ExecutionContext, c: Redis, legacy: IndexKeys, keys: ShardedIndexKeys, truth: Map<string, Expected>, now: number): Promise<void> {
  t.is(await shardedInfohashCount(c, keys), truth.size, 'one record per infohash, counted once');
  for (const [hex, want] of truth) {
    const got = await getShardedInfohash(c, keys, hex);
    if (got === null || got.firstSeen !== want.first || got.lastSeen !== want.last || got.seen !== want.seen) {
      t.fail(`${hex}: ${JSON.stringify(got)} vs ${JSON.stringify({ ...want, peers: [...want.peers] })}`);
      return;
    }
    const peers = await getShardedPeers(c, keys, hex, { now });
    t.deepEqual(new Map(peers.map((p) => [p.address, p.at])), want.peers, `${hex}: peers`);
  }
  const left = (await dumpIndex(c, legacy.prefix, '')).keys.filter((k) => k.key.startsWith(`{${legacy.prefix}}:`) && /:ih:|:ihs$|:recent$|:popular$/.test(k.key));
  t.deepEqual(left.map((k) => k.key), [], 'no schema-4 infohash key is left');
}

test('sources: the bits a record gets read back as the schema-4 count', (t) => {
  for (const n of [1, 2, 3, 4, 5, 8, 12, 20]) t.true(Math.abs(estimateSources(sourceBitsFor(n)) - n) <= Math.max(1, n * 0.1), `${n}: ${estimateSources(sourceBitsFor(n))}`);
  t.is(sourceBitsFor(0), 0);
  t.is(sourceBitsFor(1_000), 0xffffffff);
});

test('online: schema-4 records merge with what schema 5 got meanwhile; counts exact, peers kept, schema-4 keys gone', async (t) => {
  const c = redis.client(t);
  const legacy = new IndexKeys(randomPrefix());
  const keys = new ShardedIndexKeys(legacy.prefix);
  const now = Date.now();
  const truth = await writeLegacy(c, legacy, 700, now);
  await setShardedSchemaVersion(c, keys, SHARDED_SCHEMA_VERSION);
  // Writers moved to schema 5 before the mover ran: some old infohashes seen again, some new ones.
  const during: Discovery[] = [];
  for (const [i, hex] of [...truth.keys()].entries()) {
    if (i % 5 !== 0) continue;
    during.push({ type: 'infohash', infohash: hex, node: node(999), source: 'get_peers', at: now });
    const e = truth.get(hex)!;
    e.last = now;
    e.seen++;
  }
  for (let i = 0; i < 50; i++) {
    const hex = randomBytes(20).toString('hex');
    during.push({ type: 'infohash', infohash: hex, node: node(i), source: 'sample', at: now });
    truth.set(hex, { first: now, last: now, seen: 1, peers: new Map() });
  }
  await applyShardedBatch(c, during, { keys, batchId: newBatchId(), now });
  const progress: number[] = [];
  const result = await moveSchema4(c, { legacy, keys, lock: await lockFor(c, legacy), now: () => now, onChunk: (p) => progress.push(p.remaining) });
  t.like(result, { moved: 700, empty: 0, remaining: 0 });
  t.deepEqual(progress, [500, 300, 100, 0], 'chunks of 200, the registry shrinking');
  await expectMoved(t, c, legacy, keys, truth, now);
  t.is((await shardedRecent(c, keys, 10_000)).length, 750);
  t.like(await moveSchema4(c, { legacy, keys, lock: await lockFor(c, legacy), now: () => now }), { moved: 0, remaining: 0 }, 'a second run finds nothing to do');
});

test('a chunk redone after a crash between its shard scripts and the drop merges nothing twice', async (t) => {
  const c = redis.client(t);
  const legacy = new IndexKeys(randomPrefix());
  const keys = new ShardedIndexKeys(legacy.prefix);
  const now = Date.now();
  const truth = await writeLegacy(c, legacy, 300, now);
  await setShardedSchemaVersion(c, keys, SHARDED_SCHEMA_VERSION);
  const lock = await lockFor(c, legacy);
  // The runner lost its lock: the first chunk's shard scripts ran, its drop was refused.
  await t.throwsAsync(moveSchema4(c, { legacy, keys, lock: { ...lock, token: 'stale' }, now: () => now }), { instanceOf: MigrationLockLostError });
  t.is(await shardedInfohashCount(c, keys), 200, 'the first chunk reached schema 5');
  t.is(await c.zcard(legacy.infohashes), 300, 'and is still in schema 4');
  t.like(await moveSchema4(c, { legacy, keys, lock, now: () => now }), { moved: 300, remaining: 0 });
  await expectMoved(t, c, legacy, keys, truth, now);
});

test('the schema-4 fixture moves completely: every record the schema-4 readers read', async (t) => {
  const c = redis.client(t);
  const dump = JSON.parse(await readFile(join(ROOT, 'test', 'fixtures', 'schema-4-index.json'), 'utf8')) as IndexDump;
  const legacy = new IndexKeys(randomPrefix());
  const keys = new ShardedIndexKeys(legacy.prefix);
  await restoreIndex(c, dump, legacy.prefix);
  const hexes = await c.zrange(legacy.infohashes, '0', '-1');
  t.is(hexes.length, 120);
  const before = new Map(await Promise.all(hexes.map(async (h) => [h, (await getInfohash(c, legacy, h))!] as const)));
  const metadata = new Map(await Promise.all(hexes.map(async (h) => [h, await getMetadata(c, legacy, h)] as const)));
  const fixtureTime = Date.parse(/on (\S+Z)/.exec(dump.note)![1]!);
  const states = new Map(await Promise.all(hexes.map(async (h) => [h, await metadataState(c, legacy, h, { now: fixtureTime })] as const)));
  const search = await searchMetadata(c, legacy, ['ubuntu'], { limit: 50, offset: 0 });
  await setShardedSchemaVersion(c, keys, SHARDED_SCHEMA_VERSION);
  t.like(await moveSchema4(c, { legacy, keys, lock: await lockFor(c, legacy) }), { moved: 120, remaining: 0 });
  t.is(await shardedInfohashCount(c, keys), 120);
  for (const [hex, old] of before) {
    const got = await getShardedInfohash(c, keys, hex);
    t.like(got, { firstSeen: old.firstSeen, lastSeen: old.lastSeen, seen: old.seen }, hex);
    t.true(Math.abs(got!.sources - old.sources) <= Math.max(1, old.sources * 0.1), `${hex}: ${got!.sources} sources for ${old.sources}`);
    t.deepEqual(await getShardedMetadata(c, keys, hex), metadata.get(hex), `${hex}: metadata, display forms included`);
    t.deepEqual(await shardedMetadataState(c, keys, hex, { now: fixtureTime }), states.get(hex), `${hex}: fetch state`);
  }
  t.true([...metadata.values()].filter((m) => m !== null).length >= 30, 'the fixture has torrents');
  t.true([...states.values()].some((s) => s.attempts > 0), 'and failed fetches');
  t.is(await shardedMetadataCount(c, keys), [...metadata.values()].filter((m) => m !== null).length);
  const found = await searchSharded(c, keys, ['ubuntu'], { limit: 50, offset: 0 });
  t.is(found.total, 6);
  t.deepEqual(found.items.map((i) => i.infohash).sort(), search.items.map((i) => i.infohash).sort(), 'the names are found as before');
});

test('on a real 3-master cluster: the shard scripts run in their slots, the drop in the schema-4 slot', async (t) => {
  const { client: c } = await useRedisCluster(t);
  const legacy = new IndexKeys(randomPrefix());
  const keys = new ShardedIndexKeys(legacy.prefix);
  const now = Date.now();
  const truth = await writeLegacy(c, legacy, 400, now);
  await setShardedSchemaVersion(c, keys, SHARDED_SCHEMA_VERSION);
  t.like(await moveSchema4(c, { legacy, keys, lock: await lockFor(c, legacy), now: () => now }), { moved: 400, remaining: 0 });
  t.is(await shardedInfohashCount(c, keys), truth.size);
  for (const [hex, want] of [...truth].slice(0, 50)) t.like(await getShardedInfohash(c, keys, hex), { firstSeen: want.first, lastSeen: want.last, seen: want.seen });
});

/** Node events for ids[from..to), and the truth they make. */
function nodeEvents(ids: readonly string[], at: number): Discovery[] {
  return ids.map((id, i) => ({ type: 'node', id, address: node(i), version: i % 2 === 0 ? '4c540102' : null, rttMs: 20, bep51: i % 3 === 0, bep42: false, at }));
}

for (const where of ['one Redis', 'a 3-master cluster'] as const) {
  test(`${where}: the census from before the migration joins the shards' as a union; statistics and totals add`, async (t) => {
    const onCluster = where === 'one Redis' ? null : await useRedisCluster(t);
    const c: RedisClient = onCluster?.client ?? redis.client(t);
    const legacy = new IndexKeys(randomPrefix());
    const keys = new ShardedIndexKeys(legacy.prefix);
    const now = Date.now();
    const ids = Array.from({ length: 900 }, () => randomBytes(20).toString('hex'));
    await new MigrationRunner(c, legacy).migrate({ to: SCHEMA_4_VERSION });
    await applyBatch(c, nodeEvents(ids.slice(0, 600), now - 60_000), { keys: legacy, batchId: newBatchId(), now });
    await setShardedSchemaVersion(c, keys, SHARDED_SCHEMA_VERSION);
    // After the switch: 300 seen before and again, 300 new.
    await applyShardedBatch(c, nodeEvents(ids.slice(300), now), { keys, batchId: newBatchId(), now });
    const census = await shardedNodeCensus(c, keys);
    t.true(Math.abs(census.nodes - 900) <= 900 * 0.03, `${census.nodes} distinct nodes for 900 (not 1,200)`);
    const label = census.versions.find((v) => v.label === '4c540102');
    t.true(label !== undefined && Math.abs(label.nodes - 450) <= 450 * 0.05, `${label?.nodes} with v 4c540102 for 450`);
    const total = await shardedTotals(c, keys);
    t.is(total['events:node'], 1_200, 'totals add: 600 events before, 600 after');
    const series = await shardedStatsSeries(c, keys, 'events:node', now - 120_000, now);
    t.is(series.reduce((n, p) => n + p.value, 0), 1_200);
    const copies = onCluster === null ? (await (c as Redis).keys(`{${keys.prefix}:tmp}*`)).length : (await onCluster.cluster.keysPerMaster(`{${keys.prefix}:tmp}*`)).reduce((n, m) => n + m.keys, 0);
    t.is(copies, 0, 'no temporary copy is left');
  });
}

test('migrations 005 and 006 through the runner: the switch, schema-4 writers refused, the sharded layout written at once, then the move under the lock', async (t) => {
  const c = redis.client(t);
  const dump = JSON.parse(await readFile(join(ROOT, 'test', 'fixtures', 'schema-4-index.json'), 'utf8')) as IndexDump;
  const legacy = new IndexKeys(randomPrefix());
  const keys = new ShardedIndexKeys(legacy.prefix);
  await restoreIndex(c, dump, legacy.prefix);
  const lines: string[] = [];
  const runner = new MigrationRunner(c, legacy, { onLog: (l) => lines.push(l) });
  t.like(await runner.migrate(), { from: 4, to: 6, applied: [5, 6] });
  t.true(lines.some((l) => /120 schema-4 infohashes to move/.test(l)), lines.join('\n'));
  for (const s of keys.shards) t.is(await c.get(s.schemaVersion), '6');
  await t.throwsAsync(applyBatch(c, [{ type: 'infohash', infohash: 'f'.repeat(40), node: node(1), source: 'sample', at: Date.now() }], { keys: legacy, batchId: newBatchId() }), { instanceOf: SchemaMismatchError });
  t.like(await applyShardedBatch(c, [{ type: 'infohash', infohash: 'f'.repeat(40), node: node(1), source: 'sample', at: Date.now() }], { keys, batchId: newBatchId() }), { newInfohashes: 1 });

  // Someone else holds the lock: the move waits for it (here: not at all).
  await c.set(legacy.schemaLock, 'another', 'PX', 30_000);
  await t.throwsAsync(runner.moveSchema4Data({ waitMs: 0 }), { instanceOf: MigrationLockBusyError });
  await c.del(legacy.schemaLock);
  const progress: number[] = [];
  t.like(await runner.moveSchema4Data({ onChunk: (p) => progress.push(p.remaining) }), { moved: 120, remaining: 0 });
  t.deepEqual(progress, [0]);
  t.is(await shardedInfohashCount(c, keys), 121);
  t.is(await c.get(legacy.schemaLock), null, 'the lock is released');
  t.like(await runner.moveSchema4Data(), { moved: 0, remaining: 0 }, 'nothing left: a no-op');
  t.like(await runner.status(), { current: 6, latest: 6, pending: [] });
});

test('dhtscope migrate on a schema-4 index: the switch and the move in one command; query reads the moved data', async (t) => {
  const c = redis.client(t);
  const dump = JSON.parse(await readFile(join(ROOT, 'test', 'fixtures', 'schema-4-index.json'), 'utf8')) as IndexDump;
  const legacy = new IndexKeys(randomPrefix());
  await restoreIndex(c, dump, legacy.prefix);
  const ih = (await c.zrange(legacy.infohashes, '0', '0'))[0]!;
  const old = (await getInfohash(c, legacy, ih))!;
  const base = ['--redis-url', redis.server.url, '--prefix', legacy.prefix];
  const before = await runCli(t, ['query', 'infohash', ih, '--json', ...base]);
  t.is(before.code, 1, 'an index at schema 4 is refused until migrated');
  t.regex(before.stderr, /schema version 4, this dhtscope needs 6: run "dhtscope migrate"/);

  const r = await runCli(t, ['migrate', '--json', ...base]);
  t.is(r.code, 0, r.stderr);
  t.deepEqual(JSON.parse(r.stdout.trim()), { from: 4, to: 6, applied: [5, 6], moved: 120 });
  t.is(await c.exists(legacy.infohashes), 0, 'schema 4 holds nothing more');
  const after = await runCli(t, ['query', 'infohash', ih, '--json', ...base]);
  t.is(after.code, 0, after.stderr);
  t.like(JSON.parse(after.stdout), { infohash: ih, firstSeen: old.firstSeen, lastSeen: old.lastSeen, seen: old.seen });
});
