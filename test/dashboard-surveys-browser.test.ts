/**
 * The dashboard's Surveys panel in a real browser (Debian's chromium through playwright-core),
 * against an API server over a real redis-server whose survey series was written by the real
 * writer (indexer/survey-series.ts): empty at first, then three surveys, the newest with a
 * flagged Sybil region, then a newer one without. Any console error, uncaught exception, failed
 * request or HTTP error status fails the test.
 */
import test from 'ava';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { type Browser, type Page } from 'playwright-core';
import { recordSurvey, type SurveyEntry } from '../indexer/survey-series.js';
import { createApiServer } from '../server/api/server.js';
import { dashboardExtension } from '../server/dashboard/extension.js';
import { launchChromium, openRecordedPage } from './helpers/browser.js';
import { ROOT } from './helpers/cli.js';
import { useRedisServer } from './helpers/redis.js';
import { pollValue } from './helpers/wait.js';

const redis = useRedisServer(test);
let browser: Browser | undefined;

test.before(async () => {
  browser = await launchChromium();
});
test.after.always(async () => {
  await browser?.close();
});

const NOW = Date.now();
const REGION_START = '5a3c0f40' + '0'.repeat(32);

function survey(at: number, sweep: number, sizeEstimate: number, sybil: boolean): SurveyEntry {
  return {
    at,
    source: { kind: 'run', sweep },
    size: { estimate: sizeEstimate, low: sizeEstimate * 0.95, high: sizeEstimate * 1.05 },
    census: {
      nodes: 2_000,
      answered: 1_500,
      responseRate: 0.75,
      withVersion: 1_400,
      versions: [
        { client: 'LT', version: '2.0.8', count: 700, share: 0.5 },
        { client: 'UT', version: '8d53', count: 400, share: 0.285714 },
        { client: '?', version: 'ff0001', count: 100, share: 0.071429 },
      ],
      otherVersions: { versions: 7, count: 200, share: 0.142857 },
      bep51: { supported: 600, unsupported: 900, unknown: 500, share: 0.4 },
      bep42Share: 0.6125,
      rtt: { samples: 1_480, p50: 150, p90: 610 },
    },
    churn: sweep === 1 ? null : { before: 1_480, after: 1_500, left: 20, joined: 40, leftShare: 0.013514, joinedShare: 0.026667 },
    sybilRegions: sybil
      ? [{ prefix: '5a3c0f4', prefixBits: 30, startId: REGION_START, endId: '5a3c0f43' + 'f'.repeat(32), nodes: 64, expected: 0.00042, log10PValue: -212.7, distinctSlash24: 1 }]
      : [],
    sybilRegionsFound: sybil ? 1 : 0,
  };
}

const data = async (page: Page, selector: string, name = 'value'): Promise<string | null> => page.getAttribute(selector, `data-${name}`);
const text = async (page: Page, selector: string): Promise<string> => (await page.textContent(selector)) ?? '';

test('the Surveys panel: empty, then the size sparkline, the latest census shares, churn, clients and a flagged Sybil region; then "none"', async (t) => {
  t.timeout(120_000);
  const { c: client, keys } = await redis.freshIndex(t);
  const app = await createApiServer({ redis: client, keys, extensions: [dashboardExtension({ redis: client, keys })] });
  t.teardown(() => app.close());
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  const { context, page, problems } = await openRecordedPage(browser!, { width: 1280, height: 800 });
  t.teardown(() => context.close());

  // No survey yet: the notice says so, the panel's body is hidden.
  await page.goto(`${base}/`);
  await pollValue('the empty notice', () => page.isVisible('#surveys-empty'), (v) => v, 30_000);
  t.false(await page.isVisible('#surveys-body'));

  const entries = [survey(NOW - 3 * 3_600_000, 1, 9_000, false), survey(NOW - 2 * 3_600_000, 2, 10_000, false), survey(NOW - 3_600_000, 3, 9_500, true)];
  for (const e of entries) await recordSurvey(client, keys, e);
  // Seen at the panel's next poll (every 10 s; a reload would abort the other polls in flight).
  await pollValue('three surveys in the panel', () => data(page, '#surveys-body', 'count'), (v) => v === '3', 30_000);
  t.true(await page.isVisible('#surveys-body'));
  t.true(await page.isHidden('#surveys-empty'));

  // The sparkline: one point per survey, oldest left; the band spans every interval.
  t.is(await data(page, '#surveys-spark', 'points'), '3');
  t.is(Number(await data(page, '#surveys-spark', 'max')), 10_000);
  const line = (await page.getAttribute('#surveys-spark polyline.spark-line', 'points'))!.split(' ').map((p) => p.split(',').map(Number));
  t.is(line.length, 3);
  t.true(line[0]![0]! < line[1]![0]! && line[1]![0]! < line[2]![0]!, 'oldest left');
  t.true(line[1]![1]! < line[0]![1]! && line[1]![1]! < line[2]![1]!, 'the largest estimate is the highest point');
  t.is((await page.getAttribute('#surveys-spark polygon.spark-band', 'points'))!.split(' ').length, 6);
  t.regex((await page.getAttribute('#surveys-spark', 'aria-label')) ?? '', /3 surveys with a size estimate.*latest ~9,500 \(95%: 9,025–9,975\)/);

  // The latest survey's figures.
  t.is(Number(await data(page, '#survey-when')), entries[2]!.at);
  t.is(await text(page, '#survey-source'), 'run, sweep 3');
  t.is(await text(page, '#survey-size'), '~9,500 (95%: 9,025–9,975)');
  t.is(await text(page, '#survey-answered'), '1,500 of 2,000 queried (75.0%)');
  t.is(await text(page, '#survey-bep51'), '40.0% of 1,500 asked');
  t.is(Number(await data(page, '#survey-bep42')), 0.6125);
  t.is(await text(page, '#survey-bep42'), '61.3%');
  t.is(await text(page, '#survey-bep32-33'), 'not measured in this survey');
  t.is(await text(page, '#survey-rtt'), 'p50 150 ms, p90 610 ms');
  t.is(await text(page, '#survey-churn'), '20 left (1.4%), 40 joined (2.7%)');

  // Top clients: each version, then the others together, shares of the nodes that sent a version.
  t.deepEqual(await page.locator('#survey-versions .bar-label').allTextContents(), ['LT 2.0.8', 'UT 8d53', '? ff0001', '7 other versions']);
  t.deepEqual(await page.locator('#survey-versions .bar-value').allTextContents(), ['700 (50%)', '400 (28.6%)', '100 (7.1%)', '200 (14.3%)']);

  // The flagged Sybil region.
  t.is(await data(page, '#survey-sybil-note', 'state'), 'flagged');
  t.regex(await text(page, '#survey-sybil-note'), /^1 ID range much denser than the size estimate predicts: possible Sybil clusters\.$/);
  t.true(await page.isVisible('#survey-sybil-table'));
  const cells = await page.locator('#survey-sybil-rows tr td').allTextContents();
  t.deepEqual(cells, ['5a3c0f4', '64', '0.00042', '1']);
  t.is(await page.getAttribute('#survey-sybil-rows tr', 'data-nodes'), '64');
  t.is(await page.getAttribute('#survey-sybil-rows td.address', 'title'), `${REGION_START} – 5a3c0f43${'f'.repeat(32)}`);

  // The table of recent surveys, newest first.
  t.deepEqual(
    await page.evaluate('[...document.querySelectorAll("#survey-rows tr")].map((r) => Number(r.dataset.at))'),
    [entries[2]!.at, entries[1]!.at, entries[0]!.at],
  );
  t.deepEqual(await page.locator('#survey-rows tr >> nth=0 >> td').allTextContents(), ['1 h ago', 'run, sweep 3', '9,500', '9,025–9,975', '1,500 / 2,000', '−20 +40', '1']);
  t.is(await page.textContent('#survey-rows tr >> nth=2 >> td >> nth=5'), '–', 'the first sweep has no churn');
  await mkdir(join(ROOT, 'test-output'), { recursive: true });
  await page.locator('#surveys-heading').scrollIntoViewIfNeeded();
  await page.screenshot({ path: join(ROOT, 'test-output', 'dashboard-surveys.png'), fullPage: true });

  // A newer survey without Sybil regions, seen at the next poll: "none".
  await recordSurvey(client, keys, survey(NOW, 4, 9_800, false));
  await pollValue('the fourth survey', () => data(page, '#surveys-body', 'count'), (v) => v === '4', 30_000);
  t.is(await data(page, '#survey-sybil-note', 'state'), 'none');
  t.regex(await text(page, '#survey-sybil-note'), /^None: /);
  t.true(await page.isHidden('#survey-sybil-table'));
  t.is(await page.locator('#survey-sybil-rows tr').count(), 0);
  t.is(await text(page, '#survey-source'), 'run, sweep 4');

  // A survey that measured BEP 33 (scrape probes) but not BEP 32 (an IPv4-only crawl), then
  // one with both: a shared survey, whose churn is estimated against the shared survey before it.
  const withBep33 = survey(NOW + 1_000, 5, 9_900, false);
  withBep33.census.bep33Share = 0.875;
  await recordSurvey(client, keys, withBep33);
  await pollValue('the fifth survey', () => data(page, '#surveys-body', 'count'), (v) => v === '5', 30_000);
  t.is(await text(page, '#survey-bep32-33'), '– / 87.5%');
  const withBoth = survey(NOW + 2_000, 6, 9_900, false);
  withBoth.census.bep32Share = 0.25;
  withBoth.census.bep33Share = 1;
  withBoth.source = { kind: 'survey', name: 'night-2' };
  withBoth.churn = { before: 1_400, after: 1_500, left: 140, joined: 240, leftShare: 0.1, joinedShare: 0.16, since: 'night-1', sample: 16_384 };
  await recordSurvey(client, keys, withBoth);
  await pollValue('the sixth survey', () => data(page, '#surveys-body', 'count'), (v) => v === '6', 30_000);
  t.is(await text(page, '#survey-bep32-33'), '25.0% / 100.0%');
  t.is(await text(page, '#survey-source'), 'survey night-2');
  t.is(await text(page, '#survey-churn'), '140 left (10.0%), 240 joined (16.0%) since survey night-1, estimated from 16,384 node keys');

  t.deepEqual([...problems], [], 'no console errors, uncaught exceptions or failed requests');
  page.removeAllListeners();

  // A phone: the panel is there and nothing scrolls sideways.
  const phone = await openRecordedPage(browser!, { width: 390, height: 844 });
  t.teardown(() => phone.context.close());
  await phone.page.goto(`${base}/`);
  await pollValue('the panel on a phone', () => data(phone.page, '#surveys-body', 'count'), (v) => v === '6', 30_000);
  const widths = (await phone.page.evaluate('({ scroll: document.documentElement.scrollWidth, inner: window.innerWidth })')) as { scroll: number; inner: number };
  t.is(widths.inner, 390);
  t.true(widths.scroll <= widths.inner, `no horizontal scrolling: ${widths.scroll} > ${widths.inner}`);
  t.true(await phone.page.isVisible('#surveys-spark'));
  t.false(await phone.page.isVisible('#survey-rows td.wide-only'), 'secondary columns are hidden');
  await phone.page.locator('#surveys-heading').scrollIntoViewIfNeeded();
  await phone.page.screenshot({ path: join(ROOT, 'test-output', 'dashboard-surveys-phone.png'), fullPage: false });
  t.deepEqual([...phone.problems], []);
  phone.page.removeAllListeners();
});
