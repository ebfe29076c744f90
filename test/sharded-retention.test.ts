import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import { type Discovery } from '../crawler/discovery.js';
import { newBatchId } from '../indexer/batch-id.js';
import { SchemaMismatchError } from '../indexer/errors.js';
import { HOUR_MS, applyShardedBatch, SHARDED_SCHEMA_VERSION } from '../indexer/sharded-apply.js';
import { ShardedIndexKeys } from '../indexer/sharded-keys.js';
import { shardedPopular, shardedRecent } from '../indexer/sharded-pages.js';
import { type MetadataInput } from '../indexer/metadata-store.js';
import { recordShardedMetadataFailure, shardedMetadataState } from '../indexer/sharded-fetch-state.js';
import { getShardedMetadata, shardedMetadataCount, storeShardedMetadata } from '../indexer/sharded-metadata.js';
import { lastSeenHistogram, pruneCutoff, pruneSharded } from '../indexer/sharded-prune.js';
import { searchSharded } from '../indexer/sharded-search.js';
import { getShardedInfohash, getShardedPeers, setShardedSchemaVersion, shardedInfohashCount, shardedTotals } from '../indexer/sharded-queries.js';
import { type RedisClient } from '../redis/client.js';
import { dumpIndex } from '../testkit/index-dump.js';
import { randomPrefix, useRedisServer } from './helpers/redis.js';
import { useRedisCluster } from './helpers/redis-cluster.js';

/**
 * Schema 5's retention (indexer/sharded-prune.ts): the last-seen histogram the batch script
 * keeps, and a pass by age and by cap over the buckets, judged against what was written.
 */
const redis = useRedisServer(test);

const NOW = Date.UTC(2026, 11, 6, 12);
const node = (n: number): string => `198.51.100.${n % 250}:${6881 + n}`;

/** `count` infohashes last seen spread over `hours` hours before NOW, half with a live peer; their last-seen times. */
async function fill(c: RedisClient, keys: ShardedIndexKeys, count: number, hours: number): Promise<Map<string, number>> {
  const last = new Map<string, number>();
  const events: Discovery[] = [];
  for (let i = 0; i < count; i++) {
    const hex = randomBytes(20).toString('hex');
    const at = NOW - 1 - Math.floor(Math.random() * hours * HOUR_MS);
    events.push({ type: 'infohash', infohash: hex, node: node(i), source: 'sample', at: at - 5_000 });
    events.push({ type: 'infohash', infohash: hex, node: node(i + 1), source: 'sample', at });
    if (i % 2 === 0) events.push({ type: 'peers', infohash: hex, peers: [`203.0.113.${i % 250}:${1000 + (i % 5000)}`], node: node(i), at });
    last.set(hex, at);
  }
  for (let at = 0; at < events.length; at += 5_000) await applyShardedBatch(c, events.slice(at, at + 5_000), { keys, batchId: newBatchId(), now: NOW });
  return last;
}

function hoursOf(last: Map<string, number>): Map<number, number> {
  const out = new Map<number, number>();
  for (const at of last.values()) out.set(Math.floor(at / HOUR_MS), (out.get(Math.floor(at / HOUR_MS)) ?? 0) + 1);
  return out;
}

const sorted = (m: Map<number, number>): Array<[number, number]> => [...m].sort(([a], [b]) => a - b);

async function expectIndexHolds(t: ExecutionContext, c: RedisClient, keys: ShardedIndexKeys, kept: Map<string, number>, gone: Iterable<string>): Promise<void> {
  t.is(await shardedInfohashCount(c, keys), kept.size, 'the count is exact');
  t.deepEqual(sorted(await lastSeenHistogram(c, keys)), sorted(hoursOf(kept)), 'the histogram is the kept records\' last-seen hours');
  for (const hex of gone) {
    if ((await getShardedInfohash(c, keys, hex)) !== null || (await getShardedPeers(c, keys, hex, { now: NOW })).length > 0) {
      t.fail(`${hex} was pruned but is still there`);
      return;
    }
  }
  for (const [hex, at] of kept) {
    if ((await getShardedInfohash(c, keys, hex))?.lastSeen !== at) {
      t.fail(`${hex} should be kept with last seen ${at}`);
      return;
    }
  }
  const goneSet = new Set(gone);
  for (const r of await shardedRecent(c, keys, 10_000)) if (goneSet.has(r.infohash)) t.fail(`${r.infohash} still in recent`);
  for (const p of await shardedPopular(c, keys, 10_000)) if (goneSet.has(p.infohash)) t.fail(`${p.infohash} still in popular`);
}

test('the batch script keeps each shard\'s last-seen histogram: records per hour of last seen, moved when seen again', async (t) => {
  const c = redis.client(t);
  const keys = new ShardedIndexKeys(randomPrefix());
  await setShardedSchemaVersion(c, keys, SHARDED_SCHEMA_VERSION);
  const last = await fill(c, keys, 3_000, 48);
  t.deepEqual(sorted(await lastSeenHistogram(c, keys)), sorted(hoursOf(last)));
  // Seen again, a third of them move to the newest hour; an older sighting moves nothing.
  const again: Discovery[] = [...last.keys()].flatMap((hex, i) => (i % 3 === 0 ? [{ type: 'infohash', infohash: hex, node: node(i), source: 'get_peers', at: NOW } as const] : i % 3 === 1 ? [{ type: 'infohash', infohash: hex, node: node(i), source: 'get_peers', at: NOW - 60 * HOUR_MS } as const] : []));
  await applyShardedBatch(c, again, { keys, batchId: newBatchId(), now: NOW });
  for (const [i, hex] of [...last.keys()].entries()) if (i % 3 === 0) last.set(hex, NOW);
  t.deepEqual(sorted(await lastSeenHistogram(c, keys)), sorted(hoursOf(last)));
});

test('by age: records last seen before the cutoff go with their peers and view entries; counts, histogram and totals stay exact', async (t) => {
  const c = redis.client(t);
  const keys = new ShardedIndexKeys(randomPrefix());
  await setShardedSchemaVersion(c, keys, SHARDED_SCHEMA_VERSION);
  const last = await fill(c, keys, 4_000, 12);
  const seenBefore = NOW - 4 * HOUR_MS - 1_234;
  const gone = [...last].filter(([, at]) => at < seenBefore).map(([hex]) => hex);
  const kept = new Map([...last].filter(([, at]) => at >= seenBefore));
  t.true(gone.length > 2_000 && kept.size > 1_000, `${gone.length} to go, ${kept.size} to keep`);

  const state = async (): Promise<unknown[]> => (await dumpIndex(c, keys.prefix, '')).keys.map(({ pttl, ...k }) => ({ ...k, ttl: pttl !== null }));
  const before = await state();
  const dry = await pruneSharded(c, { keys, seenBefore, dryRun: true, now: NOW });
  t.like(dry, { pruned: gone.length, deferred: 0, dryRun: true, looked: last.size });
  t.deepEqual(await state(), before, 'a dry run changes nothing');

  const result = await pruneSharded(c, { keys, seenBefore, now: NOW });
  t.like(result, { pruned: gone.length, deferred: 0, cutoff: seenBefore, looked: last.size });
  await expectIndexHolds(t, c, keys, kept, gone);
  t.is((await shardedTotals(c, keys))['infohashes:pruned'], gone.length);

  // A second pass with an earlier cutoff: the histogram shows nothing in or before its hour, so no bucket is read.
  t.like(await pruneSharded(c, { keys, seenBefore: NOW - 6 * HOUR_MS, now: NOW }), { pruned: 0, looked: 0 });
  // Seen again, a pruned infohash comes back as new.
  const back = gone[0]!;
  t.like(await applyShardedBatch(c, [{ type: 'infohash', infohash: back, node: node(1), source: 'sample', at: NOW }], { keys, batchId: newBatchId(), now: NOW }), { newInfohashes: 1 });
  t.like(await getShardedInfohash(c, keys, back), { firstSeen: NOW, lastSeen: NOW, seen: 1 });
});

test('by cap: at most N stay, all more recent than any that went, at most one hour\'s worth below N', async (t) => {
  const c = redis.client(t);
  const keys = new ShardedIndexKeys(randomPrefix());
  await setShardedSchemaVersion(c, keys, SHARDED_SCHEMA_VERSION);
  const last = await fill(c, keys, 4_000, 40);
  const max = 2_500;
  const cutoff = pruneCutoff(await lastSeenHistogram(c, keys), { maxInfohashes: max })!;
  const result = await pruneSharded(c, { keys, maxInfohashes: max, now: NOW });
  t.is(result.cutoff, cutoff);
  const kept = new Map([...last].filter(([, at]) => at >= cutoff));
  const gone = [...last].filter(([, at]) => at < cutoff).map(([hex]) => hex);
  t.is(result.pruned, gone.length);
  const boundaryHour = Math.floor(cutoff / HOUR_MS) - 1;
  const inBoundary = [...last.values()].filter((at) => Math.floor(at / HOUR_MS) === boundaryHour).length;
  t.true(kept.size <= max && kept.size > max - inBoundary, `${kept.size} kept for a cap of ${max} (the boundary hour had ${inBoundary})`);
  t.true(Math.min(...kept.values()) > Math.max(...gone.map((hex) => last.get(hex)!)), 'every kept record is newer than every pruned one');
  await expectIndexHolds(t, c, keys, kept, gone);
  t.like(await pruneSharded(c, { keys, maxInfohashes: max, now: NOW }), { pruned: 0, looked: 0 });
});

/** A one-file torrent's metadata, as the fetcher reports it. */
function torrent(name: string): MetadataInput {
  const raw = Buffer.from(name);
  return { name: { raw }, totalSize: 1_000, pieceLength: 16_384, pieceCount: 1, fileCount: 1, files: [{ path: [{ raw }], size: 1_000 }], singleFile: true, private: false, metaVersion: 1 };
}

test('records with metadata or fetch state go with their blob, fetch state, wait entry and postings; another schema version is refused', async (t) => {
  const c = redis.client(t);
  const keys = new ShardedIndexKeys(randomPrefix());
  await setShardedSchemaVersion(c, keys, SHARDED_SCHEMA_VERSION);
  const last = await fill(c, keys, 500, 10);
  const seenBefore = NOW - 5 * HOUR_MS;
  const old = [...last].filter(([, at]) => at < seenBefore).map(([hex]) => hex);
  const young = [...last].filter(([, at]) => at >= seenBefore).map(([hex]) => hex);
  // Metadata for 20 old and 10 young infohashes, all named "retention sample"; a failed fetch for 20 more old ones.
  for (const hex of [...old.slice(0, 20), ...young.slice(0, 10)]) await storeShardedMetadata(c, keys, hex, torrent(`retention sample ${hex.slice(0, 6)}`), { fetchedAt: NOW, peer: '192.0.2.1:6881' });
  for (const hex of old.slice(20, 40)) await recordShardedMetadataFailure(c, keys, hex, { code: 'ERR_PEER_TIMEOUT', at: NOW });
  t.is(await shardedMetadataCount(c, keys), 30);
  t.is((await searchSharded(c, keys, ['retention', 'sample'], { limit: 100, offset: 0 })).total, 30);

  const result = await pruneSharded(c, { keys, seenBefore, now: NOW });
  t.like(result, { pruned: old.length, deferred: 0 });
  t.is(await shardedInfohashCount(c, keys), young.length);
  t.is(await shardedMetadataCount(c, keys), 10, 'the metadata count lost the 20 pruned blobs');
  const found = await searchSharded(c, keys, ['retention', 'sample'], { limit: 100, offset: 0 });
  t.deepEqual(found.items.map((h) => h.infohash).sort(), young.slice(0, 10).sort(), 'only the kept torrents are found');
  for (const hex of old.slice(0, 40)) {
    t.is(await getShardedMetadata(c, keys, hex), null);
    t.like(await shardedMetadataState(c, keys, hex, { now: NOW }), { hasMetadata: false, attempts: 0 });
  }
  for (const s of keys.shards) t.is(await c.zcard(s.metadataWait), 0, 'no wait entry is left');

  const other = new ShardedIndexKeys(randomPrefix());
  await setShardedSchemaVersion(c, other, 4);
  await c.hset(other.shards[0]!.lastSeenHours, '1', '1');
  await t.throwsAsync(pruneSharded(c, { keys: other, seenBefore: NOW }), { instanceOf: SchemaMismatchError });
});

test('a record whose blob is replaced or appears, or that is seen again, between the blob read and the metadata step is left for a later pass, with its new state whole', async (t) => {
  const c = redis.client(t);
  const keys = new ShardedIndexKeys(randomPrefix());
  await setShardedSchemaVersion(c, keys, SHARDED_SCHEMA_VERSION);
  const last = await fill(c, keys, 200, 10);
  const seenBefore = NOW - 5 * HOUR_MS;
  const old = [...last].filter(([, at]) => at < seenBefore).map(([hex]) => hex);
  const withMetadata = old.slice(0, 12);
  for (const hex of withMetadata) await storeShardedMetadata(c, keys, hex, torrent(`racing sample ${hex.slice(0, 6)}`), { fetchedAt: NOW, peer: '192.0.2.1:6881' });
  const [replaced, seenAgain] = withMetadata as [string, string];
  // A failed fetch: the walk hands the record to the metadata step, which reads no blob; a fetch that succeeds meanwhile adds one.
  const appeared = old[12]!;
  await recordShardedMetadataFailure(c, keys, appeared, { code: 'ERR_PEER_TIMEOUT', at: NOW });
  const raced = new Set<string>();
  const result = await pruneSharded(c, {
    keys,
    seenBefore,
    now: NOW,
    beforeMetadataStep: async (hexes) => {
      for (const hex of hexes) {
        if (raced.has(hex)) continue;
        raced.add(hex);
        if (hex === replaced) await storeShardedMetadata(c, keys, hex, torrent('renamed meanwhile'), { fetchedAt: NOW, peer: '192.0.2.2:6881' });
        if (hex === appeared) await storeShardedMetadata(c, keys, hex, torrent('fetched meanwhile'), { fetchedAt: NOW, peer: '192.0.2.3:6881' });
        if (hex === seenAgain) await applyShardedBatch(c, [{ type: 'infohash', infohash: hex, node: node(1), source: 'sample', at: NOW }], { keys, batchId: newBatchId(), now: NOW });
      }
    },
  });
  t.true([replaced, appeared, seenAgain].every((hex) => raced.has(hex)), 'the step ran for every record with metadata or fetch state');
  t.like(result, { pruned: old.length - 3, deferred: 3 });
  t.like(await getShardedInfohash(c, keys, seenAgain), { lastSeen: NOW }, 'the record seen again is kept as it is now');
  t.truthy(await getShardedMetadata(c, keys, seenAgain), 'with its metadata');
  t.like(await getShardedMetadata(c, keys, replaced), { name: { display: 'renamed meanwhile' } }, 'the replaced blob is kept');
  t.deepEqual((await searchSharded(c, keys, ['renamed', 'meanwhile'], { limit: 10, offset: 0 })).items.map((h) => h.infohash), [replaced], 'and found by its new name');
  t.like(await getShardedMetadata(c, keys, appeared), { name: { display: 'fetched meanwhile' } }, 'the record whose metadata came meanwhile is kept with it');
  const survivors = new Set([replaced, appeared, seenAgain]);
  for (const hex of withMetadata.filter((h) => !survivors.has(h))) t.is(await getShardedInfohash(c, keys, hex), null);
  t.deepEqual((await searchSharded(c, keys, ['racing', 'sample'], { limit: 100, offset: 0 })).items.map((h) => h.infohash), [seenAgain], 'of the first names only the kept one is found');

  // The next pass, with nothing racing it, removes the two that are still past the cutoff.
  t.like(await pruneSharded(c, { keys, seenBefore, now: NOW }), { pruned: 2, deferred: 0 });
  t.is(await getShardedInfohash(c, keys, replaced), null);
  t.is(await getShardedInfohash(c, keys, appeared), null);
  t.is(await getShardedMetadata(c, keys, appeared), null);
  t.is((await searchSharded(c, keys, ['renamed', 'meanwhile'], { limit: 10, offset: 0 })).total, 0, 'the new names\' postings went with them');
  t.is((await searchSharded(c, keys, ['fetched', 'meanwhile'], { limit: 10, offset: 0 })).total, 0);
  t.is(await shardedMetadataCount(c, keys), 1);
  t.is(await shardedInfohashCount(c, keys), last.size - old.length + 1);
});

test('on a real 3-master cluster: a pass by age prunes exactly what it should, shards in parallel', async (t) => {
  const { cluster, client: c } = await useRedisCluster(t);
  const keys = new ShardedIndexKeys(randomPrefix());
  await setShardedSchemaVersion(c, keys, SHARDED_SCHEMA_VERSION);
  const last = await fill(c, keys, 2_000, 12);
  const seenBefore = NOW - 6 * HOUR_MS;
  const result = await pruneSharded(c, { keys, seenBefore, now: NOW });
  const kept = new Map([...last].filter(([, at]) => at >= seenBefore));
  const gone = [...last].filter(([, at]) => at < seenBefore).map(([hex]) => hex);
  t.is(result.pruned, gone.length);
  await expectIndexHolds(t, c, keys, kept, gone);
});
