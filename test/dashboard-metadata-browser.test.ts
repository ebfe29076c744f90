/**
 * Torrent names and files in the dashboard, in a real browser (Debian's chromium through
 * playwright-core): the search box finds a torrent by words of its name, its row shows the
 * name, and its page shows name, size and files. The metadata is stored through the real
 * write path (applyBatch, then storeMetadata of an info dictionary parsed by the fetcher's
 * strict parser); its name carries HTML, which must show as text. Any console error, failed
 * request or HTTP error status fails the test.
 */
import test from 'ava';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { type Browser } from 'playwright-core';
import { newBatchId } from '../indexer/batch-id.js';
import { createApiServer } from '../server/api/server.js';
import { dashboardExtension } from '../server/dashboard/extension.js';
import { parseInfoDictionary } from '../bep9/info-dictionary.js';
import { makeInfoDict, sha1 } from '../testkit/metadata-peer.js';
import { launchChromium, openRecordedPage } from './helpers/browser.js';
import { ROOT } from './helpers/cli.js';
import { useRedisServer } from './helpers/redis.js';
import { applyIndexed, storeIndexed } from './helpers/index-writes.js';

const redis = useRedisServer(test);
const NAME = 'Ubuntu <b>Studio</b> 24.04 Media Pack';
let browser: Browser | undefined;

test.before(async () => {
  browser = await launchChromium();
});
test.after.always(async () => {
  await browser?.close();
});

test('search by name words finds the torrent; its page shows name, size and files as text', async (t) => {
  t.timeout(120_000);
  const { c: client, keys } = await redis.freshIndex(t);
  const info = makeInfoDict(NAME, 3, 2_048);
  const ih = sha1(info).toString('hex');
  const now = Date.now();
  await applyIndexed(
    client,
    [
      { type: 'infohash', infohash: ih, node: '10.1.2.3:6881', source: 'sample', at: now },
      { type: 'peers', infohash: ih, peers: ['10.9.8.7:51413'], node: '10.1.2.3:6881', at: now },
    ],
    { keys, batchId: newBatchId() },
  );
  const stored = await storeIndexed(client, keys, ih, parseInfoDictionary(info), { fetchedAt: now, peer: '10.9.8.7:51413' });
  t.is(stored.status, 'stored');

  const app = await createApiServer({ redis: client, keys, extensions: [dashboardExtension({ redis: client, keys })] });
  t.teardown(() => app.close());
  const base = await app.listen({ host: '127.0.0.1', port: 0 });

  const { context, page, problems } = await openRecordedPage(browser!, { width: 1280, height: 800 });
  t.teardown(() => context.close());

  await page.goto(`${base}/`);
  await page.fill('#search-input', 'studio media');
  await page.press('#search-input', 'Enter');
  const row = page.locator(`#infohash-rows tr[data-infohash="${ih}"]`);
  await row.waitFor({ timeout: 30_000 });
  t.is(await row.locator('.torrent-name').textContent(), NAME, 'the name shows as text, tags and all');
  t.is(await page.locator('#infohash-rows b').count(), 0, 'no markup from the name reached the DOM');
  t.regex((await page.textContent('#table-status')) ?? '', /1 torrent named with every word/);

  await row.focus();
  await page.keyboard.press('Enter');
  await page.waitForURL(`**/#/infohash/${ih}`, { timeout: 30_000 });
  await page.locator('#ih-metadata:not([hidden])').waitFor({ timeout: 30_000 });
  t.is(await page.textContent('#ih-name'), NAME);
  t.is(Number(await page.getAttribute('#ih-size', 'data-value')), 3 * 2_048);
  t.is(Number(await page.getAttribute('#ih-file-count', 'data-value')), 3);
  t.deepEqual(await page.locator('#ih-files td.path').allTextContents(), ['dir/file-0.bin', 'dir/file-1.bin', 'dir/file-2.bin']);
  t.true(await page.locator('#ih-no-metadata').isHidden());
  await mkdir(join(ROOT, 'test-output'), { recursive: true });
  await page.screenshot({ path: join(ROOT, 'test-output', 'dashboard-metadata.png'), fullPage: true });

  // A search no torrent matches says so.
  await page.goto(`${base}/`);
  await page.fill('#search-input', 'nothing matches this');
  await page.press('#search-input', 'Enter');
  await page.locator('#infohash-rows td.empty').waitFor({ timeout: 30_000 });
  t.is(await page.textContent('#infohash-rows td.empty'), 'No torrent name has all these words.');
  t.deepEqual(problems, []);
});
