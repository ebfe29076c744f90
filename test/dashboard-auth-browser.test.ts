/**
 * The dashboard behind an API key, in a real browser (Debian's chromium through playwright-core):
 * opened once as `/?apikey=KEY`, it lands on `/` without the key in the address, holds the key
 * in an HttpOnly, SameSite=Strict cookie its scripts cannot read, and fills with the index's
 * data through its own /api requests, which the cookie authenticates. Without the cookie, the
 * same requests get 401. An API server over a real redis-server, with the real write path;
 * any console error, failed request or HTTP error status in the keyed page fails the test.
 */
import test from 'ava';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { type Browser } from 'playwright-core';
import { AUTH_COOKIE_NAME } from '../server/api/constants.js';
import { createApiServer } from '../server/api/server.js';
import { dashboardExtension } from '../server/dashboard/extension.js';
import { launchChromium, openRecordedPage } from './helpers/browser.js';
import { ROOT } from './helpers/cli.js';
import { applyIndexed } from './helpers/index-writes.js';
import { useRedisServer } from './helpers/redis.js';
import { newBatchId } from '../indexer/batch-id.js';
import { infohashes } from './helpers/generators.js';
import { pollValue } from './helpers/wait.js';

const redis = useRedisServer(test);
const KEY = 'dashboard-key_0123456789abcdef';
const IH = infohashes('d');
let browser: Browser | undefined;

test.before(async () => {
  browser = await launchChromium();
});
test.after.always(async () => {
  await browser?.close();
});

test('opened with ?apikey=, the dashboard keeps the key in an HttpOnly cookie and loads its data; without the cookie the API says 401', async (t) => {
  t.timeout(120_000);
  const { c: client, keys } = await redis.freshIndex(t);
  const now = Date.now();
  await applyIndexed(
    client,
    [1, 2, 3].flatMap((i) => [
      { type: 'infohash' as const, infohash: IH(i), node: `10.1.2.${i}:6881`, source: 'sample' as const, at: now - i * 1000 },
      { type: 'peers' as const, infohash: IH(i), peers: [`10.9.8.${i}:51413`], node: `10.1.2.${i}:6881`, at: now - i * 1000 },
    ]),
    { keys, batchId: newBatchId() },
  );
  const app = await createApiServer({ redis: client, keys, apiKey: KEY, extensions: [dashboardExtension({ redis: client, keys })] });
  t.teardown(() => app.close());
  const base = await app.listen({ host: '127.0.0.1', port: 0 });

  // Without the key, the page itself is refused.
  const bare = await openRecordedPage(browser!, { width: 1280, height: 800 });
  t.teardown(() => bare.context.close());
  const refused = await bare.page.goto(`${base}/`);
  t.is(refused?.status(), 401);
  t.regex((await bare.page.textContent('body')) ?? '', /ERR_UNAUTHORIZED/);

  const { context, page, problems } = await openRecordedPage(browser!, { width: 1280, height: 800 });
  t.teardown(() => context.close());
  await page.goto(`${base}/?apikey=${KEY}`);
  t.is(page.url(), `${base}/`, 'redirected to the page without the key in its address');
  t.is(await page.title(), 'dhtscope');

  const cookies = await context.cookies(base);
  t.is(cookies.length, 1);
  t.like(cookies[0], { name: AUTH_COOKIE_NAME, value: KEY, path: '/', httpOnly: true, sameSite: 'Strict', secure: false });
  t.is(await page.evaluate('document.cookie'), '', "the page's scripts cannot read the key");

  // Its own polls of /api/* carry the cookie: the counters and the table fill with the index.
  const infohashCount = await pollValue('the infohash counter', async () => Number(await page.getAttribute('#c-infohashes', 'data-value')), (n) => n === 3, 30_000);
  t.is(infohashCount, 3);
  await pollValue('the table rows', () => page.locator('#infohash-rows tr[data-infohash]').count(), (n) => n === 3, 30_000);
  t.deepEqual((await page.locator('#infohash-rows tr[data-infohash]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-infohash')))).sort(), [IH(1), IH(2), IH(3)].sort());

  t.deepEqual([...problems], [], 'no console errors, uncaught exceptions, failed requests or error statuses while the page loaded');

  // The same request from the page without its cookie, and from outside the browser: 401.
  const withoutCookie = await page.evaluate(async () => {
    const res = await fetch('/api/stats', { credentials: 'omit' });
    return { status: res.status, code: ((await res.json()) as { error?: { code?: string } }).error?.code };
  });
  t.deepEqual(withoutCookie, { status: 401, code: 'ERR_UNAUTHORIZED' });
  const withCookie = await page.evaluate(async () => (await fetch('/api/stats')).status);
  t.is(withCookie, 200);
  t.is((await fetch(`${base}/api/stats`)).status, 401);

  await mkdir(join(ROOT, 'test-output'), { recursive: true });
  await page.screenshot({ path: join(ROOT, 'test-output', 'dashboard-auth.png') });
});
