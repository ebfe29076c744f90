/**
 * Schema 5's torrent metadata (indexer/sharded-metadata.ts, sharded-fetch-state.ts,
 * sharded-search.ts) on a real redis-server and on a real 3-master cluster: stored and read
 * back, record flags and counts kept, idempotent, bounded, refused as schema 4 refuses; fetch
 * failures back off as in schema 4 without a key per infohash; and a differential test: the
 * same discoveries, stores and failures applied to schema 4 and schema 5 give equal metadata,
 * states, candidates and search results. One file over 400 lines because the single-Redis and
 * the cluster differential tests share the history and the two schemas' sides.
 */
import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import { Cluster, type Redis } from 'ioredis';
import { encode } from '../bep5/bencode.js';
import { type Discovery } from '../crawler/discovery.js';
import { applyBatch } from '../indexer/apply-batch.js';
import { newBatchId } from '../indexer/batch-id.js';
import { InfohashNotIndexedError, MetadataInputError, SchemaMismatchError } from '../indexer/errors.js';
import { RECORD_FLAG, decodeRecord } from '../indexer/infohash-record.js';
import { type IndexKeys } from '../indexer/keys.js';
import { METADATA_FAILURE_CODES } from '../indexer/metadata-constants.js';
import { getMetadata, type MetadataInput, metadataCandidates, metadataCount, metadataState, needsMetadata, recordMetadataFailure, storeMetadata } from '../indexer/metadata-store.js';
import { searchMetadata } from '../indexer/search.js';
import { tokenize } from '../indexer/search-tokens.js';
import { applyShardedBatch, SHARDED_SCHEMA_VERSION } from '../indexer/sharded-apply.js';
import {
  decodeFetchState,
  recordShardedMetadataFailure,
  shardedMetadataCandidates,
  shardedMetadataState,
  shardedNeedsMetadata,
} from '../indexer/sharded-fetch-state.js';
import { ShardedIndexKeys } from '../indexer/sharded-keys.js';
import { getShardedMetadata, shardedMetadataCount, storeShardedMetadata } from '../indexer/sharded-metadata.js';
import { setShardedSchemaVersion } from '../indexer/sharded-queries.js';
import { searchSharded } from '../indexer/sharded-search.js';
import { type RedisClient } from '../redis/client.js';
import { parseInfoDictionary } from '../bep9/index.js';
import { dumpIndex } from '../testkit/index-dump.js';
import { startRedisCluster } from '../testkit/redis-cluster.js';
import { hostIn, infohashes, peerIn } from './helpers/generators.js';
import { randomPrefix, useRedisServer } from './helpers/redis.js';

const redis = useRedisServer(test);

/** IH(n) for small n all share one bucket (and shard): their first 17 bits are equal. */
const IH = infohashes('c');
const NODE = hostIn('10.0.4');
const PEER = peerIn('198.51.100', 3000);
const NOW = Date.now();
const FETCHED = NOW - 1000;

async function fresh5(t: ExecutionContext): Promise<{ c: Redis; keys: ShardedIndexKeys }> {
  const c = redis.client(t);
  const keys = new ShardedIndexKeys(randomPrefix());
  await setShardedSchemaVersion(c, keys, SHARDED_SCHEMA_VERSION);
  return { c, keys };
}

/** Sightings (and `peers[hex]` live peers) for the infohashes, as one batch. */
function discoveries(peers: ReadonlyMap<string, number>): Discovery[] {
  const events: Discovery[] = [];
  let n = 0;
  for (const [hex, count] of peers) {
    n++;
    for (let s = 0; s <= n % 3; s++) events.push({ type: 'infohash', infohash: hex, node: NODE(s + 1), source: 'sample', at: NOW - 60_000 - (n % 7) * 1000 - s });
    if (count > 0) events.push({ type: 'peers', infohash: hex, peers: Array.from({ length: count }, (_, i) => PEER(i)), node: NODE(1), at: NOW - 30_000 });
  }
  return events;
}

const index5 = (c: RedisClient, keys: ShardedIndexKeys, peers: ReadonlyMap<string, number>): Promise<unknown> =>
  applyShardedBatch(c, discoveries(peers), { keys, batchId: newBatchId(), now: NOW });
const byN = (peers: Record<number, number>): Map<string, number> => new Map(Object.entries(peers).map(([n, p]) => [IH(Number(n)), p]));

/** A real info dict parsed by the fetcher's parser (one path: single-file). */
function summary(name: string | Buffer, paths: Array<Array<string | Buffer>> = [[name]], fileSize = 1000): MetadataInput {
  const total = paths.length * fileSize;
  const dict: Record<string, unknown> = { name: Buffer.from(name), 'piece length': 16_384, pieces: Buffer.alloc(Math.ceil(total / 16_384) * 20, 7) };
  if (paths.length === 1 && paths[0]!.length === 1 && Buffer.from(paths[0]![0]!).equals(Buffer.from(name))) dict['length'] = fileSize;
  else dict['files'] = paths.map((p) => ({ length: fileSize, path: p.map((e) => Buffer.from(e)) }));
  return parseInfoDictionary(encode(dict as Parameters<typeof encode>[0]));
}

async function flagsOf(c: RedisClient, keys: ShardedIndexKeys, hex: string): Promise<number> {
  const { shard, bucket } = keys.locate(hex);
  return decodeRecord((await c.hgetBuffer(shard.records(bucket), Buffer.from(hex, 'hex')))!).flags;
}

/** Every key of the index (test-only SCAN), whether it has a TTL but not how much is left. */
const state = async (c: Redis, keys: ShardedIndexKeys): Promise<unknown> => (await dumpIndex(c, keys.prefix, '')).keys.map(({ pttl, ...k }) => ({ ...k, ttl: pttl !== null }));

test('stored and read back as schema 4 reads it; flags, count, postings and the blob in the bucket', async (t) => {
  const { c, keys } = await fresh5(t);
  await index5(c, keys, byN({ 1: 3, 2: 1 }));
  const s = summary('Ubuntu 24.04 Desktop (amd64)', [['ubuntu.iso'], ['docs', 'README.txt'], ['docs', 'a/b.txt']], 40_000);
  const store = (n: number, x: MetadataInput) => storeShardedMetadata(c, keys, IH(n), x, { fetchedAt: FETCHED, peer: PEER(1) });
  t.deepEqual(await store(1, s), { status: 'stored', tokens: ['ubuntu', '24', '04', 'desktop', 'amd64'] });
  const b64 = (x: string): string => Buffer.from(x).toString('base64');
  t.deepEqual(await getShardedMetadata(c, keys, IH(1)), {
    name: { display: 'Ubuntu 24.04 Desktop (amd64)', raw: b64('Ubuntu 24.04 Desktop (amd64)'), truncated: false },
    totalSize: 120_000,
    pieceLength: 16_384,
    pieceCount: 8,
    fileCount: 3,
    files: [
      { path: 'ubuntu.iso', raw: [b64('ubuntu.iso')], size: 40_000, truncated: false },
      { path: 'docs/README.txt', raw: [b64('docs'), b64('README.txt')], size: 40_000, truncated: false },
      { path: 'docs/a\\x2fb.txt', raw: [b64('docs'), b64('a/b.txt')], size: 40_000, truncated: false },
    ],
    singleFile: false,
    private: false,
    metaVersion: 1,
    fetchedAt: FETCHED,
    peer: PEER(1),
  });
  const { shard, bucket } = keys.locate(IH(1));
  const field = Buffer.from(IH(1), 'hex');
  for (const token of ['ubuntu', '24', 'desktop']) t.is(await c.zscore(shard.postings(token), field), '3', `${token}: scored by the live peers`);
  t.is(await c.hlen(shard.meta(bucket)), 1);
  t.true((await c.hstrlen(shard.meta(bucket), field)) < 200, 'raw bytes only');
  t.is((await flagsOf(c, keys, IH(1))) & RECORD_FLAG.METADATA, RECORD_FLAG.METADATA);
  t.is(await shardedMetadataCount(c, keys), 1);
  t.like(await shardedMetadataState(c, keys, IH(1), { now: NOW }), { indexed: true, hasMetadata: true, fetchedAt: FETCHED, attempts: 0, needsMetadata: false });
  t.false(await shardedNeedsMetadata(c, keys, IH(1), { now: NOW }));
  t.true(await shardedNeedsMetadata(c, keys, IH(2), { now: NOW }));
  t.is(await getShardedMetadata(c, keys, IH(2)), null);
  await store(2, summary('movie.mkv', [['movie.mkv']], 5));
  t.like(await getShardedMetadata(c, keys, IH(2)), { singleFile: true, fileCount: 1, totalSize: 5, files: [{ path: 'movie.mkv', raw: [b64('movie.mkv')], size: 5, truncated: false }] });
  t.is(await shardedMetadataCount(c, keys), 2);
});

test('idempotent; an older fetch is ignored; a later different fetch moves the postings; concurrent stores leave no stray posting', async (t) => {
  const { c, keys } = await fresh5(t);
  await index5(c, keys, byN({ 1: 2 }));
  const store = (name: string, at = FETCHED) => storeShardedMetadata(c, keys, IH(1), summary(name), { fetchedAt: at, peer: PEER(1) });
  await store('Big Buck Bunny 1080p');
  const first = await state(c, keys);
  t.is((await store('Big Buck Bunny 1080p')).status, 'unchanged');
  t.deepEqual(await state(c, keys), first, 'unchanged writes nothing');
  t.is((await store('Something Else', FETCHED - 1)).status, 'stale');
  t.deepEqual(await state(c, keys), first, 'stale writes nothing');
  t.is((await store('Big Buck Bunny 4k remaster', FETCHED + 1)).status, 'stored');
  const { shard } = keys.locate(IH(1));
  t.is(await c.exists(shard.postings('1080p')), 0, 'the old name\'s own token list is gone');
  for (const token of ['big', 'buck', 'bunny', '4k', 'remaster']) t.is(await c.zscore(shard.postings(token), Buffer.from(IH(1), 'hex')), '2', token);
  t.is(await shardedMetadataCount(c, keys), 1, 'a replacement is not counted again');
  t.is((await searchSharded(c, keys, ['1080p'], { limit: 10, offset: 0 })).total, 0);
  t.is((await searchSharded(c, keys, ['bunny', 'remaster'], { limit: 10, offset: 0 })).total, 1);

  const c2 = redis.client(t);
  const names = Array.from({ length: 12 }, (_, i) => `release${i} common word${i % 3}`);
  await Promise.all(names.map((name, i) => storeShardedMetadata(i % 2 === 0 ? c : c2, keys, IH(1), summary(name), { fetchedAt: FETCHED + 10 + i, peer: PEER(1) })));
  t.is((await getShardedMetadata(c, keys, IH(1)))!.name.display, names.at(-1)!, 'the newest fetch wins whatever the order');
  const postings = (await dumpIndex(c, keys.prefix, '')).keys.map((k) => k.key).filter((k) => k.startsWith(`${shard.tag}:s:`));
  t.deepEqual(postings.sort(), ['common', 'release11', 'word2'].map((tk) => shard.postings(tk)).sort());

  // Another writer stores between this store's read of the old blob and its script: the script
  // refuses (the blob is not the one read), the store reads again and moves the right postings.
  let raced = 0;
  const racing = new Proxy(c, {
    get(target, prop) {
      if (prop === 'hgetBuffer' && raced === 0) {
        return async (...args: Parameters<Redis['hgetBuffer']>) => {
          const read = await target.hgetBuffer(...args);
          raced++;
          await storeShardedMetadata(c2, keys, IH(1), summary('interloper words'), { fetchedAt: FETCHED + 30, peer: PEER(1) });
          return read;
        };
      }
      const v = Reflect.get(target, prop) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  t.is((await storeShardedMetadata(racing, keys, IH(1), summary('final release'), { fetchedAt: FETCHED + 40, peer: PEER(1) })).status, 'stored');
  t.is(raced, 1);
  const after = (await dumpIndex(c, keys.prefix, '')).keys.map((k) => k.key).filter((k) => k.startsWith(`${shard.tag}:s:`));
  t.deepEqual(after.sort(), ['final', 'release'].map((tk) => shard.postings(tk)).sort(), 'the interloper\'s postings were moved too');
});

test('failures back off, give up, count a redelivery once, set FETCH_FAILED; a store clears them; no key per infohash', async (t) => {
  const { c, keys } = await fresh5(t);
  await index5(c, keys, byN({ 1: 2, 2: 1 }));
  const policy = { baseDelayMs: 1000, maxDelayMs: 3000, maxAttempts: 4, giveUpForMs: 100_000 };
  const fail = (at: number, code = 'ERR_METADATA_FETCH_FAILED') => recordShardedMetadataFailure(c, keys, IH(1), { code, at, policy });
  const T = NOW;
  t.true(await shardedNeedsMetadata(c, keys, IH(1), { now: T }));
  t.deepEqual(await fail(T), { status: 'recorded', attempts: 1, nextAttemptAt: T + 1000, gaveUp: false });
  t.is((await flagsOf(c, keys, IH(1))) & RECORD_FLAG.FETCH_FAILED, RECORD_FLAG.FETCH_FAILED);
  t.false(await shardedNeedsMetadata(c, keys, IH(1), { now: T + 999 }));
  t.true(await shardedNeedsMetadata(c, keys, IH(1), { now: T + 1000 }));
  t.deepEqual(await fail(T), { status: 'duplicate', attempts: 1, nextAttemptAt: T + 1000, gaveUp: false }, 'the same attempt twice counts once');
  t.deepEqual(await fail(T + 1000, 'ERR_PEER_TIMEOUT'), { status: 'recorded', attempts: 2, nextAttemptAt: T + 3000, gaveUp: false });
  t.deepEqual(await fail(T + 3000, 'ERR_SOMETHING.new'), { status: 'recorded', attempts: 3, nextAttemptAt: T + 6000, gaveUp: false }, 'capped at maxDelayMs');
  t.is(await shardedMetadataState(c, keys, IH(1), { now: T + 3001 }).then((s) => s.lastError), 'ERR_SOMETHING.new', 'a code outside the list is kept as text');
  t.deepEqual(await fail(T + 6000), { status: 'recorded', attempts: 4, nextAttemptAt: T + 106_000, gaveUp: true });
  t.deepEqual(await shardedMetadataState(c, keys, IH(1), { now: T + 7000 }), {
    infohash: IH(1),
    indexed: true,
    hasMetadata: false,
    fetchedAt: null,
    attempts: 4,
    lastAttemptAt: T + 6000,
    lastError: 'ERR_METADATA_FETCH_FAILED',
    nextAttemptAt: T + 106_000,
    gaveUp: true,
    needsMetadata: false,
  });
  const { shard, bucket } = keys.locate(IH(1));
  const raw = (await c.hgetBuffer(shard.fetch(bucket), Buffer.from(IH(1), 'hex')))!;
  t.is(raw.length, 35, 'a listed code is one byte');
  t.is(decodeFetchState(raw).firstFailedAt, T);
  t.is(await c.exists(`{${keys.prefix}}:ih:${IH(1)}:fetch`), 0);
  t.true(await shardedNeedsMetadata(c, keys, IH(1), { now: T + 106_000 }), 'tried again after the give-up period');
  t.like(await fail(T + 106_000), { attempts: 5, gaveUp: true, nextAttemptAt: T + 206_000 });

  await storeShardedMetadata(c, keys, IH(1), summary('finally'), { fetchedAt: T + 107_000, peer: PEER(1) });
  t.is(await c.hexists(shard.fetch(bucket), Buffer.from(IH(1), 'hex')), 0);
  t.is(await c.zscore(shard.metadataWait, IH(1)), null);
  t.is(await flagsOf(c, keys, IH(1)), RECORD_FLAG.METADATA, 'METADATA set, FETCH_FAILED cleared');
  t.deepEqual(await fail(T + 108_000), { status: 'has-metadata', attempts: 0, nextAttemptAt: null, gaveUp: false });
  t.like(await shardedMetadataState(c, keys, IH(1)), { hasMetadata: true, attempts: 0, nextAttemptAt: null, needsMetadata: false });

  await t.throwsAsync(recordShardedMetadataFailure(c, keys, IH(2), { code: 'has space', at: T }), { instanceOf: MetadataInputError, code: 'ERR_METADATA_INPUT' });
  await t.throwsAsync(recordShardedMetadataFailure(c, keys, IH(99), { code: 'X', at: T }), { instanceOf: InfohashNotIndexedError });
  await t.throwsAsync(recordShardedMetadataFailure(c, keys, IH(2), { code: 'X', at: T, policy: { maxAttempts: 0 } }), { instanceOf: MetadataInputError });
});

test('a state past retainMs counts as gone (as schema 4\'s expired key) and the next failure in its bucket drops it', async (t) => {
  const { c, keys } = await fresh5(t);
  await index5(c, keys, byN({ 1: 1, 2: 1 }));
  const policy = { baseDelayMs: 1000, retainMs: 5000 };
  const { shard, bucket } = keys.locate(IH(1));
  t.is(keys.locate(IH(2)).bucket, bucket, 'one bucket');
  t.like(await recordShardedMetadataFailure(c, keys, IH(1), { code: 'ERR_PEER_CONNECT', at: NOW, policy }), { attempts: 1, nextAttemptAt: NOW + 1000 });
  t.like(await shardedMetadataState(c, keys, IH(1), { now: NOW + 5999 }), { attempts: 1, lastError: 'ERR_PEER_CONNECT' });
  // Expired at next + retain: attempts, errors and times are gone; the wait entry is not (as in schema 4).
  t.like(await shardedMetadataState(c, keys, IH(1), { now: NOW + 6000 }), { attempts: 0, lastAttemptAt: null, lastError: null, gaveUp: false, nextAttemptAt: NOW + 1000 });
  t.is(await c.hlen(shard.fetch(bucket)), 1);
  // Another infohash of the bucket fails later: the expired state goes; a failure of the first counts from 1 again.
  t.like(await recordShardedMetadataFailure(c, keys, IH(2), { code: 'ERR_PEER_CONNECT', at: NOW + 7000, policy }), { attempts: 1 });
  t.deepEqual(await c.hkeysBuffer(shard.fetch(bucket)), [Buffer.from(IH(2), 'hex')]);
  t.is((await flagsOf(c, keys, IH(1))) & RECORD_FLAG.FETCH_FAILED, 0, 'its record no longer says it has a fetch state');
  t.is((await flagsOf(c, keys, IH(2))) & RECORD_FLAG.FETCH_FAILED, RECORD_FLAG.FETCH_FAILED);
  t.like(await recordShardedMetadataFailure(c, keys, IH(1), { code: 'ERR_PEER_CONNECT', at: NOW + 8000, policy }), { attempts: 1, nextAttemptAt: NOW + 9000 });
});

test('the wait set is capped per shard at shardCap(waitCap), the soonest-due leaving first', async (t) => {
  const { c, keys } = await fresh5(t);
  await index5(c, keys, byN({ 1: 1, 2: 1, 3: 1, 4: 1, 5: 1, 6: 1 }));
  for (let n = 1; n <= 6; n++) await recordShardedMetadataFailure(c, keys, IH(n), { code: 'ERR_PEER_CLOSED', at: NOW + n, policy: { waitCap: 1 } });
  const { shard } = keys.locate(IH(1));
  t.deepEqual(await c.zrange(shard.metadataWait, 0, '-1'), [3, 4, 5, 6].map((n) => IH(n)), 'ceil(1 / 64) × 4 = 4 kept: the latest due');
  t.true(await shardedNeedsMetadata(c, keys, IH(1), { now: NOW }), 'dropped: due at once');
});

test('candidates: with peers and without metadata, most peers first; failed ones only once due', async (t) => {
  const { c, keys } = await fresh5(t);
  t.deepEqual(await shardedMetadataCandidates(c, keys, { limit: 10, now: NOW }), []);
  await index5(c, keys, byN({ 1: 5, 2: 4, 3: 3, 4: 2, 5: 1, 6: 0 }));
  t.deepEqual(await shardedMetadataCandidates(c, keys, { limit: 10, now: NOW }), [5, 4, 3, 2, 1].map((peers, i) => ({ infohash: IH(i + 1), peers, retry: false })));
  await storeShardedMetadata(c, keys, IH(2), summary('fetched already'), { fetchedAt: FETCHED, peer: PEER(1) });
  await recordShardedMetadataFailure(c, keys, IH(1), { code: 'ERR_METADATA_FETCH_FAILED', at: NOW, policy: { baseDelayMs: 60_000 } });
  t.deepEqual((await shardedMetadataCandidates(c, keys, { limit: 10, now: NOW + 1 })).map((x) => x.infohash), [IH(3), IH(4), IH(5)]);
  t.deepEqual(await shardedMetadataCandidates(c, keys, { limit: 2, now: NOW + 60_000 }), [
    { infohash: IH(1), peers: 5, retry: true },
    { infohash: IH(3), peers: 3, retry: false },
  ]);
  await t.throwsAsync(shardedMetadataCandidates(c, keys, { limit: 0 }), { instanceOf: RangeError });
});

test('refused without writing: another schema version, an unknown infohash, malformed input', async (t) => {
  const { c, keys } = await fresh5(t);
  await index5(c, keys, byN({ 1: 1 }));
  const before = await state(c, keys);
  const ok = summary('fine');
  const bad: Array<[string, MetadataInput, string?]> = [
    ['pieceLength 0', { ...ok, pieceLength: 0 }],
    ['more files than fileCount', { ...ok, fileCount: 0 }],
    ['unsafe size', { ...ok, totalSize: 2 ** 60 }],
    ['name without bytes', { ...ok, name: { raw: 'text' as unknown as Uint8Array } }],
    ['empty path', { ...ok, files: [{ path: [], size: 1 }] }],
    ['metaVersion 3', { ...ok, metaVersion: 3 }],
    ['bad peer', ok, 'has space:1'],
  ];
  for (const [what, input, peer] of bad) {
    await t.throwsAsync(storeShardedMetadata(c, keys, IH(1), input, { fetchedAt: FETCHED, peer: peer ?? PEER(1) }), { instanceOf: MetadataInputError }, what);
  }
  await t.throwsAsync(storeShardedMetadata(c, keys, IH(1).toUpperCase(), ok, { fetchedAt: FETCHED, peer: PEER(1) }), { instanceOf: MetadataInputError });
  await t.throwsAsync(storeShardedMetadata(c, keys, IH(2), ok, { fetchedAt: FETCHED, peer: PEER(1) }), { instanceOf: InfohashNotIndexedError });
  t.deepEqual(await state(c, keys), before);

  const { shard } = keys.locate(IH(1));
  await c.set(shard.schemaVersion, '4');
  await t.throwsAsync(storeShardedMetadata(c, keys, IH(1), ok, { fetchedAt: FETCHED, peer: PEER(1) }), { instanceOf: SchemaMismatchError, message: new RegExp(`version 4, this dhtscope needs ${SHARDED_SCHEMA_VERSION}`) });
  await t.throwsAsync(recordShardedMetadataFailure(c, keys, IH(1), { code: 'X', at: NOW }), { instanceOf: SchemaMismatchError });
  await c.set(shard.schemaVersion, String(SHARDED_SCHEMA_VERSION));
  t.deepEqual(await state(c, keys), before);
});

// ---- the differential test: schema 4 and schema 5, the same history -----------------------------

/** A small deterministic PRNG, so a failing history can be replayed from its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const WORDS = ['ubuntu', 'desktop', 'amd64', '1080p', 'x264', 'BluRay', 'Amélie', 'ΟΔΥΣΣΕΑΣ', '進撃の巨人', 'movie', 'remaster', 'live', 'concert', 'season', '2024'];
const HOSTILE = [Buffer.from('evil\x1b[2J\r\n'), Buffer.from('invoice\u202Efdp.exe'), Buffer.from([0x41, 0x42, 0xff, 0xfe, 0x43, 0x44]), Buffer.from('<b>bold</b> & co')];

interface Side {
  c: RedisClient;
  store(hex: string, s: MetadataInput, at: number): Promise<unknown>;
  fail(hex: string, code: string, at: number, policy: Record<string, number>): Promise<unknown>;
  get(hex: string): Promise<unknown>;
  state(hex: string, now: number): Promise<unknown>;
  needs(hex: string, now: number): Promise<boolean>;
  candidates(limit: number, now: number): Promise<unknown>;
  count(): Promise<number>;
  search(tokens: string[], limit: number, offset: number): Promise<unknown>;
}

function four(c: RedisClient, k: IndexKeys): Side {
  return {
    c,
    store: (hex, s, at) => storeMetadata(c, k, hex, s, { fetchedAt: at, peer: PEER(7) }),
    fail: (hex, code, at, policy) => recordMetadataFailure(c, k, hex, { code, at, policy }),
    get: (hex) => getMetadata(c, k, hex),
    state: (hex, now) => metadataState(c, k, hex, { now }),
    needs: (hex, now) => needsMetadata(c, k, hex, { now }),
    candidates: (limit, now) => metadataCandidates(c, k, { limit, now }),
    count: () => metadataCount(c, k),
    search: (tokens, limit, offset) => searchMetadata(c, k, tokens, { limit, offset }),
  };
}

function five(c: RedisClient, k: ShardedIndexKeys, oneCall?: boolean): Side {
  return {
    c,
    store: (hex, s, at) => storeShardedMetadata(c, k, hex, s, { fetchedAt: at, peer: PEER(7) }),
    fail: (hex, code, at, policy) => recordShardedMetadataFailure(c, k, hex, { code, at, policy }),
    get: (hex) => getShardedMetadata(c, k, hex),
    state: (hex, now) => shardedMetadataState(c, k, hex, { now }),
    needs: (hex, now) => shardedNeedsMetadata(c, k, hex, { now }),
    candidates: (limit, now) => shardedMetadataCandidates(c, k, { limit, now }),
    count: () => shardedMetadataCount(c, k),
    search: (tokens, limit, offset) => searchSharded(c, k, tokens, { limit, offset }, oneCall === undefined ? {} : { oneCall }),
  };
}

/** `n` random infohashes (every shard), random peers; a random history of stores and failures applied to both sides. */
async function history(t: ExecutionContext, seed: number, n: number, sides: Side[], index: (peers: Map<string, number>) => Promise<void>): Promise<{ hexes: string[]; tokens: string[] }> {
  const rnd = prng(seed);
  const pick = <X>(xs: readonly X[]): X => xs[Math.floor(rnd() * xs.length)]!;
  const hexes = Array.from({ length: n }, () => randomBytes(20).toString('hex'));
  await index(new Map(hexes.map((h) => [h, Math.floor(rnd() * 5)])));
  const name = (): Buffer =>
    Buffer.concat(Array.from({ length: 1 + Math.floor(rnd() * 4) }, (_, i) => Buffer.concat([i === 0 ? Buffer.alloc(0) : Buffer.from(pick(['.', ' ', '-', '_'])), rnd() < 0.1 ? pick(HOSTILE) : Buffer.from(pick(WORDS))])));
  const input = (): MetadataInput => {
    const files = Math.floor(rnd() * 4);
    const paths = files === 0 ? [[name()]] : Array.from({ length: files }, (_, i) => [Buffer.from(`dir ${i % 2}`), rnd() < 0.2 ? pick(HOSTILE) : Buffer.from(`${pick(WORDS)} ${i}.mkv`)]);
    const nm = files === 0 ? paths[0]![0]! : name();
    return summary(nm, paths, 1 + Math.floor(rnd() * 1e9));
  };
  const codes = [...METADATA_FAILURE_CODES, 'ERR_CUSTOM.1'];
  const lastStored = new Map<string, { s: MetadataInput; at: number }>();
  const outcomes = new Map<string, number>();
  for (let step = 0; step < n * 3; step++) {
    const hex = pick(hexes);
    const r = rnd();
    let op: (s: Side) => Promise<unknown>;
    if (r < 0.45) {
      const s = input();
      const at = NOW - 100_000 + step * 10;
      lastStored.set(hex, { s, at });
      op = (side) => side.store(hex, s, at);
    } else if (r < 0.55 && lastStored.has(hex)) {
      const { s, at } = lastStored.get(hex)!;
      const again = rnd() < 0.5 ? at : at - 5; // unchanged, or stale
      op = (side) => side.store(hex, s, again);
    } else {
      const code = pick(codes);
      const at = NOW - 200_000 + Math.floor(rnd() * 10) * 5000;
      const policy: Record<string, number> = rnd() < 0.5 ? {} : { baseDelayMs: 1000 * (1 + Math.floor(rnd() * 100)), maxAttempts: 3 };
      op = (side) => side.fail(hex, code, at, policy);
    }
    const results = await Promise.all(sides.map(op));
    for (const x of results.slice(1)) t.deepEqual(x, results[0], `step ${step} (seed ${seed})`);
    const status = (results[0] as { status: string }).status;
    outcomes.set(status, (outcomes.get(status) ?? 0) + 1);
  }
  // Every path of both writers was taken, so equal answers mean something.
  for (const status of ['stored', 'unchanged', 'stale', 'recorded', 'duplicate', 'has-metadata']) t.true((outcomes.get(status) ?? 0) > 0, `${status}: ${JSON.stringify([...outcomes])}`);
  const tokens = [...new Set(WORDS.flatMap((w) => tokenize(w)).concat(HOSTILE.flatMap((h) => tokenize(h.toString()))))];
  return { hexes, tokens };
}

async function compareViews(t: ExecutionContext, sides: Side[], hexes: string[], tokens: string[]): Promise<void> {
  const same = async (what: string, read: (s: Side) => Promise<unknown>): Promise<void> => {
    const [a, ...rest] = await Promise.all(sides.map(read));
    for (const b of rest) t.deepEqual(b, a, what);
  };
  await same('count', (s) => s.count());
  for (const hex of hexes) {
    await same(`metadata of ${hex}`, (s) => s.get(hex));
    for (const now of [NOW - 150_000, NOW + 60_000]) await same(`state of ${hex} at ${now}`, (s) => s.state(hex, now));
    await same(`needs ${hex}`, (s) => s.needs(hex, NOW - 150_000));
  }
  for (const now of [NOW - 190_000, NOW - 150_000, NOW + 60_000]) for (const limit of [1, 7, 1000]) await same(`candidates ${limit} at ${now}`, (s) => s.candidates(limit, now));
  const candidates = (await sides[0]!.candidates(1000, NOW + 60_000)) as Array<{ retry: boolean }>;
  t.true(candidates.some((x) => x.retry) && candidates.some((x) => !x.retry), 'candidates of both kinds');
  const queries = [...tokens.map((tk) => [tk]), ['ubuntu', 'desktop'], ['1080p', 'x264', 'bluray'], ['進撃', '巨人'], ['movie', 'nosuchword']];
  let found = 0;
  for (const q of queries) {
    for (const [limit, offset] of [[20, 0], [3, 2], [100, 50]] as const) await same(`search ${q.join(' ')} ${limit}@${offset}`, (s) => s.search(q, limit, offset));
    found += ((await sides[0]!.search(q, 100, 0)) as { total: number }).total;
  }
  t.true(found > hexes.length, `searches found ${found} matches: the comparison is not between empty answers`);
}

test('differential: schema 4 and schema 5 (one call and per-shard calls) give equal metadata, states, candidates and searches', async (t) => {
  t.timeout(120_000);
  const { c, keys: k4 } = await redis.freshSchema4Index(t);
  const k5 = new ShardedIndexKeys(randomPrefix());
  await setShardedSchemaVersion(c, k5, SHARDED_SCHEMA_VERSION);
  const sides = [four(c, k4), five(c, k5), five(c, k5, false)];
  for (const seed of [1, 2]) {
    const { hexes, tokens } = await history(t, seed, 150, sides.slice(0, 2), async (peers) => {
      const events = discoveries(peers);
      const batchId = newBatchId();
      await applyBatch(c, events, { keys: k4, batchId, now: NOW });
      await applyShardedBatch(c, events, { keys: k5, batchId, now: NOW });
    });
    await compareViews(t, sides, hexes, tokens);
  }
  t.true((await sides[1]!.count()) > 100);
});

test('on a real 3-master cluster: every script in its shard\'s slot; the same answers as schema 4 on one Redis', async (t) => {
  t.timeout(180_000);
  const cluster = await startRedisCluster();
  t.teardown(() => cluster.stop());
  const cc = new Cluster(cluster.masters().map((m) => ({ host: '127.0.0.1', port: m.port })));
  t.teardown(() => void cc.disconnect());
  const { c, keys: k4 } = await redis.freshSchema4Index(t);
  const k5 = new ShardedIndexKeys(randomPrefix());
  await setShardedSchemaVersion(cc, k5, SHARDED_SCHEMA_VERSION);
  const sides = [four(c, k4), five(cc, k5)];
  const { hexes, tokens } = await history(t, 3, 120, sides, async (peers) => {
    const events = discoveries(peers);
    const batchId = newBatchId();
    await applyBatch(c, events, { keys: k4, batchId, now: NOW });
    await applyShardedBatch(cc, events, { keys: k5, batchId, now: NOW });
  });
  await compareViews(t, sides, hexes, tokens);
  const per = await cluster.keysPerMaster(`{${k5.prefix}:*`);
  t.true(per.every((m) => m.keys > 0), `metadata keys on every master: ${per.map((m) => m.keys).join(', ')}`);
});
