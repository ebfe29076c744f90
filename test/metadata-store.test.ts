/**
 * Torrent metadata in the Redis index (indexer/metadata-store.ts, metadata-fetch-state.ts) on
 * a real redis-server: what the BEP 9 fetcher's parser produces is stored and read back,
 * storing is idempotent and replaces old search tokens, every bound holds, hostile names are
 * kept raw and shown escaped, and failed fetches back off and give up.
 */
import test, { type ExecutionContext } from 'ava';
import { type Redis } from 'ioredis';
import { encode } from '../bep5/bencode.js';
import type { Discovery } from '../crawler/discovery.js';
import { applyBatch } from '../indexer/apply-batch.js';
import { newBatchId } from '../indexer/batch-id.js';
import { IndexKeys, SCHEMA_4_VERSION } from '../indexer/keys.js';
import { MAX_FILES_JSON_BYTES, MAX_NAME_BYTES, MAX_STORED_FILES, MAX_TOKENS_PER_NAME } from '../indexer/metadata-constants.js';
import { InfohashNotIndexedError, MetadataInputError, SchemaMismatchError } from '../indexer/errors.js';
import {
  getMetadata,
  type MetadataInput,
  metadataCandidates,
  metadataCount,
  metadataState,
  needsMetadata,
  recordMetadataFailure,
  storeMetadata,
} from '../indexer/metadata-store.js';
import { searchMetadata } from '../indexer/search.js';
import { displayText, type InfoSummary, parseInfoDictionary } from '../bep9/index.js';
import { snapshot, useRedisServer } from './helpers/redis.js';
import { hostIn, infohashes, peerIn } from './helpers/generators.js';

const redis = useRedisServer(test);

const IH = infohashes('a');
const NODE = hostIn('10.0.2');
const PEER = peerIn('198.51.100', 2000);
const NOW = Date.now();
const FETCHED = NOW - 1000;

interface Ix {
  c: Redis;
  keys: IndexKeys;
}

function fresh(t: ExecutionContext): Promise<Ix> {
  return redis.freshSchema4Index(t);
}

/** Indexes infohash IH(n) with `peers[n]` live peers (0: seen only). */
async function indexInfohashes(ix: Ix, peers: Record<number, number>): Promise<void> {
  const events: Discovery[] = [];
  for (const [n, count] of Object.entries(peers).map(([k, v]) => [Number(k), v] as const)) {
    events.push({ type: 'infohash', infohash: IH(n), node: NODE(n), source: 'sample', at: NOW - 60_000 });
    if (count > 0) events.push({ type: 'peers', infohash: IH(n), peers: Array.from({ length: count }, (_, i) => PEER(n * 10 + i)), node: NODE(n), at: NOW - 30_000 });
  }
  await applyBatch(ix.c, events, { keys: ix.keys, batchId: newBatchId(), now: NOW });
}

/** A real info dict parsed by the fetcher's parser: `paths` are the files (one path = single-file). */
function summary(name: string | Buffer, paths: Array<Array<string | Buffer>> = [[name]], fileSize = 1000): InfoSummary {
  const total = paths.length * fileSize;
  const dict: Record<string, unknown> = { name: Buffer.from(name), 'piece length': 16_384, pieces: Buffer.alloc(Math.ceil(total / 16_384) * 20, 7) };
  if (paths.length === 1 && paths[0]!.length === 1 && Buffer.from(paths[0]![0]!).equals(Buffer.from(name))) dict['length'] = fileSize;
  else dict['files'] = paths.map((p) => ({ length: fileSize, path: p.map((e) => Buffer.from(e)) }));
  return parseInfoDictionary(encode(dict as Parameters<typeof encode>[0]));
}

const store = (ix: Ix, n: number, s: MetadataInput, at = FETCHED, extra: { postingsCap?: number } = {}) =>
  storeMetadata(ix.c, ix.keys, IH(n), s, { fetchedAt: at, peer: PEER(1), ...extra });
const b64 = (s: string | Buffer): string => Buffer.from(s).toString('base64');

test('the fetcher\'s summary is stored and read back: raw bytes, display, sizes, files; the name is indexed', async (t) => {
  const ix = await fresh(t);
  await indexInfohashes(ix, { 1: 3 });
  const s = summary('Ubuntu 24.04 Desktop (amd64)', [['ubuntu.iso'], ['docs', 'README.txt'], ['docs', 'a/b.txt']], 40_000);
  t.deepEqual(await store(ix, 1, s), { status: 'stored', tokens: ['ubuntu', '24', '04', 'desktop', 'amd64'] });
  t.deepEqual(await getMetadata(ix.c, ix.keys, IH(1)), {
    name: { display: 'Ubuntu 24.04 Desktop (amd64)', raw: b64('Ubuntu 24.04 Desktop (amd64)'), truncated: false },
    totalSize: 120_000,
    pieceLength: 16_384,
    pieceCount: 8,
    fileCount: 3,
    files: [
      { path: 'ubuntu.iso', raw: [b64('ubuntu.iso')], size: 40_000, truncated: false },
      { path: 'docs/README.txt', raw: [b64('docs'), b64('README.txt')], size: 40_000, truncated: false },
      // A '/' inside one element is not a directory separator: it shows escaped.
      { path: 'docs/a\\x2fb.txt', raw: [b64('docs'), b64('a/b.txt')], size: 40_000, truncated: false },
    ],
    singleFile: false,
    private: false,
    metaVersion: 1,
    fetchedAt: FETCHED,
    peer: PEER(1),
  });
  // Posting lists are scored by the live peers when stored.
  for (const token of ['ubuntu', '24', 'desktop']) t.is(await ix.c.zscore(ix.keys.searchToken(token), IH(1)), '3', token);
  t.is(await metadataCount(ix.c, ix.keys), 1);
  t.like(await metadataState(ix.c, ix.keys, IH(1), { now: NOW }), { indexed: true, hasMetadata: true, fetchedAt: FETCHED, attempts: 0, needsMetadata: false });
  t.false(await needsMetadata(ix.c, ix.keys, IH(1), { now: NOW }));
  t.is(await getMetadata(ix.c, ix.keys, IH(2)), null);
  // A single-file torrent.
  await indexInfohashes(ix, { 2: 1 });
  await store(ix, 2, summary('movie.mkv', [['movie.mkv']], 5));
  t.like(await getMetadata(ix.c, ix.keys, IH(2)), { singleFile: true, fileCount: 1, totalSize: 5, files: [{ path: 'movie.mkv', raw: [b64('movie.mkv')], size: 5, truncated: false }] });
});

test('storing is idempotent; an older fetch is ignored; a different later fetch replaces the record and its tokens', async (t) => {
  const ix = await fresh(t);
  await indexInfohashes(ix, { 1: 2 });
  await store(ix, 1, summary('Big Buck Bunny 1080p'));
  const first = await snapshot(ix.c, ix.keys.prefix);
  t.is((await store(ix, 1, summary('Big Buck Bunny 1080p'))).status, 'unchanged');
  t.deepEqual(await snapshot(ix.c, ix.keys.prefix), first);
  t.is((await store(ix, 1, summary('Something Else'), FETCHED - 1)).status, 'stale');
  t.deepEqual(await snapshot(ix.c, ix.keys.prefix), first);

  t.is((await store(ix, 1, summary('Big Buck Bunny 4k remaster'), FETCHED + 1)).status, 'stored');
  t.is((await getMetadata(ix.c, ix.keys, IH(1)))!.name.display, 'Big Buck Bunny 4k remaster');
  // Tokens only the old name had are gone (their lists were emptied, so the keys too).
  t.is(await ix.c.exists(ix.keys.searchToken('1080p')), 0);
  for (const token of ['big', 'buck', 'bunny', '4k', 'remaster']) t.is(await ix.c.zscore(ix.keys.searchToken(token), IH(1)), '2', token);
  t.is((await searchMetadata(ix.c, ix.keys, ['1080p'], { limit: 10, offset: 0 })).total, 0);
  t.is((await searchMetadata(ix.c, ix.keys, ['bunny', 'remaster'], { limit: 10, offset: 0 })).total, 1);
});

test('concurrent stores of one infohash leave one consistent record: no stray postings', async (t) => {
  const ix = await fresh(t);
  await indexInfohashes(ix, { 1: 1 });
  const c2 = redis.client(t);
  const names = Array.from({ length: 12 }, (_, i) => `release${i} common word${i % 3}`);
  await Promise.all(names.map((name, i) => storeMetadata(i % 2 === 0 ? ix.c : c2, ix.keys, IH(1), summary(name), { fetchedAt: FETCHED + i, peer: PEER(1) })));
  const stored = await getMetadata(ix.c, ix.keys, IH(1));
  t.is(stored!.name.display, names.at(-1)!, 'the newest fetch wins whatever the order');
  const state = await snapshot(ix.c, ix.keys.prefix);
  const postings = Object.keys(state).filter((k) => k.startsWith(`${ix.keys.tag}:search:t:`));
  t.deepEqual(postings.sort(), ['common', 'release11', 'word2'].map((tk) => ix.keys.searchToken(tk)).sort());
});

test('bounds: files listed, path depth and bytes, the file list budget, name bytes, tokens per name, posting lists', async (t) => {
  const ix = await fresh(t);
  await indexInfohashes(ix, { 1: 1, 2: 1, 3: 1, 4: 1, 5: 1, 6: 1, 7: 1 });

  // 150 files: the first 100 are listed, all are counted.
  await store(ix, 1, summary('many', Array.from({ length: 150 }, (_, i) => [`f${i}`]), 10));
  const many = (await getMetadata(ix.c, ix.keys, IH(1)))!;
  t.is(many.fileCount, 150);
  t.is(many.files.length, MAX_STORED_FILES);
  t.is(many.files.at(-1)!.path, 'f99');

  // A deep path (40 elements) and a long one (600 bytes): cut and flagged.
  await store(ix, 2, summary('deep', [Array.from({ length: 40 }, (_, i) => `d${i}`), ['x'.repeat(600)], ['ok']]));
  const deep = (await getMetadata(ix.c, ix.keys, IH(2)))!.files;
  t.is(deep[0]!.raw.length, 32);
  t.true(deep[0]!.truncated);
  t.is(Buffer.from(deep[1]!.raw[0]!, 'base64').length, 512);
  t.true(deep[1]!.truncated);
  t.false(deep[2]!.truncated);

  // 100 hostile paths that display at 4 characters per byte: the list stops at its byte budget.
  const hostile = Array.from({ length: 100 }, (_, i) => [Buffer.concat([Buffer.from(`${i}`), Buffer.alloc(500, 0xff)])]);
  await store(ix, 3, summary('hostile', hostile));
  const listed = (await getMetadata(ix.c, ix.keys, IH(3)))!;
  t.is(listed.fileCount, 100);
  t.true(listed.files.length > 0 && listed.files.length < 20, `${listed.files.length} files listed`);
  t.true(Buffer.byteLength((await ix.c.hget(ix.keys.infohashMetadata(IH(3)), 'files'))!) <= MAX_FILES_JSON_BYTES);

  // A 10 KB name: the fetcher keeps 1 KiB and flags it; given directly, the store cuts it too.
  const long = Buffer.alloc(10_240, 'n');
  await store(ix, 4, summary(long));
  const viaFetcher = (await getMetadata(ix.c, ix.keys, IH(4)))!.name;
  t.is(Buffer.from(viaFetcher.raw, 'base64').length, MAX_NAME_BYTES);
  t.true(viaFetcher.truncated);
  await store(ix, 5, { ...summary('x'), name: { raw: long } });
  const direct = (await getMetadata(ix.c, ix.keys, IH(5)))!.name;
  t.deepEqual([Buffer.from(direct.raw, 'base64').length, direct.display.length, direct.truncated], [MAX_NAME_BYTES, MAX_NAME_BYTES, true]);
  t.true(Buffer.byteLength((await ix.c.hget(ix.keys.infohashMetadata(IH(5)), 'tokens'))!) <= 32 * 4 + 1, 'one token, cut at 32 characters');

  // 100 distinct words: the first 32 are indexed.
  const words = Array.from({ length: 100 }, (_, i) => `w${i}`);
  const r = await store(ix, 6, summary(words.join(' ')));
  t.deepEqual(r.tokens, words.slice(0, MAX_TOKENS_PER_NAME));
  t.is(await ix.c.exists(ix.keys.searchToken('w32')), 0);

  // A posting list keeps the `postingsCap` torrents with the most peers when stored.
  const ix2 = await fresh(t);
  await indexInfohashes(ix2, { 1: 1, 2: 5, 3: 3, 4: 4 });
  for (const n of [1, 2, 3, 4]) await store(ix2, n, summary(`shared title ${n}`), FETCHED, { postingsCap: 3 });
  t.deepEqual(await ix2.c.zrange(ix2.keys.searchToken('shared'), 0, '-1', 'REV'), [IH(2), IH(4), IH(3)]);
});

test('hostile names are stored byte for byte and displayed escaped: controls, RTL override, HTML, invalid UTF-8', async (t) => {
  const ix = await fresh(t);
  const names: Array<[string, Buffer, string[]]> = [
    ['terminal escapes', Buffer.from('evil\x1b[2J\x1b]0;pwned\x07 name\r\nsecond line\x00'), ['evil', '2j', 'pwned', 'name', 'second', 'line']],
    ['RTL override', Buffer.from('invoice\u202Efdp.exe'), ['invoice', 'fdp', 'exe']],
    ['HTML', Buffer.from('<script>alert("x")</script><img src=x onerror=alert(1)> & co'), ['script', 'alert', 'img', 'src', 'onerror', 'co']],
    ['invalid UTF-8', Buffer.from([0x41, 0x42, 0xff, 0xfe, 0xc0, 0xaf, 0xed, 0xa0, 0x80, 0x43, 0x44]), ['ab', 'cd']],
    ['zero-width and BOM', Buffer.from('\uFEFFab\u200Bcd'), ['ab', 'cd']],
    ['emoji', Buffer.from('🎬 Popcorn 🍿 Night'), ['popcorn', 'night']],
  ];
  await indexInfohashes(ix, Object.fromEntries(names.map((_, i) => [i + 1, 1])));
  // The API serves schema 5, whose read form is this one byte for byte (sharded-metadata.test.ts).
  for (const [i, [what, raw, tokens]] of names.entries()) {
    const r = await store(ix, i + 1, summary(raw, [['file']]));
    t.deepEqual(r.tokens, tokens, what);
    const m = (await getMetadata(ix.c, ix.keys, IH(i + 1)))!;
    t.true(Buffer.from(m.name.raw, 'base64').equals(raw), `${what}: raw bytes kept`);
    t.is(m.name.display, displayText(raw), what);
    t.notRegex(m.name.display, /[\x00-\x1f\x7f\u200b\u202e\ufeff\ufffd]/, `${what}: nothing that changes how text is shown`);
  }
  t.is((await getMetadata(ix.c, ix.keys, IH(2)))!.name.display, 'invoice\\u{202e}fdp.exe');
  t.is((await getMetadata(ix.c, ix.keys, IH(4)))!.name.display, 'AB\\xff\\xfe\\xc0\\xaf\\xed\\xa0\\x80CD');
  t.is((await getMetadata(ix.c, ix.keys, IH(6)))!.name.display, '🎬 Popcorn 🍿 Night');
  // The HTML is text: it is found by its words and comes back exactly as it was.
  const found = await searchMetadata(ix.c, ix.keys, ['script', 'onerror'], { limit: 5, offset: 0 });
  t.deepEqual(found.items.map((x) => [x.infohash, x.name]), [[IH(3), '<script>alert("x")</script><img src=x onerror=alert(1)> & co']]);
});

test('failed fetches back off exponentially, give up after maxAttempts, count a redelivery once; a store clears them', async (t) => {
  const ix = await fresh(t);
  await indexInfohashes(ix, { 1: 2 });
  const policy = { baseDelayMs: 1000, maxDelayMs: 3000, maxAttempts: 4, giveUpForMs: 100_000 };
  const fail = (at: number) => recordMetadataFailure(ix.c, ix.keys, IH(1), { code: 'ERR_METADATA_FETCH_FAILED', at, policy });
  const T = NOW;
  t.true(await needsMetadata(ix.c, ix.keys, IH(1), { now: T }));
  t.deepEqual(await fail(T), { status: 'recorded', attempts: 1, nextAttemptAt: T + 1000, gaveUp: false });
  t.false(await needsMetadata(ix.c, ix.keys, IH(1), { now: T + 999 }));
  t.true(await needsMetadata(ix.c, ix.keys, IH(1), { now: T + 1000 }));
  t.deepEqual(await fail(T), { status: 'duplicate', attempts: 1, nextAttemptAt: T + 1000, gaveUp: false }, 'the same attempt twice counts once');
  t.deepEqual(await fail(T + 1000), { status: 'recorded', attempts: 2, nextAttemptAt: T + 3000, gaveUp: false });
  t.deepEqual(await fail(T + 3000), { status: 'recorded', attempts: 3, nextAttemptAt: T + 6000, gaveUp: false }, 'capped at maxDelayMs');
  t.deepEqual(await fail(T + 6000), { status: 'recorded', attempts: 4, nextAttemptAt: T + 106_000, gaveUp: true });
  const state = await metadataState(ix.c, ix.keys, IH(1), { now: T + 7000 });
  t.deepEqual(state, {
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
  t.true((await ix.c.pttl(ix.keys.infohashFetch(IH(1)))) > 0, 'the attempt record expires');
  // After the give-up period it is tried once more; failing again gives up again.
  t.true(await needsMetadata(ix.c, ix.keys, IH(1), { now: T + 106_000 }));
  t.like(await fail(T + 106_000), { attempts: 5, gaveUp: true, nextAttemptAt: T + 206_000 });

  // Success clears the attempts and the wait; a late failure report changes nothing.
  await store(ix, 1, summary('finally'), T + 107_000);
  t.is(await ix.c.exists(ix.keys.infohashFetch(IH(1))), 0);
  t.is(await ix.c.zscore(ix.keys.metadataWait, IH(1)), null);
  t.deepEqual(await fail(T + 108_000), { status: 'has-metadata', attempts: 0, nextAttemptAt: null, gaveUp: false });
  t.like(await metadataState(ix.c, ix.keys, IH(1)), { hasMetadata: true, attempts: 0, nextAttemptAt: null, needsMetadata: false });

  await t.throwsAsync(recordMetadataFailure(ix.c, ix.keys, IH(1), { code: 'has space', at: T }), { instanceOf: MetadataInputError, code: 'ERR_METADATA_INPUT' });
  await t.throwsAsync(recordMetadataFailure(ix.c, ix.keys, IH(99), { code: 'X', at: T }), { instanceOf: InfohashNotIndexedError, code: 'ERR_INFOHASH_NOT_INDEXED' });
  await t.throwsAsync(recordMetadataFailure(ix.c, ix.keys, IH(1), { code: 'X', at: T, policy: { maxAttempts: 0 } }), { instanceOf: MetadataInputError });
});

test('candidates: infohashes with peers and no metadata, most peers first; failed ones only once due', async (t) => {
  const ix = await fresh(t);
  t.deepEqual(await metadataCandidates(ix.c, ix.keys, { limit: 10, now: NOW }), [], 'an empty index has none');
  await indexInfohashes(ix, { 1: 5, 2: 4, 3: 3, 4: 2, 5: 1, 6: 0 });
  const all = await metadataCandidates(ix.c, ix.keys, { limit: 10, now: NOW });
  t.deepEqual(all, [5, 4, 3, 2, 1].map((peers, i) => ({ infohash: IH(i + 1), peers, retry: false })), 'IH(6) has no peers');
  await store(ix, 2, summary('fetched already'));
  await recordMetadataFailure(ix.c, ix.keys, IH(1), { code: 'ERR_METADATA_FETCH_FAILED', at: NOW, policy: { baseDelayMs: 60_000 } });
  t.deepEqual(
    (await metadataCandidates(ix.c, ix.keys, { limit: 10, now: NOW + 1 })).map((x) => x.infohash),
    [IH(3), IH(4), IH(5)],
  );
  t.deepEqual(await metadataCandidates(ix.c, ix.keys, { limit: 2, now: NOW + 60_000 }), [
    { infohash: IH(1), peers: 5, retry: true },
    { infohash: IH(3), peers: 3, retry: false },
  ]);
  await t.throwsAsync(metadataCandidates(ix.c, ix.keys, { limit: 0 }), { instanceOf: RangeError });
});

test('refused without writing: another schema version, an unknown infohash, malformed input', async (t) => {
  const ix = await fresh(t);
  await indexInfohashes(ix, { 1: 1 });
  const before = await snapshot(ix.c, ix.keys.prefix);
  const ok = summary('fine');
  const bad: Array<[string, MetadataInput, string?]> = [
    ['pieceLength 0', { ...ok, pieceLength: 0 }],
    ['more files than fileCount', { ...ok, fileCount: 0 }],
    ['negative size', { ...ok, totalSize: -1 }],
    ['unsafe size', { ...ok, totalSize: 2 ** 60 }],
    ['name without bytes', { ...ok, name: { raw: 'text' as unknown as Uint8Array } }],
    ['empty path', { ...ok, files: [{ path: [], size: 1 }] }],
    ['metaVersion 3', { ...ok, metaVersion: 3 }],
    ['bad peer', ok, 'has space:1'],
  ];
  for (const [what, input, peer] of bad) {
    await t.throwsAsync(storeMetadata(ix.c, ix.keys, IH(1), input, { fetchedAt: FETCHED, peer: peer ?? PEER(1) }), { instanceOf: MetadataInputError, code: 'ERR_METADATA_INPUT' }, what);
  }
  await t.throwsAsync(storeMetadata(ix.c, ix.keys, IH(1).toUpperCase(), ok, { fetchedAt: FETCHED, peer: PEER(1) }), { instanceOf: MetadataInputError });
  await t.throwsAsync(store(ix, 2, ok), { instanceOf: InfohashNotIndexedError });
  t.deepEqual(await snapshot(ix.c, ix.keys.prefix), before);

  await ix.c.set(ix.keys.schemaVersion, '2');
  await t.throwsAsync(store(ix, 1, ok), { instanceOf: SchemaMismatchError, message: new RegExp(`version 2, this dhtscope needs ${SCHEMA_4_VERSION}`) });
  await t.throwsAsync(recordMetadataFailure(ix.c, ix.keys, IH(1), { code: 'X', at: NOW }), { instanceOf: SchemaMismatchError });
  t.is(await ix.c.exists(ix.keys.infohashMetadata(IH(1)), ix.keys.infohashFetch(IH(1)), ix.keys.metadataWait), 0);
});
