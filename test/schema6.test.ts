import test from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { type Discovery } from '../crawler/discovery.js';
import { newBatchId } from '../indexer/batch-id.js';
import { SchemaMismatchError } from '../indexer/errors.js';
import { getIndexedInfohash, indexedSummaries } from '../indexer/indexed-reads.js';
import { IndexKeys, SCHEMA_VERSION } from '../indexer/keys.js';
import { SHARDED_SCHEMA_VERSION, applyShardedBatch } from '../indexer/sharded-apply.js';
import { ShardedIndexKeys } from '../indexer/sharded-keys.js';
import { pruneSharded } from '../indexer/sharded-prune.js';
import { setShardedSchemaVersion, shardedNodeCensus } from '../indexer/sharded-queries.js';
import { pageIndexedSeeders, readSwarmEstimates, writeSwarmEstimates } from '../indexer/swarm-estimates.js';
import { familiesAndScrapes } from '../migrations/006-families-and-scrapes.js';
import { MigrationRunner } from '../migrations/runner.js';
import { infohashListView, infohashView } from '../server/api/views.js';
import { useRedisCluster } from './helpers/redis-cluster.js';
import { randomPrefix, useRedisServer } from './helpers/redis.js';

/**
 * Schema 6 (indexer/SCHEMA.md): the census per address family, BEP 33 scrape estimates per
 * infohash (stored only with a record, only if newer, ranked by seeders, removed with the
 * record), and migration 006, which counts every node seen before it as IPv4.
 */
const redis = useRedisServer(test);

const MINUTE = 60_000;
const NOW = Math.floor(Date.now() / MINUTE) * MINUTE;
const hexes = (n: number): string[] => Array.from({ length: n }, () => randomBytes(20).toString('hex'));
/**
 * IDs that are the same in every run, for the tests that read a census: a HyperLogLog count is
 * a function of its members, so fixed members give a fixed count, while random ones drift
 * about 1% either side (a run once counted 506 of 500). The margin is HyperLogLog's 3%, as in
 * the other census tests.
 */
const fixedHexes = (label: string, n: number): string[] =>
  Array.from({ length: n }, (_, i) => createHash('sha1').update(`schema6 ${label} ${i}`).digest('hex'));
const nodeEvent = (id: string, address: string): Discovery => ({ type: 'node', id, address, version: null, rttMs: 20, bep51: null, bep42: false, at: NOW });
const sighting = (infohash: string, at = NOW): Discovery => ({ type: 'infohash', infohash, node: '198.51.100.7:6881', source: 'sample', at });

async function fresh(c: Parameters<typeof setShardedSchemaVersion>[0]): Promise<ShardedIndexKeys> {
  const keys = new ShardedIndexKeys(randomPrefix());
  await setShardedSchemaVersion(c, keys, SHARDED_SCHEMA_VERSION);
  return keys;
}

test('the census counts node IDs per address family; a dual-stack node counts in both', async (t) => {
  const c = redis.client(t);
  const keys = await fresh(c);
  const v4 = fixedHexes('v4', 300);
  const v6 = fixedHexes('v6', 200);
  const both = fixedHexes('both', 50);
  const events = [
    ...v4.map((id, i) => nodeEvent(id, `198.51.${i >> 8}.${i & 255}:6881`)),
    ...v6.map((id, i) => nodeEvent(id, `[2001:db8::${i.toString(16)}]:6881`)),
    ...both.flatMap((id, i) => [nodeEvent(id, `203.0.113.${i}:6881`), nodeEvent(id, `[2001:db8:1::${i.toString(16)}]:6881`)]),
  ];
  await applyShardedBatch(c, events, { keys, batchId: newBatchId(), now: NOW });
  const census = await shardedNodeCensus(c, keys);
  // HyperLogLogs: exact or nearly so at these sizes.
  t.true(Math.abs(census.nodes - 550) <= 3, `nodes ${census.nodes}`);
  t.true(Math.abs(census.families.ipv4 - 350) <= 3, `ipv4 ${census.families.ipv4}`);
  t.true(Math.abs(census.families.ipv6 - 250) <= 3, `ipv6 ${census.families.ipv6}`);
});

test('migration 006 counts the nodes of a schema-5 census as IPv4, shard versions first, and a re-run changes nothing', async (t) => {
  const c = redis.client(t);
  const legacy = new IndexKeys(randomPrefix());
  const keys = ShardedIndexKeys.of(legacy.prefix);
  const runner = new MigrationRunner(c, legacy);
  await runner.migrate({ to: 5 });
  t.is(await c.get(keys.shards[0]!.schemaVersion), '5', 'migration 005 sets 5, not the latest');
  // What a schema-5 writer left: node IDs in each shard's `nodes`, no family keys. Written
  // with the keys' own commands, as no schema-5 writer exists any more.
  const ids = fixedHexes('schema-5', 400);
  for (const id of ids) await c.pfadd(keys.locate(id).shard.census.nodes, id);
  // And a schema-4 census (from before migration 005) under the prefix itself.
  await c.pfadd(keys.legacy.nodes, ...fixedHexes('schema-4', 100));
  // A schema-6 writer is refused by the schema-5 shards.
  await t.throwsAsync(applyShardedBatch(c, [nodeEvent(ids[0]!, '192.0.2.1:1')], { keys, batchId: newBatchId(), now: NOW }), { instanceOf: SchemaMismatchError });

  t.like(await runner.migrate(), { from: 5, to: 6, applied: [6] });
  for (const s of keys.shards) t.is(await c.get(s.schemaVersion), String(SCHEMA_VERSION));
  const census = await shardedNodeCensus(c, keys);
  t.true(Math.abs(census.nodes - 500) <= 500 * 0.03, `nodes ${census.nodes}`);
  t.is(census.families.ipv4, census.nodes, 'every node before schema 6 was reached over IPv4');
  t.is(census.families.ipv6, 0);

  const lines: string[] = [];
  const ctx = { redis: c, keys: legacy, config: {} as never, now: Date.now, log: (l: string) => lines.push(l), lock: { key: legacy.schemaLock, token: 'x' }, assertLock: () => {} };
  await familiesAndScrapes.up(ctx);
  t.deepEqual(await shardedNodeCensus(c, keys), census, 'a re-run (after a crash) counts nothing twice');
  t.regex(lines[0]!, /64 shards at version 6; \d+ censuses counted as IPv4/);
});

test('scrape estimates: kept only with a record and only when newer; read back to the minute; ranked by seeders', async (t) => {
  const c = redis.client(t);
  const keys = await fresh(c);
  const [a, b, d, noRecord] = hexes(4) as [string, string, string, string];
  await applyShardedBatch(c, [sighting(a), sighting(b), sighting(d)], { keys, batchId: newBatchId(), now: NOW });

  t.is(await writeSwarmEstimates(c, keys, [
    { infohash: a, seeders: 12.4, leechers: 30.6, at: NOW + 5_000 },
    { infohash: b, seeders: 40, leechers: 2, at: NOW },
    { infohash: d, seeders: 0, leechers: 7, at: NOW },
    { infohash: noRecord, seeders: 99, leechers: 99, at: NOW },
  ]), 3, 'the one without a record is not kept');
  t.deepEqual(await readSwarmEstimates(c, keys, [a, noRecord]), [{ seeders: 12, leechers: 31, at: NOW }, null]);

  // An older or same-minute estimate changes nothing; a newer one replaces it.
  t.is(await writeSwarmEstimates(c, keys, [{ infohash: a, seeders: 1, leechers: 1, at: NOW - MINUTE }]), 0);
  t.is(await writeSwarmEstimates(c, keys, [{ infohash: a, seeders: 1, leechers: 1, at: NOW + 30_000 }]), 0);
  t.is(await writeSwarmEstimates(c, keys, [{ infohash: a, seeders: 50, leechers: 3, at: NOW + MINUTE }]), 1);
  t.deepEqual((await readSwarmEstimates(c, keys, [a]))[0], { seeders: 50, leechers: 3, at: NOW + MINUTE });
  // 2^16 - 1 at most: BEP 33's filters saturate near 8,000 anyway.
  t.is(await writeSwarmEstimates(c, keys, [{ infohash: b, seeders: 1e9, leechers: 2, at: NOW + 2 * MINUTE }]), 1);
  t.is((await readSwarmEstimates(c, keys, [b]))[0]!.seeders, 65_535);

  const page = await pageIndexedSeeders(c, keys, { limit: 10 });
  t.deepEqual(page.items.map((i) => i.member), [b, a], 'most seeders first; none without seeders');

  // The views: the record and the list carry `swarm`, and `sort=seeders` lists by it.
  const vc = { redis: c, keys: keys.legacy, now: Date.now() };
  t.like(await infohashView(vc, a), { infohash: a, swarm: { seeders: 50, leechers: 3, at: NOW + MINUTE } });
  const list = await infohashListView(vc, { sort: 'seeders', limit: 1, cursor: null });
  t.deepEqual(list.items.map((i) => [i.infohash, i.swarm?.seeders]), [[b, 65_535]]);
  t.truthy(list.nextCursor);
  t.deepEqual((await indexedSummaries(c, keys, [d]))[0]!.swarm, { seeders: 0, leechers: 7, at: NOW });
  t.is((await getIndexedInfohash(c, keys, noRecord)), null);

  await t.throwsAsync(writeSwarmEstimates(c, keys, [{ infohash: a, seeders: -1, leechers: 0, at: NOW }]), { instanceOf: RangeError });
  const old = new ShardedIndexKeys(randomPrefix());
  await setShardedSchemaVersion(c, old, 5);
  await t.throwsAsync(writeSwarmEstimates(c, old, [{ infohash: a, seeders: 1, leechers: 0, at: NOW }]), { instanceOf: SchemaMismatchError });
});

test('retention removes an estimate with its record, and from the seeders ranking', async (t) => {
  const c = redis.client(t);
  const keys = await fresh(c);
  const [stale, kept] = hexes(2) as [string, string];
  await applyShardedBatch(c, [sighting(stale, NOW - 40 * 86_400_000), sighting(kept)], { keys, batchId: newBatchId(), now: NOW });
  await writeSwarmEstimates(c, keys, [
    { infohash: stale, seeders: 5, leechers: 5, at: NOW },
    { infohash: kept, seeders: 3, leechers: 1, at: NOW },
  ]);
  const r = await pruneSharded(c, { keys, seenBefore: NOW - 30 * 86_400_000, now: NOW });
  t.is(r.pruned, 1);
  t.deepEqual(await readSwarmEstimates(c, keys, [stale, kept]), [null, { seeders: 3, leechers: 1, at: NOW }]);
  t.deepEqual((await pageIndexedSeeders(c, keys, { limit: 10 })).items.map((i) => i.member), [kept]);
  const { shard, bucket } = keys.locate(stale);
  t.is(await c.hexists(shard.swarm(bucket), Buffer.from(stale, 'hex')), 0, 'no field left behind');
});

test('on a real 3-master cluster: estimates are written per shard, in their slots', async (t) => {
  const { client: c } = await useRedisCluster(t);
  const keys = await fresh(c);
  const ihs = hexes(200);
  await applyShardedBatch(c, ihs.map((h) => sighting(h)), { keys, batchId: newBatchId(), now: NOW });
  t.is(await writeSwarmEstimates(c, keys, ihs.map((infohash, i) => ({ infohash, seeders: i, leechers: 200 - i, at: NOW }))), 200);
  const back = await readSwarmEstimates(c, keys, ihs);
  t.deepEqual(back.map((e) => e?.seeders), ihs.map((_, i) => i));
  t.is((await pageIndexedSeeders(c, keys, { limit: 5 })).items[0]!.member, ihs[199]!);
});
