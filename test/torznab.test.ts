/**
 * `/torznab/api` (server/torznab/) inside the real API server, over an index on a real
 * redis-server written through the workers' write path (applyShardedBatch, storeShardedMetadata),
 * requested through fastify's inject. Every response is parsed by a real XML parser (expat,
 * test/helpers/xml.ts): a document that is not well-formed fails the test.
 */
import test from 'ava';
import { Redis } from 'ioredis';
import { createHash } from 'node:crypto';
import type { Discovery } from '../crawler/discovery.js';
import { newBatchId } from '../indexer/batch-id.js';
import { pageIndexedRecent } from '../indexer/indexed-reads.js';
import { ShardedIndexKeys } from '../indexer/sharded-keys.js';
import { writeSwarmEstimates } from '../indexer/swarm-estimates.js';
import { createApiServer } from '../server/api/server.js';
import { torznabExtension } from '../server/torznab/routes.js';
import { applyIndexed, getIndexed, storeIndexed } from './helpers/index-writes.js';
import { useRedisServer } from './helpers/redis.js';
import {
  EXPECTED,
  HOSTILE_TITLE,
  IH,
  MB,
  NODE,
  NOW,
  PEER,
  TORRENTS,
  VERSION,
  attrs,
  channelOf,
  guids,
  ihs,
  itemsOf,
  metadataInput,
  percentDecodeBytes,
  requester,
  search,
  torznabIndex as indexFor,
} from './helpers/torznab.js';
import { child, childrenNamed, parseXml } from './helpers/xml.js';

const redis = useRedisServer(test);
const torznabIndex = (t: Parameters<typeof indexFor>[0]) => indexFor(t, redis);
test('t=caps: server, limits, searching and categories; served with an apikey parameter when the server has no key', async (t) => {
  const ix = await torznabIndex(t);
  for (const url of ['/torznab/api?t=caps', '/torznab/api?t=caps&apikey=0123456789abcdef']) {
    const res = await ix.get(url);
    t.is(res.status, 200, url);
    t.regex(String(res.headers['content-type']), /^application\/xml; charset=utf-8$/);
    const caps = res.xml;
    t.is(caps.tag, 'caps');
    t.deepEqual(child(caps, 'server').attrs, { version: VERSION, title: 'dhtscope', strapline: 'torrents found on the BitTorrent DHT' });
    t.deepEqual(child(caps, 'limits').attrs, { max: '100', default: '50' });
    const searching = child(caps, 'searching');
    t.deepEqual(child(searching, 'search').attrs, { available: 'yes', supportedParams: 'q' });
    t.deepEqual(child(searching, 'tv-search').attrs, { available: 'yes', supportedParams: 'q,season,ep' });
    t.deepEqual(child(searching, 'movie-search').attrs, { available: 'yes', supportedParams: 'q' });
    t.is(child(searching, 'music-search').attrs['available'], 'no');
    const categories = childrenNamed(child(caps, 'categories'), 'category');
    t.deepEqual(
      categories.map((c) => [c.attrs['id'], c.attrs['name']]),
      [['2000', 'Movies'], ['3000', 'Audio'], ['4000', 'PC'], ['5000', 'TV'], ['7000', 'Books'], ['8000', 'Other']],
    );
    const tv = categories.find((c) => c.attrs['id'] === '5000')!;
    t.deepEqual(childrenNamed(tv, 'subcat').map((s) => [s.attrs['id'], s.attrs['name']]), [['5030', 'TV/SD'], ['5040', 'TV/HD'], ['5045', 'TV/UHD']]);
    // Every subcategory belongs to its parent's thousand.
    for (const c of categories) for (const s of childrenNamed(c, 'subcat')) t.is(Math.floor(Number(s.attrs['id']) / 1000) * 1000, Number(c.attrs['id']));
  }
});

test('t=search: RSS 2.0, one item per matching torrent, best first, with every element and torznab:attr a client reads', async (t) => {
  const ix = await torznabIndex(t);
  const res = await ix.get('/torznab/api?t=search&q=show%20name&apikey=whatever&extended=1');
  t.is(res.status, 200);
  t.is(res.headers['content-type'], 'application/rss+xml; charset=utf-8');
  t.is(res.xml.tag, 'rss');
  t.is(res.xml.attrs['version'], '2.0');
  t.true(res.body.includes('xmlns:torznab="http://torznab.com/schemas/2015/feed"') && res.body.includes('xmlns:atom="http://www.w3.org/2005/Atom"'));
  t.is(child(channelOf(res.xml), 'title').text, 'dhtscope');
  t.is(child(channelOf(res.xml), 'link').text, 'http://localhost:80/');
  t.deepEqual(guids(res.xml), ihs(1, 2, 3, 4, 5, 6, 7, 9), 'most live peers first; the movie and Ubuntu do not match');

  for (const item of itemsOf(res.xml)) {
    const ih = child(item, 'guid').text;
    const tr = TORRENTS.find((x) => IH(x.n) === ih)!;
    const expected = EXPECTED[tr.n]!;
    const size = String(tr.files.reduce((s, [, b]) => s + b, 0));
    t.is(child(item, 'title').text, expected.title);
    t.is(child(item, 'guid').attrs['isPermaLink'], 'false');
    const magnet = child(item, 'link').text;
    t.true(magnet.startsWith(`magnet:?xt=urn:btih:${ih}&dn=`), magnet);
    t.deepEqual(percentDecodeBytes(magnet.slice(magnet.indexOf('&dn=') + 4)), tr.name, 'dn is the name\'s exact bytes');
    t.deepEqual(child(item, 'enclosure').attrs, { url: magnet, length: size, type: 'application/x-bittorrent' });
    t.is(child(item, 'size').text, size);
    t.deepEqual(childrenNamed(item, 'category').map((c) => c.text), expected.categories);
    const a = attrs(item);
    for (const name of ['category', 'seeders', 'peers', 'size', 'infohash', 'magneturl']) t.true(a.has(name), `${ih} has torznab:attr ${name}`);
    t.deepEqual(a.get('category'), expected.categories);
    // No BEP 33 scrape in this index: 0 seeders, and peers are the live peers the DHT gave.
    t.deepEqual(a.get('seeders'), ['0']);
    t.deepEqual(a.get('peers'), [String(tr.peers)]);
    t.deepEqual(a.get('size'), [size]);
    t.deepEqual(a.get('files'), [String(tr.files.length)]);
    t.deepEqual(a.get('infohash'), [ih]);
    t.deepEqual(a.get('magneturl'), [magnet]);
  }
});

test('t=search: pubDate is when the index first saw the infohash, in RFC 822 form', async (t) => {
  const { c, keys } = await redis.freshIndex(t);
  const first = NOW - 3 * 3600_000;
  const events: Discovery[] = [
    { type: 'infohash', infohash: IH(1), node: NODE(1), source: 'sample', at: first },
    { type: 'infohash', infohash: IH(1), node: NODE(2), source: 'sample', at: NOW - 60_000 },
  ];
  await applyIndexed(c, events, { keys, batchId: newBatchId(), now: NOW });
  await storeIndexed(c, keys, IH(1), metadataInput(TORRENTS[0]!), { fetchedAt: NOW - 30_000, peer: PEER(1) });
  const app = await createApiServer({ redis: c, keys, extensions: [torznabExtension({ redis: c, keys })] });
  t.teardown(() => app.close());
  t.is((await getIndexed(c, keys, IH(1)))!.firstSeen, first);
  const rss = (await requester(app)('/torznab/api?t=search&q=show')).xml;
  const pubDate = child(itemsOf(rss)[0]!, 'pubDate').text;
  t.is(pubDate, new Date(first).toUTCString());
  t.regex(pubDate, /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/);
  t.is(Date.parse(pubDate), Math.floor(first / 1000) * 1000);
});

test('a name with <, &, quotes, a control character and U+FFFF gives well-formed XML with the name as text', async (t) => {
  const ix = await torznabIndex(t);
  const res = await ix.get('/torznab/api?t=search&q=weird');
  t.deepEqual(guids(res.xml), ihs(9));
  const item = itemsOf(res.xml)[0]!;
  t.is(child(item, 'title').text, HOSTILE_TITLE);
  t.true(res.body.includes('<title>Show Name &lt;Weird&gt; &amp; &quot;Co&quot; \\x01 S02E03  &apos;end&apos;</title>'), res.body);
  t.false(/[\x00-\x08\x0b\x0c\x0e-\x1f\uFFFE\uFFFF]/.test(res.body), 'no character XML 1.0 forbids');
  const magnet = child(item, 'link').text;
  t.is(magnet, `magnet:?xt=urn:btih:${IH(9)}&dn=Show%20Name%20%3CWeird%3E%20%26%20%22Co%22%20%01%20S02E03%20%EF%BF%BF%20%27end%27`);
  t.is(attrs(item).get('magneturl')![0], magnet);
  t.true(res.body.includes(`&amp;dn=Show%20Name`), 'the magnet link\'s & is escaped in the document');
});

test('t=tvsearch: season and ep narrow to SxxEyy, season alone to Sxx, in either case', async (t) => {
  const ix = await torznabIndex(t);
  t.deepEqual(guids(await search(ix, 't=tvsearch&q=show%20name&season=2&ep=3')), ihs(1, 2, 9));
  t.deepEqual(guids(await search(ix, 't=tvsearch&q=show&season=02&ep=03')), ihs(1, 2, 9));
  t.deepEqual(guids(await search(ix, 't=tvsearch&q=show%20name&season=2&ep=4')), ihs(3));
  t.deepEqual(guids(await search(ix, 't=tvsearch&q=show%20name&season=2')), ihs(1, 2, 3, 5, 9), 'S02 episodes and the "Season 2" pack');
  t.deepEqual(guids(await search(ix, 't=tvsearch&q=show%20name&season=1&ep=3')), ihs(4));
  t.deepEqual(guids(await search(ix, 't=tvsearch&q=show%20name&season=3')), []);
  t.deepEqual(guids(await search(ix, 't=tvsearch&q=show%20name')), ihs(1, 2, 3, 4, 5, 6, 7, 9), 'without season, as search');
  t.deepEqual(guids(await search(ix, 't=tvsearch&q=show%20name&season=2&cat=5030,5040')), ihs(1, 2, 3, 5, 9), "Sonarr's default categories");
  t.deepEqual(guids(await search(ix, 't=tvsearch&q=show%20name&tvdbid=12345&rid=6789&season=2&ep=3&cat=5040')), ihs(1, 2, 9), 'ids are ignored');
});

test('t=movie: answered from the name index; imdbid is accepted and ignored', async (t) => {
  const ix = await torznabIndex(t);
  const rss = await search(ix, 't=movie&q=some%20movie&imdbid=tt0111161&cat=2000,2010,2040,2045');
  t.deepEqual(guids(rss), ihs(8));
  t.deepEqual(attrs(itemsOf(rss)[0]!).get('category'), ['2045', '2000']);
  t.deepEqual(guids(await search(ix, 't=movie&q=movie&imdbid=tt0111161')), ihs(8));
  t.deepEqual(guids(await search(ix, 't=movie&q=show%20name&cat=2000')), [], 'no TV in the movie categories');
});

test('cat filters by parent or subcategory, several at once', async (t) => {
  const ix = await torznabIndex(t);
  const byCat = async (cat: string, q = 'show%20name') => guids(await search(ix, `t=search&q=${q}&cat=${cat}`));
  t.deepEqual(await byCat('5000'), ihs(1, 2, 3, 4, 5, 9));
  t.deepEqual(await byCat('5040'), ihs(1, 2, 3, 5, 9), 'TV/HD, and TV without a known resolution');
  t.deepEqual(await byCat('5030'), ihs(4, 5, 9));
  t.deepEqual(await byCat('3000'), ihs(6));
  t.deepEqual(await byCat('3040'), ihs(6));
  t.deepEqual(await byCat('3010'), [], 'lossless is not MP3');
  t.deepEqual(await byCat('7000'), ihs(7));
  t.deepEqual(await byCat('3000,7000'), ihs(6, 7));
  t.deepEqual(await byCat('8000'), []);
  t.deepEqual(await byCat('100001'), [], 'an id of no category here');
  t.deepEqual(await byCat('4000', 'ubuntu'), ihs(10));
  t.deepEqual(await byCat('4020', 'ubuntu'), ihs(10));
});

test('limit and offset page through the results, filtered or not', async (t) => {
  const ix = await torznabIndex(t);
  const page = async (query: string) => guids(await search(ix, query));
  const all = await page('t=search&q=show%20name');
  t.is(all.length, 8);
  const pages = [await page('t=search&q=show%20name&limit=3'), await page('t=search&q=show%20name&limit=3&offset=3'), await page('t=search&q=show%20name&limit=3&offset=6')];
  t.deepEqual(pages.map((p) => p.length), [3, 3, 2]);
  t.deepEqual(pages.flat(), all);
  t.deepEqual(await page('t=search&q=show%20name&offset=8'), []);
  t.deepEqual(await page('t=search&q=show%20name&offset=999999'), []);
  t.deepEqual(await page('t=search&q=show%20name&limit=1000'), all, 'a limit over 100 is cut, not refused');
  const tv = [await page('t=search&q=show%20name&cat=5000&limit=2'), await page('t=search&q=show%20name&cat=5000&limit=2&offset=2'), await page('t=search&q=show%20name&cat=5000&limit=2&offset=4'), await page('t=search&q=show%20name&cat=5000&limit=2&offset=6')];
  t.deepEqual(tv, [ihs(1, 2), ihs(3, 4), ihs(5, 9), []], 'offset counts filtered results');
});

test('without q: the most recently seen torrents that have metadata (RSS sync and Prowlarr\'s test)', async (t) => {
  const ix = await torznabIndex(t);
  const recent = await search(ix, 't=search');
  t.deepEqual(guids(recent), ihs(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 'the most recent infohash has no metadata and is left out');
  t.deepEqual(guids(await search(ix, 't=search&q=&limit=3&offset=3')), ihs(4, 5, 6));
  t.deepEqual(guids(await search(ix, 't=tvsearch&cat=5030,5040&limit=100&offset=0&extended=1')), ihs(1, 2, 3, 4, 5, 9), "Sonarr's RSS sync");
  t.deepEqual(guids(await search(ix, 't=movie&cat=2000&extended=1')), ihs(8), "Radarr's RSS sync");
  t.deepEqual(guids(await search(ix, 't=tvsearch&season=2&ep=3')), ihs(1, 2, 9));
  t.deepEqual(guids(await search(ix, 't=search&q=the')), [], 'words of which none is searchable: no results, no error');
});

test('errors: Torznab\'s <error code description/> with HTTP 200 for a wrong request', async (t) => {
  const ix = await torznabIndex(t);
  const cases: Array<[string, string]> = [
    ['/torznab/api', '200'],
    ['/torznab/api?t=nosuch', '202'],
    ['/torznab/api?t=music&q=x', '203'],
    ['/torznab/api?t=search&q=x&limit=abc', '201'],
    ['/torznab/api?t=search&q=x&offset=-1', '201'],
    ['/torznab/api?t=search&q=x&cat=tv', '201'],
    ['/torznab/api?t=tvsearch&q=x&season=two', '201'],
    ['/torznab/api?t=tvsearch&q=x&ep=3', '201'],
  ];
  for (const [url, code] of cases) {
    const res = await ix.get(url);
    t.is(res.status, 200, url);
    t.is(res.headers['content-type'], 'application/xml; charset=utf-8', url);
    t.is(res.xml.tag, 'error', url);
    t.is(res.xml.attrs['code'], code, url);
    t.true((res.xml.attrs['description'] ?? '').length > 0, url);
  }
});

test('Redis unavailable: 503 with Retry-After and error 900; caps still answers', async (t) => {
  const { keys } = await redis.freshIndex(t);
  const c = new Redis({ host: redis.server.host, port: redis.server.port, lazyConnect: true, enableOfflineQueue: false });
  c.on('error', () => {});
  await c.connect();
  c.disconnect();
  const app = await createApiServer({ redis: c, keys, extensions: [torznabExtension({ redis: c, keys })] });
  t.teardown(() => app.close());
  const res = await app.inject({ method: 'GET', url: '/torznab/api?t=search&q=show' });
  t.is(res.statusCode, 503);
  t.is(res.headers['retry-after'], '1');
  const error = await parseXml(res.rawPayload);
  t.deepEqual([error.tag, error.attrs['code']], ['error', '900']);
  t.regex(error.attrs['description']!, /Redis is unavailable/);
  const caps = await app.inject({ method: 'GET', url: '/torznab/api?t=caps' });
  t.is(caps.statusCode, 200);
  t.is((await parseXml(caps.rawPayload)).tag, 'caps');
});

test('a filtered search reads past the first 100 ranked matches, and offset counts filtered results across reads', async (t) => {
  const { c, keys } = await redis.freshIndex(t);
  // 230 films and then 3 albums, ranked by last seen (no peers, one sighting each): the albums last.
  const films = Array.from({ length: 230 }, (_, i) => 100 + i);
  const albums = [400, 401, 402];
  const all = [...films, ...albums];
  const events: Discovery[] = all.map((n, i) => ({ type: 'infohash', infohash: IH(n), node: NODE(n), source: 'sample', at: NOW - 1000 * (i + 1) }));
  await applyIndexed(c, events, { keys, batchId: newBatchId(), now: NOW });
  for (const n of films) await storeIndexed(c, keys, IH(n), metadataInput({ n, name: Buffer.from(`Bulk Film ${n} 1080p`), files: [[`film${n}.mkv`, 900 * MB]], peers: 0 }), { fetchedAt: NOW, peer: PEER(1) });
  for (const n of albums) await storeIndexed(c, keys, IH(n), metadataInput({ n, name: Buffer.from(`Bulk Album ${n}`), files: [[`${n}.flac`, 30 * MB]], peers: 0 }), { fetchedAt: NOW, peer: PEER(1) });
  // Results are checked here, not speed (see the next test).
  const app = await createApiServer({ redis: c, keys, extensions: [torznabExtension({ redis: c, keys, redisTimeoutMs: 60_000 })] });
  t.teardown(() => app.close());
  const ix = { get: requester(app) };
  const page = async (query: string) => guids(await search(ix, query));

  const ranked = [...(await page('t=search&q=bulk&limit=100')), ...(await page('t=search&q=bulk&limit=100&offset=100')), ...(await page('t=search&q=bulk&limit=100&offset=200'))];
  t.deepEqual(ranked, ihs(...all), 'most recently seen first');
  t.deepEqual(await page('t=search&q=bulk&cat=3000'), ihs(...albums), 'found past ranks 100 and 200');
  t.deepEqual(await page('t=search&q=bulk&cat=3000&offset=2'), ihs(albums[2]!));
  t.deepEqual(await page('t=search&q=bulk&cat=2000&limit=100&offset=150'), ihs(...films.slice(150)));
  t.deepEqual(await page('t=search&q=bulk&cat=2040&limit=100&offset=100'), ihs(...films.slice(100, 200)));
});

test('without q, the recent list looks at the 5,000 most recently seen infohashes only', async (t) => {
  const { c, keys } = await redis.freshIndex(t);
  // 5,000 infohashes without metadata, spread over the shards (each keeps its own `recent`),
  // seen between two with metadata: the older one is the 5,002nd most recent.
  const spread = Array.from({ length: 5000 }, (_, i) => createHash('sha1').update(`torznab ${i}`).digest('hex'));
  const events: Discovery[] = spread.map((infohash, i) => ({ type: 'infohash', infohash, node: NODE(i), source: 'sample', at: NOW - 6000 + i }));
  events.push({ type: 'infohash', infohash: IH(1), node: NODE(1), source: 'sample', at: NOW - 7000 });
  events.push({ type: 'infohash', infohash: IH(2), node: NODE(2), source: 'sample', at: NOW - 500 });
  await applyIndexed(c, events, { keys, batchId: newBatchId(), now: NOW });
  for (const n of [1, 2]) await storeIndexed(c, keys, IH(n), metadataInput(TORRENTS[n - 1]!), { fetchedAt: NOW, peer: PEER(1) });
  const recent = await pageIndexedRecent(c, ShardedIndexKeys.of(keys.prefix), { limit: 6000 });
  t.deepEqual([recent.items.length, recent.items[0]!.member, recent.items[5001]!.member], [5002, IH(2), IH(1)], 'the index still lists both');
  // What is listed is checked here, not how fast: the first scan (scripts not yet loaded) has
  // taken over 2 s while the file's other tests wrote to the same redis-server.
  const app = await createApiServer({ redis: c, keys, extensions: [torznabExtension({ redis: c, keys, redisTimeoutMs: 60_000 })] });
  t.teardown(() => app.close());
  const get = requester(app);
  t.deepEqual(guids(await search({ get }, 't=search')), ihs(2), 'IH(1) is past the scan');
  t.deepEqual(guids(await search({ get }, 't=search&q=show')), ihs(2, 1), 'the name search finds both, the more recent first');
});

test('seeders and peers come from a BEP 33 scrape estimate when the index has one', async (t) => {
  const ix = await torznabIndex(t);
  const stored = await writeSwarmEstimates(ix.c, ShardedIndexKeys.of(ix.keys.prefix), [{ infohash: IH(1), seeders: 12, leechers: 5, at: NOW }]);
  t.is(stored, 1);
  const items = itemsOf(await search(ix, 't=tvsearch&q=show%20name&season=2&ep=3'));
  t.deepEqual(items.map((i) => child(i, 'guid').text), ihs(1, 2, 9));
  t.deepEqual(items.map((i) => [attrs(i).get('seeders'), attrs(i).get('peers')]), [
    [['12'], ['17']],
    [['0'], ['8']],
    [['0'], ['1']],
  ]);
});

test('behind an API key: Torznab\'s error 100 without or with a wrong key, 500 once too many were wrong; the key in apikey opens it', async (t) => {
  const { c, keys } = await redis.freshIndex(t);
  const key = 'torznab-test-key-0123456789';
  const app = await createApiServer({ redis: c, keys, apiKey: key, extensions: [torznabExtension({ redis: c, keys })] });
  t.teardown(() => app.close());
  const get = async (url: string): Promise<{ status: number; xml: Awaited<ReturnType<typeof parseXml>> }> => {
    const res = await app.inject({ method: 'GET', url, remoteAddress: '192.0.2.44' });
    return { status: res.statusCode, xml: await parseXml(res.rawPayload) };
  };
  const none = await get('/torznab/api?t=caps');
  t.deepEqual([none.status, none.xml.tag, none.xml.attrs['code']], [200, 'error', '100']);
  t.regex(none.xml.attrs['description']!, /requires an API key/);
  const ok = await get(`/torznab/api?t=caps&apikey=${key}`);
  t.deepEqual([ok.status, ok.xml.tag], [200, 'caps']);
  let last = await get('/torznab/api?t=caps&apikey=wrong');
  t.is(last.xml.attrs['code'], '100');
  for (let i = 0; i < 12 && last.xml.attrs['code'] === '100'; i++) last = await get('/torznab/api?t=search&q=x&apikey=wrong');
  t.deepEqual([last.xml.tag, last.xml.attrs['code']], ['error', '500'], 'too many wrong keys: request limit reached');
  t.regex(last.xml.attrs['description']!, /too many wrong API keys/);
  // The API's own routes keep their JSON errors.
  const api = await app.inject({ method: 'GET', url: '/api/stats' });
  t.is(api.statusCode, 401);
  t.like(api.json(), { error: { code: 'ERR_UNAUTHORIZED' } });
});
