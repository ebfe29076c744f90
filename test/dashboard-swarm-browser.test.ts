/**
 * BEP 33 estimates and address families in the dashboard, in a real browser (Debian's chromium
 * through playwright-core): the Seeders list ranks by the stored estimates, an infohash page
 * shows seeders and leechers (or that none was taken), and the census shows IPv4 and IPv6
 * nodes. Written through the real write paths (applyShardedBatch, writeSwarmEstimates). Any
 * console error, failed request or HTTP error status fails the test.
 */
import test from 'ava';
import { type Browser } from 'playwright-core';
import { randomBytes } from 'node:crypto';
import { newBatchId } from '../indexer/batch-id.js';
import { ShardedIndexKeys } from '../indexer/sharded-keys.js';
import { writeSwarmEstimates } from '../indexer/swarm-estimates.js';
import { createApiServer } from '../server/api/server.js';
import { dashboardExtension } from '../server/dashboard/extension.js';
import { launchChromium, openRecordedPage } from './helpers/browser.js';
import { applyIndexed } from './helpers/index-writes.js';
import { useRedisServer } from './helpers/redis.js';

const redis = useRedisServer(test);
let browser: Browser | undefined;

test.before(async () => {
  browser = await launchChromium();
});
test.after.always(async () => {
  await browser?.close();
});

test('the Seeders list ranks by BEP 33 estimates; an infohash page shows seeders and leechers; the census shows both families', async (t) => {
  t.timeout(120_000);
  const { c, keys } = await redis.freshIndex(t);
  const now = Date.now();
  const [few, many, none] = [0, 1, 2].map(() => randomBytes(20).toString('hex')) as [string, string, string];
  const node = (i: number, address: string) => ({ type: 'node' as const, id: randomBytes(20).toString('hex'), address, version: null, rttMs: 30, bep51: null, bep42: false, at: now + i });
  await applyIndexed(
    c,
    [
      ...[few, many, none].map((ih, i) => ({ type: 'infohash' as const, infohash: ih, node: '10.1.2.3:6881', source: 'sample' as const, at: now - 1000 * (3 - i) })),
      node(1, '198.51.100.1:6881'),
      node(2, '198.51.100.2:6881'),
      node(3, '[2001:db8::1]:6881'),
    ],
    { keys, batchId: newBatchId() },
  );
  const at = Math.floor(now / 60_000) * 60_000;
  t.is(await writeSwarmEstimates(c, ShardedIndexKeys.of(keys.prefix), [
    { infohash: few, seeders: 3, leechers: 8, at },
    { infohash: many, seeders: 42, leechers: 5, at },
  ]), 2);

  const app = await createApiServer({ redis: c, keys, extensions: [dashboardExtension({ redis: c, keys })] });
  t.teardown(() => app.close());
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  const { context, page, problems } = await openRecordedPage(browser!, { width: 1280, height: 800 });
  t.teardown(() => context.close());

  await page.goto(`${base}/`);
  await page.click('#sort-seeders');
  t.is(await page.getAttribute('#sort-seeders', 'aria-pressed'), 'true');
  await page.locator('#table-status', { hasText: 'most seeders' }).waitFor({ timeout: 30_000 });
  t.deepEqual(await page.locator('#infohash-rows tr[data-infohash]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-infohash'))), [many, few], 'most seeders first; the unscraped one is not listed');

  await page.goto(`${base}/#/infohash/${many}`);
  await page.locator('#ih-swarm[data-value="42"]').waitFor({ timeout: 30_000 });
  t.regex((await page.textContent('#ih-swarm')) ?? '', /^42 \/ 5 \(/);
  await page.goto(`${base}/#/infohash/${none}`);
  await page.locator('#ih-hex', { hasText: none }).waitFor({ timeout: 30_000 });
  await page.locator('#ih-swarm', { hasText: 'not scraped yet' }).waitFor({ timeout: 30_000 });

  await page.goto(`${base}/`);
  await page.locator('#census-families[data-count="2"]').waitFor({ timeout: 30_000 });
  t.deepEqual(await page.locator('#census-families li').allTextContents(), ['IPv42 (66.7%)', 'IPv61 (33.3%)'], 'label, count and share of each family');
  t.deepEqual([...problems], [], 'no console errors, uncaught exceptions or failed requests');
});
