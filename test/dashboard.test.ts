/**
 * The dashboard's routes (server/dashboard/) inside the real API server, through fastify's
 * inject: the page and its assets (types, security and caching headers, a complete module
 * graph, no path outside the fixed asset table), and the infohash search over an index
 * written by applyBatch on a real redis-server.
 */
import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import { type FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join, dirname } from 'node:path';
import type { Discovery } from '../crawler/discovery.js';
import { createApiServer } from '../server/api/server.js';
import { newBatchId } from '../indexer/batch-id.js';
import { type IndexConfig } from '../indexer/index-config.js';
import { CONTENT_SECURITY_POLICY } from '../server/dashboard/constants.js';
import { dashboardExtension } from '../server/dashboard/extension.js';
import { IndexKeys } from '../indexer/keys.js';
import { ensureSchema } from '../migrations/runner.js';
import { params } from './helpers/fast-check.js';
import { freePort, randomPrefix, useRedisServer } from './helpers/redis.js';
import { applyIndexed } from './helpers/index-writes.js';

const redis = useRedisServer(test);

const NOW = Date.now();
const NODE = '10.0.0.1:6881';

interface Setup {
  c: Redis;
  keys: IndexKeys;
  app: FastifyInstance;
  /** Applies infohash sightings, the i-th at NOW - (n - i) s: the last one is the most recent. */
  see: (infohashes: string[], config?: Partial<IndexConfig>) => Promise<void>;
}

async function setup(t: ExecutionContext): Promise<Setup> {
  const { c, keys } = await redis.freshIndex(t);
  const app = await createApiServer({ redis: c, keys, extensions: [dashboardExtension({ redis: c, keys })] });
  t.teardown(() => app.close());
  const see = async (infohashes: string[], config: Partial<IndexConfig> = {}): Promise<void> => {
    const events: Discovery[] = infohashes.map((infohash, i) => ({ type: 'infohash', infohash, node: NODE, source: 'sample', at: NOW - (infohashes.length - i) * 1000 }));
    await applyIndexed(c, events, { keys, batchId: newBatchId(), now: NOW, config });
  };
  return { c, keys, app, see };
}

async function get(app: FastifyInstance, url: string, headers: Record<string, string> = {}) {
  const res = await app.inject({ method: 'GET', url, headers });
  return { status: res.statusCode, headers: res.headers, text: res.body, raw: res.rawPayload, json: () => res.json() as any };
}

/** A 40-hex infohash starting with `prefix`, the rest from `n`. */
function ih(prefix: string, n: number): string {
  return prefix + n.toString(16).padStart(40 - prefix.length, '0');
}

/** RFC 4648 base32 of 20 bytes (what magnet links may carry instead of hex). */
function base32(hex: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const bits = [...Buffer.from(hex, 'hex')].map((b) => b.toString(2).padStart(8, '0')).join('');
  return bits.match(/.{5}/g)!.map((chunk) => alphabet[parseInt(chunk, 2)]).join('');
}

const uplotDir = dirname(createRequire(import.meta.url).resolve('uplot/package.json'));

// ---------------------------------------------------------------------------------------
// The page and its assets

test('GET / serves the page with a CSP that forbids inline scripts and remote origins', async (t) => {
  const { app } = await setup(t);
  const res = await get(app, '/');
  t.is(res.status, 200);
  t.is(res.headers['content-type'], 'text/html; charset=utf-8');
  const csp = String(res.headers['content-security-policy']);
  t.is(csp, CONTENT_SECURITY_POLICY);
  t.regex(csp, /(^|; )default-src 'self'(;|$)/);
  t.regex(csp, /(^|; )script-src 'self'(;|$)/);
  t.notRegex(csp, /unsafe-inline|unsafe-eval|https?:|\*/);
  t.is(res.headers['x-content-type-options'], 'nosniff');
  t.is(res.headers['cache-control'], 'no-cache');
  t.regex(String(res.headers['etag']), /^"[A-Za-z0-9_-]{27}"$/);

  // Nothing inline that the policy would block, and nothing from elsewhere.
  const html = res.text;
  for (const script of html.match(/<script\b[^>]*>[\s\S]*?<\/script>/g) ?? []) {
    t.regex(script, /^<script type="module" src="\/dashboard\/[a-z-]+\.js"><\/script>$/, script);
  }
  t.notRegex(html, /\sstyle=|\son[a-z]+=|<style\b|javascript:/i);
  t.notRegex(html, /(src|href)="(https?:)?\/\//);
  t.regex(html, /<link rel="icon" href="\/dashboard\/favicon\.svg"/, 'a favicon, so the browser asks for no /favicon.ico');
});

test('HEAD / and conditional GETs: 304 with no body for a matching ETag, 200 otherwise', async (t) => {
  const { app } = await setup(t);
  const first = await get(app, '/dashboard/app.js');
  const etag = String(first.headers['etag']);

  const head = await app.inject({ method: 'HEAD', url: '/' });
  t.is(head.statusCode, 200);
  t.is(head.body, '');
  t.is(head.headers['content-type'], 'text/html; charset=utf-8');

  for (const header of [etag, `W/${etag}`, `"other", ${etag}`, '*']) {
    const res = await get(app, '/dashboard/app.js', { 'if-none-match': header });
    t.is(res.status, 304, header);
    t.is(res.text, '', header);
    t.is(res.headers['etag'], etag);
    t.is(res.headers['cache-control'], 'no-cache');
  }
  const stale = await get(app, '/dashboard/app.js', { 'if-none-match': '"stale"' });
  t.is(stale.status, 200);
  t.is(stale.text, first.text);
  // The page's tag is not the script's.
  t.is((await get(app, '/', { 'if-none-match': etag })).status, 200);
});

test('every file the page loads, and every module its scripts import, is served with its type', async (t) => {
  const { app } = await setup(t);
  const html = (await get(app, '/')).text;
  const types: Record<string, string> = { js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8', svg: 'image/svg+xml' };
  const pending = [...html.matchAll(/(?:src|href)="(\/dashboard\/[^"]+)"/g)].map((m) => m[1]!);
  const served = new Set<string>();
  while (pending.length > 0) {
    const path = pending.pop()!;
    if (served.has(path)) continue;
    served.add(path);
    const res = await get(app, path);
    t.is(res.status, 200, path);
    t.is(res.headers['content-type'], types[path.split('.').pop()!], path);
    t.is(res.headers['content-security-policy'], CONTENT_SECURITY_POLICY, path);
    // uPlot has no imports; its source is not ours to lint.
    if (!path.endsWith('.js') || path.includes('/vendor/')) continue;
    // Static and dynamic imports, resolved as the browser does.
    for (const m of res.text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^import\s+)['"]([^'"]+)['"]/gm)) {
      pending.push(new URL(m[1]!, `http://dashboard${path}`).pathname);
    }
    // Our scripts insert text only as text, and load nothing from elsewhere.
    t.notRegex(res.text, /innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function/, path);
    t.notRegex(res.text, /https?:\/\//, path);
  }
  t.true(served.has('/dashboard/app.js') && served.has('/dashboard/time-chart.js') && served.has('/dashboard/vendor/uPlot.esm.js'), [...served].join(' '));
  t.true(served.size >= 15, `${served.size} files`);

  // The chart library is the installed package's own file, byte for byte.
  t.deepEqual((await get(app, '/dashboard/vendor/uPlot.esm.js')).raw, await readFile(join(uplotDir, 'dist/uPlot.esm.js')));
  t.deepEqual((await get(app, '/dashboard/vendor/uPlot.min.css')).raw, await readFile(join(uplotDir, 'dist/uPlot.min.css')));
});

test('unknown files and path traversal get the JSON 404, never a file', async (t) => {
  const { app } = await setup(t);
  const packageJson = await readFile('package.json', 'utf8');
  const attempts = [
    '/dashboard/',
    '/dashboard',
    '/dashboard/nope.js',
    '/dashboard/APP.JS',
    '/dashboard/index.html',
    '/dashboard/app.js/',
    '/dashboard//app.js',
    '/dashboard/../package.json',
    '/dashboard/%2e%2e/package.json',
    '/dashboard/..%2fpackage.json',
    '/dashboard/..%2f..%2f..%2fpackage.json',
    '/dashboard/%2e%2e%2f%2e%2e%2f%2e%2e%2fpackage.json',
    '/dashboard/vendor/../../../../package.json',
    '/dashboard/vendor/..%2f..%2f..%2f..%2fpackage.json',
    '/dashboard/vendor/uPlot.cjs.js',
    '/dashboard/vendor/package.json',
    '/dashboard/%5c..%5c..%5cpackage.json',
    '/dashboard/..\\..\\package.json',
    '/dashboard/extension.ts',
    '/dashboard/constants.ts',
    '/dashboard//etc/passwd',
    '/dashboard/%2fetc%2fpasswd',
    '/dashboard/app.js%00.html',
    '/index.html',
    '/favicon.ico',
  ];
  for (const url of attempts) {
    const res = await get(app, url);
    t.true(res.status === 404 || res.status === 400, `${url}: ${res.status}`);
    t.regex(String(res.headers['content-type']), /^application\/json/, url);
    t.regex(res.json().error.code, /^ERR_(ROUTE_NOT_FOUND|BAD_REQUEST)$/, url);
    t.false(res.text.includes('"dependencies"') || res.text.includes('root:') || res.text.includes('import '), url);
    t.false(packageJson.includes(res.text), url);
  }
  const post = await app.inject({ method: 'POST', url: '/', payload: {} });
  t.is(post.statusCode, 404);
  t.is(post.json().error.code, 'ERR_ROUTE_NOT_FOUND');
  // The API's own routes still answer next to the dashboard's.
  t.is((await get(app, '/api/stats')).status, 200);
});

// ---------------------------------------------------------------------------------------
// Search

test('prefix search: the most recent matches first, any case, with limit and "more"; only the prefix\'s buckets are read', async (t) => {
  const { app, see } = await setup(t);
  const matching = [ih('abcd', 1), ih('abcd', 2), ih('abcdef', 3), ih('abcd', 4)];
  await see([ih('abce', 5), matching[0]!, ih('0bcd', 6), matching[1]!, matching[2]!, ih('dcba', 7), matching[3]!]);

  const res = await get(app, '/api/search/infohash?q=ABCD');
  t.is(res.status, 200);
  const body = res.json();
  // 4 hex digits name two record buckets (17 bits), which hold the 4 matches and nothing else.
  t.like(body, { match: 'prefix', query: 'abcd', more: false, scanned: 4 });
  t.deepEqual(body.items.map((i: { infohash: string }) => i.infohash), [...matching].reverse());
  t.like(body.items[0], { infohash: matching[3], seen: 1, sources: 1, peerCount: 0, firstSeen: NOW - 1000, lastSeen: NOW - 1000 });

  const limited = (await get(app, '/api/search/infohash?q=abcd&limit=2')).json();
  t.deepEqual(limited.items.map((i: { infohash: string }) => i.infohash), [matching[3], matching[2]]);
  t.true(limited.more);

  t.deepEqual((await get(app, '/api/search/infohash?q=abcdef')).json().items.map((i: { infohash: string }) => i.infohash), [matching[2]]);
  t.like((await get(app, '/api/search/infohash?q=%20ffff%20')).json(), { match: 'prefix', query: 'ffff', items: [], more: false, scanned: 0 });
});

test('exact and prefix search find any indexed infohash, as hex, base32 or magnet link, also one no longer in `recent`', async (t) => {
  const { app, see } = await setup(t);
  const old = ih('c0ffee', 1);
  // A tiny recent (4 per shard): `old` falls out of its shard's part as newer ones arrive there.
  await see([old, ...Array.from({ length: 8 }, (_, i) => ih('c0ffee', 10 + i))], { recentCap: 3 });

  for (const q of [old, old.toUpperCase(), base32(old), `magnet:?xt=urn:btih:${old}&dn=a%20name`, `magnet:?xt=urn:btih:${base32(old)}`]) {
    const res = await get(app, `/api/search/infohash?q=${encodeURIComponent(q)}`);
    t.is(res.status, 200, q);
    const body = res.json();
    t.like(body, { match: 'exact', query: old, scanned: 0, more: false }, q);
    t.deepEqual(body.items.map((i: { infohash: string }) => i.infohash), [old], q);
  }
  t.like((await get(app, `/api/search/infohash?q=${ih('c0ffee', 9)}`)).json(), { match: 'exact', items: [] });
  const prefix = (await get(app, '/api/search/infohash?q=c0ffee&limit=100')).json();
  t.like(prefix, { match: 'prefix', scanned: 9, more: false });
  t.is(prefix.items.at(-1).infohash, old, 'the oldest, out of recent, is found last');
});

test('prefix search over 2,500 infohashes reads only its bucket and finds every match in order', async (t) => {
  const { app, see } = await setup(t);
  const all = Array.from({ length: 2_500 }, (_, i) => (i % 100 === 37 ? ih('beef', i) : ih('0000', i)));
  await see(all);
  const body = (await get(app, '/api/search/infohash?q=beef&limit=1000')).json();
  t.is(body.scanned, 25);
  t.false(body.more);
  t.deepEqual(
    body.items.map((i: { infohash: string }) => i.infohash),
    all.filter((h) => h.startsWith('beef')).reverse(),
  );
});

test('prefix search returns what filtering every indexed infohash would (property)', async (t) => {
  const { c } = await setup(t);
  const hexChar = fc.constantFrom(...'0123456789abcdef');
  const hex = (min: number, max: number) => fc.string({ unit: hexChar, minLength: min, maxLength: max });
  await fc.assert(
    fc.asyncProperty(fc.uniqueArray(hex(40, 40), { minLength: 0, maxLength: 60 }), hex(4, 6), fc.integer({ min: 1, max: 20 }), async (infohashes, prefix, limit) => {
      const keys = new IndexKeys(randomPrefix());
      await ensureSchema(c, keys, { migrate: true });
      // Shared leading digits make matches likely.
      const seeded = infohashes.map((h, i) => (i % 3 === 0 ? prefix + h.slice(prefix.length) : h));
      const unique = [...new Set(seeded)];
      const at = new Map(unique.map((infohash, i) => [infohash, NOW - (i % 7) * 1000]));
      if (unique.length > 0) {
        const events: Discovery[] = unique.map((infohash) => ({ type: 'infohash', infohash, node: NODE, source: 'sample', at: at.get(infohash)! }));
        await applyIndexed(c, events, { keys, batchId: newBatchId(), now: NOW });
      }
      const app = await createApiServer({ redis: c, keys, extensions: [dashboardExtension({ redis: c, keys })] });
      try {
        const body = (await get(app, `/api/search/infohash?q=${prefix}&limit=${limit}`)).json();
        // Most recent first, then infohash descending: the order of the lists.
        const expected = unique.filter((h) => h.startsWith(prefix)).sort((a, b) => at.get(b)! - at.get(a)! || (a < b ? 1 : -1));
        t.deepEqual(
          body.items.map((i: { infohash: string }) => i.infohash),
          expected.slice(0, limit),
        );
        t.is(body.more, expected.length > limit);
      } finally {
        await app.close();
      }
    }),
    params(15),
  );
});

test('bad searches are 400 JSON errors with stable codes', async (t) => {
  const { app } = await setup(t);
  const cases: Array<[string, string, RegExp]> = [
    ['', 'ERR_BAD_INFOHASH', /q is required/],
    ['?q=', 'ERR_BAD_INFOHASH', /q is required/],
    ['?q=abc', 'ERR_BAD_INFOHASH', /hex prefix of 4 to 39/],
    ['?q=wxyz', 'ERR_BAD_INFOHASH', /got "wxyz"/],
    ['?q=abcd&q=abce', 'ERR_BAD_INFOHASH', /given once/],
    [`?q=${'a'.repeat(41)}`, 'ERR_BAD_INFOHASH', /hex prefix/],
    [`?q=${'a'.repeat(2001)}`, 'ERR_BAD_INFOHASH', /longer than 2000/],
    ['?q=magnet%3A%3Fxt%3Durn%3Abtih%3Azzz', 'ERR_BAD_INFOHASH', /btih/],
    ['?q=abcd%27%20OR%201%3D1', 'ERR_BAD_INFOHASH', /got/],
    ['?q=abcd&limit=0', 'ERR_BAD_LIMIT', /limit/],
    ['?q=abcd&limit=1001', 'ERR_BAD_LIMIT', /limit/],
    ['?q=abcd&limit=x', 'ERR_BAD_LIMIT', /limit/],
  ];
  for (const [query, code, message] of cases) {
    const res = await get(app, `/api/search/infohash${query}`);
    t.is(res.status, 400, query);
    t.regex(String(res.headers['content-type']), /^application\/json/, query);
    const body = res.json();
    t.is(body.error.code, code, query);
    t.regex(body.error.message, message, query);
    t.is(body.statusCode, 400);
  }
});

test('search with Redis unreachable: a prompt 503 with Retry-After', async (t) => {
  const nowhere = new Redis({ host: '127.0.0.1', port: await freePort(), lazyConnect: false });
  nowhere.on('error', () => {});
  t.teardown(() => nowhere.disconnect());
  const keys = new IndexKeys(randomPrefix());
  const app = await createApiServer({ redis: nowhere, keys, extensions: [dashboardExtension({ redis: nowhere, keys, redisTimeoutMs: 500 })] });
  t.teardown(() => app.close());
  const res = await get(app, '/api/search/infohash?q=abcd');
  t.is(res.status, 503);
  t.is(res.json().error.code, 'ERR_REDIS_UNAVAILABLE');
  t.is(res.headers['retry-after'], '1');
  // The page itself needs no Redis.
  t.is((await get(app, '/')).status, 200);
});

test('the overview says when Redis is unreachable, the crawl is paused, or retention pruned something', async (t) => {
  // Plain browser JavaScript without types: loaded by path, as the browser loads it.
  const healthModule = new URL('../server/dashboard/public/health.js', import.meta.url).href;
  const { healthText } = (await import(healthModule)) as { healthText: (live: unknown) => string };
  t.is(healthText(null), '');
  t.is(healthText({ producer: { redisUp: true }, crawl: { pausedForSink: false }, retention: { pruned: 0 } }), '');
  t.is(
    healthText({ producer: { redisUp: false }, crawl: { pausedForSink: true }, retention: { pruned: 12345 } }),
    ' Redis is unreachable: discoveries wait in memory and the spool on disk. The crawl is paused until the spool has room again. Retention pruned 12,345 infohashes not seen for a long time.',
  );
  t.is(healthText({ retention: { pruned: 'many' } }), '', 'only numbers are shown');
});
