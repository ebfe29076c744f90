/**
 * Name search: the tokenizer (pure), `GET /api/search` over an index written through
 * the index's writers (schema 5) on a real redis-server (AND semantics, ranking, Unicode names,
 * paging, no results, 400s), the `metadata` of `GET /api/infohashes/:ih`, and `dhtscope query
 * search` (its --json is the API's body; the real binary once).
 */
import test, { type ExecutionContext } from 'ava';
import { type Redis } from 'ioredis';
import { queryCommand } from '../cli/commands/query.js';
import type { Discovery } from '../crawler/discovery.js';
import { createApiServer } from '../server/api/server.js';
import { newBatchId } from '../indexer/batch-id.js';
import { IndexKeys } from '../indexer/keys.js';
import { MAX_QUERY_TOKENS, MAX_TOKEN_CHARS } from '../indexer/metadata-constants.js';
import { type MetadataInput } from '../indexer/metadata-store.js';
import { applyIndexed, storeIndexed } from './helpers/index-writes.js';
import { foldText, tokenize, tokenizeName } from '../indexer/search-tokens.js';
import { runCli } from './helpers/cli.js';
import { runInProcess } from './helpers/in-process-command.js';
import { useRedisServer } from './helpers/redis.js';
import { hostInWrapped, infohashes, peerIn } from './helpers/generators.js';

const redis = useRedisServer(test);

const IH = infohashes('b');
const NODE = hostInWrapped('10.0.3');
const PEER = peerIn('203.0.113', 1000);
const NOW = Date.now();

// ---- the tokenizer -------------------------------------------------------------------------

test('tokens: NFKC, lowercase, Latin/Greek accents folded, split on non-letters, 1-char and noise words dropped', (t) => {
  t.deepEqual(tokenize('The.Matrix.1999.1080p.BluRay.x264-GROUP'), ['matrix', '1999', '1080p', 'bluray', 'x264', 'group']);
  t.deepEqual(tokenize('Amélie (2001) [FR] – Ｆｕｌｌ Ｗｉｄｔｈ ﬁlm'), ['amelie', '2001', 'fr', 'full', 'width', 'film']);
  t.deepEqual(tokenize('İSTANBUL Ἀθῆναι ΟΔΥΣΣΕΑΣ'), ['istanbul', 'αθηναι', 'οδυσσεασ']);
  t.deepEqual(tokenize('Война и мир (Толстой)'), ['война', 'мир', 'толстой'], 'Cyrillic is kept as is; 1-letter words dropped');
  t.deepEqual(tokenize('हिन्दी फ़िल्म'), ['हिन्दी', 'फ़िल्म'], 'Devanagari keeps its vowel signs and viramas');
  t.deepEqual(tokenize('a_b c-d www.example.com the of'), ['example']);
  t.deepEqual(tokenize('ab ab AB Ab'), ['ab'], 'distinct, first occurrence kept');
  t.deepEqual(tokenize(''), []);
  t.deepEqual(tokenize('!!! ... ---'), []);
  t.is(tokenize('x'.repeat(500))[0], 'x'.repeat(MAX_TOKEN_CHARS), 'long words are cut');
  t.deepEqual(tokenize('w1 w2 w3 w4', 2), ['w1', 'w2']);
  t.is(foldText('ÉCOLE'), 'ecole');
});

test('tokens: Han, Hiragana and Katakana runs become overlapping pairs, so any part of a title matches', (t) => {
  t.deepEqual(tokenize('進撃の巨人 Season2'), ['進撃', '撃の', 'の巨', '巨人', 'season2']);
  t.deepEqual(tokenize('巨人'), ['巨人']);
  t.deepEqual(tokenize('ワンピース第1話'), ['ワン', 'ンピ', 'ピー', 'ース', 'ス第'], 'the prolonged sound mark belongs to the run; lone 1 and 話 are dropped');
  t.deepEqual(tokenize('巨'), [], 'a single character is dropped');
});

test('tokens of raw names: invalid UTF-8 and controls separate words, bidi overrides too', (t) => {
  t.deepEqual(tokenizeName(Buffer.from([0x61, 0x62, 0xff, 0x63, 0x64, 0x1b, 0x65, 0x66]), 10), ['ab', 'cd', 'ef']);
  t.deepEqual(tokenizeName(Buffer.from('evil\u202Egpj.exe'), 10), ['evil', 'gpj', 'exe']);
});

// ---- the API -------------------------------------------------------------------------------

interface Torrent {
  n: number;
  name: string | Buffer;
  peers: number;
  /** infohash events (sightings). */
  seen?: number;
  /** Last seen this long before NOW (ms). */
  ago?: number;
  files?: number;
}

interface Ix {
  c: Redis;
  keys: IndexKeys;
  get(url: string): Promise<{ status: number; body: any }>;
}

function input(name: string | Buffer, files: number, size: number): MetadataInput {
  return {
    name: { raw: Buffer.from(name) },
    totalSize: files * size,
    pieceLength: 16_384,
    pieceCount: Math.ceil((files * size) / 16_384),
    fileCount: files,
    files: Array.from({ length: Math.min(files, 3) }, (_, i) => ({ path: [{ raw: Buffer.from('dir') }, { raw: Buffer.from(`file${i}.bin`) }], size })),
    singleFile: false,
    private: false,
    metaVersion: 1,
  };
}

/** Indexes the torrents (peers, sightings, last seen as given), stores their metadata, starts an API server. */
async function searchIndex(t: ExecutionContext, torrents: Torrent[]): Promise<Ix> {
  const { c, keys } = await redis.freshIndex(t);
  const events: Discovery[] = [];
  for (const tr of torrents) {
    const last = NOW - (tr.ago ?? 60_000);
    if (tr.peers > 0) events.push({ type: 'peers', infohash: IH(tr.n), peers: Array.from({ length: tr.peers }, (_, i) => PEER(tr.n * 16 + i)), node: NODE(tr.n), at: last - 1000 });
    for (let i = 0; i < (tr.seen ?? 1); i++) events.push({ type: 'infohash', infohash: IH(tr.n), node: NODE(tr.n + i), source: 'sample', at: last - i });
  }
  await applyIndexed(c, events, { keys, batchId: newBatchId(), now: NOW });
  for (const tr of torrents) await storeIndexed(c, keys, IH(tr.n), input(tr.name, tr.files ?? 1, 1000), { fetchedAt: NOW, peer: PEER(1) });
  const app = await createApiServer({ redis: c, keys, now: () => NOW });
  t.teardown(() => app.close());
  return {
    c,
    keys,
    async get(url) {
      const res = await app.inject({ method: 'GET', url });
      return { status: res.statusCode, body: res.json() };
    },
  };
}

const ids = (body: { items: Array<{ infohash: string }> }): string[] => body.items.map((i) => i.infohash);
const search = (ix: Ix, q: string, extra = ''): Promise<{ status: number; body: any }> => ix.get(`/api/search?q=${encodeURIComponent(q)}${extra}`);

test('GET /api/search: every word must match; the body names the torrents', async (t) => {
  const ix = await searchIndex(t, [
    { n: 1, name: 'Ubuntu 24.04 Desktop amd64', peers: 5, files: 2 },
    { n: 2, name: 'Ubuntu 24.04 Server amd64', peers: 3 },
    { n: 3, name: 'Debian 12 Desktop', peers: 9 },
  ]);
  const res = await search(ix, 'ubuntu desktop');
  t.is(res.status, 200);
  t.deepEqual(res.body, {
    q: 'ubuntu desktop',
    tokens: ['ubuntu', 'desktop'],
    total: 1,
    offset: 0,
    items: [{ infohash: IH(1), name: 'Ubuntu 24.04 Desktop amd64', totalSize: 2000, fileCount: 2, peers: 5, lastSeen: NOW - 60_000 }],
    nextOffset: null,
  });
  t.deepEqual(ids((await search(ix, 'UBUNTU')).body), [IH(1), IH(2)]);
  t.deepEqual(ids((await search(ix, 'desktop')).body), [IH(3), IH(1)]);
  t.deepEqual(ids((await search(ix, 'Ubuntu 24.04 amd64 the')).body), [IH(1), IH(2)], 'noise words in a query are ignored');
  const none = await search(ix, 'ubuntu debian');
  t.deepEqual([none.status, none.body.total, none.body.items, none.body.nextOffset], [200, 0, [], null]);
  t.deepEqual((await search(ix, 'nosuchword')).body.items, []);
});

test('ranking: most live peers first, then sightings, then the most recently seen, then infohash', async (t) => {
  const ix = await searchIndex(t, [
    { n: 1, name: 'common one', peers: 1 },
    { n: 2, name: 'common two', peers: 4, seen: 1 },
    { n: 3, name: 'common three', peers: 4, seen: 3 },
    { n: 4, name: 'common four', peers: 2, seen: 1, ago: 300_000 },
    { n: 5, name: 'common five', peers: 2, seen: 1, ago: 100_000 },
    { n: 6, name: 'common six', peers: 0, seen: 1, ago: 100_000 },
    { n: 7, name: 'common seven', peers: 0, seen: 1, ago: 100_000 },
  ]);
  const all = await search(ix, 'common', '&limit=100');
  t.deepEqual(ids(all.body), [IH(3), IH(2), IH(5), IH(4), IH(1), IH(6), IH(7)]);
  t.deepEqual(
    all.body.items.map((i: { peers: number }) => i.peers),
    [4, 4, 2, 2, 1, 0, 0],
  );
  // Pages of 3 by offset, in the same order; nextOffset is null on the last.
  const pages: string[] = [];
  let offset: number | null = 0;
  while (offset !== null) {
    const page: { body: any } = await search(ix, 'common', `&limit=3&offset=${offset}`);
    t.is(page.body.total, 7);
    pages.push(...ids(page.body));
    offset = page.body.nextOffset;
  }
  t.deepEqual(pages, ids(all.body));
  t.deepEqual((await search(ix, 'common', '&offset=7')).body.items, []);
});

test('Unicode names: accents, full width, Greek final sigma, Cyrillic, CJK titles', async (t) => {
  const ix = await searchIndex(t, [
    { n: 1, name: 'Le Fabuleux Destin d’Amélie Poulain (2001)', peers: 1 },
    { n: 2, name: '進撃の巨人 Season 2 [1080p]', peers: 2 },
    { n: 3, name: 'Война и мир', peers: 3 },
    { n: 4, name: '\u039F\u0394\u03A5\u03A3\u03A3\u0395\u0391\u03A3 Ｏｍｅｒｏｓ', peers: 4 },
    { n: 5, name: '巨人の星', peers: 5 },
  ]);
  const expect: Array<[string, number[]]> = [
    ['amelie', [1]],
    ['AMÉLIE poulain', [1]],
    ['巨人', [5, 2]],
    ['進撃の巨人', [2]],
    ['巨人の星', [5]],
    ['ВОЙНА', [3]],
    ['\u03BF\u03B4\u03C5\u03C3\u03C3\u03B5\u03B1\u03C2 omeros', [4]],
    ['\u039F\u0394\u03A5\u03A3\u03A3\u0395\u0391\u03A3', [4]],
    ['\u03BF\u03B4\u03C5\u03C3\u03C3\u03B5\u03B1\u03C3', [4]],
    ['season 1080p', [2]],
  ];
  for (const [q, want] of expect) t.deepEqual(ids((await search(ix, q)).body), want.map(IH), q);
});

test('bad queries are JSON 400s with stable codes', async (t) => {
  const ix = await searchIndex(t, [{ n: 1, name: 'something', peers: 1 }]);
  const words = Array.from({ length: MAX_QUERY_TOKENS + 1 }, (_, i) => `w${i}`).join(' ');
  const cases: Array<[string, string, RegExp]> = [
    ['/api/search', 'ERR_BAD_QUERY', /^q is required/],
    ['/api/search?q=', 'ERR_BAD_QUERY', /^q is required/],
    [`/api/search?q=${'a'.repeat(201)}`, 'ERR_BAD_QUERY', /at most 200 characters/],
    ['/api/search?q=the%20a%20www', 'ERR_BAD_QUERY', /no searchable word .*got "the a www"/],
    ['/api/search?q=%21%21%20-', 'ERR_BAD_QUERY', /no searchable word/],
    [`/api/search?q=${encodeURIComponent(words)}`, 'ERR_BAD_QUERY', /at most 16 are searched together/],
    ['/api/search?q=x1&q=y2', 'ERR_BAD_QUERY', /q must be given once/],
    ['/api/search?q=something&limit=0', 'ERR_BAD_LIMIT', /^limit must be an integer from 1 to 100, got "0"$/],
    ['/api/search?q=something&limit=101', 'ERR_BAD_LIMIT', /from 1 to 100/],
    ['/api/search?q=something&offset=-1', 'ERR_BAD_OFFSET', /^offset must be an integer from 0 to 999, got "-1"$/],
    ['/api/search?q=something&offset=1000', 'ERR_BAD_OFFSET', /from 0 to 999/],
    ['/api/search?q=something&offset=x', 'ERR_BAD_OFFSET', /got "x"/],
  ];
  for (const [url, code, message] of cases) {
    const res = await ix.get(url);
    t.is(res.status, 400, url);
    t.is(res.body.error?.code, code, url);
    t.regex(res.body.error?.message ?? '', message, url);
    t.is(res.body.statusCode, 400, url);
  }
  // 200 characters is allowed.
  t.is((await ix.get(`/api/search?q=${'a'.repeat(200)}`)).status, 200);
});

test('GET /api/infohashes/:ih has the metadata once stored, null before', async (t) => {
  const ix = await searchIndex(t, [{ n: 1, name: 'With Metadata', peers: 2, files: 7 }]);
  await applyIndexed(ix.c, [{ type: 'infohash', infohash: IH(2), node: NODE(2), source: 'sample', at: NOW - 1000 }], { keys: ix.keys, batchId: newBatchId(), now: NOW });
  t.is((await ix.get(`/api/infohashes/${IH(2)}`)).body.metadata, null);
  const m = (await ix.get(`/api/infohashes/${IH(1)}`)).body.metadata;
  t.like(m, { name: { display: 'With Metadata', raw: Buffer.from('With Metadata').toString('base64'), truncated: false }, totalSize: 7000, fileCount: 7, fetchedAt: NOW, peer: PEER(1) });
  t.deepEqual(
    m.files.map((f: { path: string }) => f.path),
    ['dir/file0.bin', 'dir/file1.bin', 'dir/file2.bin'],
  );
});

// ---- dhtscope query search -------------------------------------------------------------------

const cli = (ix: Ix): string[] => ['--redis-url', redis.server.url, '--prefix', ix.keys.prefix];

test.serial('query search --json prints the API body; the text is a table with a next-page hint', async (t) => {
  const ix = await searchIndex(t, [
    { n: 1, name: 'Big Buck Bunny 1080p', peers: 3, files: 2 },
    { n: 2, name: "Big Buck Bunny 4k it's <b>HDR</b>", peers: 2 },
    { n: 3, name: 'Bunny Tales', peers: 1 },
  ]);
  const j = await runInProcess(queryCommand, ['search', 'bunny', 'BIG', '--json', ...cli(ix)]);
  t.is(j.code, 0, j.stderr);
  t.deepEqual(JSON.parse(j.stdout), (await search(ix, 'bunny BIG')).body);
  const paged = await runInProcess(queryCommand, ['search', 'bunny', '--json', '--limit', '1', '--offset', '1', ...cli(ix)]);
  t.deepEqual(JSON.parse(paged.stdout), (await search(ix, 'bunny', '&limit=1&offset=1')).body);

  const text = await runInProcess(queryCommand, ['search', 'bunny', '--limit', '2', ...cli(ix)]);
  t.is(text.code, 0, text.stderr);
  const lines = text.stdout.trimEnd().split('\n');
  t.is(lines[0], '1-2 of 3 torrents named with every word of "bunny", most peers first');
  t.regex(lines[1]!, /^INFOHASH\s+SIZE\s+FILES\s+PEERS\s+LAST SEEN\s+NAME$/);
  t.regex(lines[2]!, new RegExp(`^${IH(1)}\\s+1\\.95 KiB\\s+2\\s+3\\s+\\d+ min ago\\s+Big Buck Bunny 1080p$`));
  t.true(lines[3]!.endsWith("Big Buck Bunny 4k it's <b>HDR</b>"), 'names are printed as text');
  t.is(lines[4], `more: dhtscope query search bunny --limit 2 --offset 2`);
  const none = await runInProcess(queryCommand, ['search', 'carrot', ...cli(ix)]);
  t.deepEqual([none.code, none.stdout], [0, 'no torrent names with every word of "carrot"\n']);
});

test.serial('query infohash shows the name, size and first files', async (t) => {
  const ix = await searchIndex(t, [{ n: 1, name: 'Sintel\u202Etxt.exe', peers: 1, files: 25 }]);
  const r = await runInProcess(queryCommand, ['infohash', IH(1), ...cli(ix)]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^name\s+Sintel\\u\{202e\}txt\.exe$/m);
  t.regex(r.stdout, /^size\s+24\.4 KiB \(25,000 bytes\) in 25 files$/m);
  t.regex(r.stdout, /^metadata\s+fetched \d{4}-.* from 203\.0\.113\.1:1001$/m);
  t.regex(r.stdout, /^files \(first 3 of 25\)$/m);
  t.regex(r.stdout, /^\s+1000 B\s+dir\/file0\.bin$/m);
  t.false(r.stdout.includes('\u202E'), 'no raw bidi override reaches the terminal');
});

test.serial('query search usage errors exit 2 before connecting', async (t) => {
  const nowhere = ['--redis-url', 'redis://127.0.0.1:9'];
  const cases: Array<[string[], RegExp]> = [
    [['search'], /query search takes the words to look for/],
    [['search', 'the', 'a'], /no searchable word/],
    [['search', 'x1', '--cursor', 'abc'], /search pages with --offset, not --cursor/],
    [['search', 'x1', '--limit', '500'], /limit must be an integer from 1 to 100/],
    [['search', 'x1', '--offset', '5000'], /offset must be an integer from 0 to 999/],
    [['recent', '--offset', '5'], /--offset applies to search/],
  ];
  for (const [argv, message] of cases) {
    const r = await runInProcess(queryCommand, [...argv, ...nowhere]);
    t.is(r.code, 2, argv.join(' '));
    t.regex(r.stderr, message, argv.join(' '));
  }
});

test('the real binary: dhtscope query search exits 0 with the JSON body', async (t) => {
  const ix = await searchIndex(t, [{ n: 1, name: 'Elephants Dream', peers: 1 }]);
  const r = await runCli(t, ['query', 'search', 'elephants', 'dream', '--json', ...cli(ix)]);
  t.is(r.code, 0, r.stderr);
  t.deepEqual(JSON.parse(r.stdout), (await search(ix, 'elephants dream')).body);
});
