/**
 * The dashboard in a real browser (Debian's chromium driven by playwright-core) against a real
 * `dhtscope run --testnet` process tree and redis-server: the live charts fill with data, the
 * search finds an infohash of the testnet's ground truth and its page shows what the index
 * holds, and the page works on a phone-sized screen. Any console error, uncaught exception,
 * failed request or HTTP error status fails the test. Addresses: 127.200.x.y.
 */
import test, { type ExecutionContext } from 'ava';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, type BrowserContext, type Page } from 'playwright-core';
import { type GroundTruth } from '../crawler/testnet/testnet.js';
import { type InfohashSummary } from '../indexer/queries.js';
import { launchChromium, openRecordedPage } from './helpers/browser.js';
import { type CliProcess, ROOT, startCli } from './helpers/cli.js';
import { randomPrefix, type RedisServerHandle, startRedisServer } from './helpers/redis.js';
import { pollValue } from './helpers/wait.js';

const OUTPUT = join(ROOT, 'test-output');
/** Generous: the machine is shared and the testnet, workers and browser share 2 cores. */
const WAIT_MS = 60_000;

interface Ready {
  event: 'ready';
  api: string;
  testnet: { nodes: number; groundTruth: string };
}

let redis: RedisServerHandle | undefined;
let dir = '';
let run: CliProcess | undefined;
let ready: Ready;
let truth: GroundTruth;
let browser: Browser | undefined;

test.before(async () => {
  await mkdir(OUTPUT, { recursive: true });
  redis = await startRedisServer();
  dir = await mkdtemp(join(tmpdir(), 'dhtscope-dashboard-'));
  run = startCli(null, [
    'run', '--testnet', '150', '--testnet-address-base', '200', '--api-port', '0', '--port', '0', '--json',
    '--redis-url', redis.url, '--prefix', randomPrefix(), '--data-dir', dir,
  ]);
  const [line, launched] = await Promise.all([
    run.nextLine(120_000),
    launchChromium(),
  ]);
  browser = launched;
  ready = JSON.parse(line) as Ready;
  truth = JSON.parse(await readFile(ready.testnet.groundTruth, 'utf8')) as GroundTruth;
});

test.after.always(async () => {
  await browser?.close();
  if (run && run.child.exitCode === null && run.child.signalCode === null) {
    run.child.kill('SIGKILL');
    await run.exited;
  }
  await redis?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function openPage(viewport: { width: number; height: number }): Promise<{ context: BrowserContext; page: Page; problems: string[] }> {
  return openRecordedPage(browser!, viewport);
}

/** Closes the context after the problems seen so far are asserted (closing aborts polls in flight). */
async function finish(t: ExecutionContext, context: BrowserContext, problems: string[]): Promise<void> {
  t.deepEqual([...problems], [], 'no console errors, uncaught exceptions or failed requests');
  for (const page of context.pages()) page.removeAllListeners();
  await context.close();
}

/**
 * Polls `read` (playwright calls from this side, so no DOM types are needed here) until
 * `done` holds; on timeout says what was awaited and what was last read.
 */
function waitFor<T>(what: string, read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  return pollValue(what, read, done, WAIT_MS);
}

/** A data-* attribute as a number (NaN when absent). */
async function data(page: Page, selector: string, name = 'value'): Promise<number> {
  return Number(await page.getAttribute(selector, `data-${name}`));
}

const count = (page: Page, selector: string): Promise<number> => page.locator(selector).count();

async function getJson<T>(path: string): Promise<{ status: number; body: T }> {
  const res = await fetch(`${ready.api}${path}`);
  return { status: res.status, body: (await res.json()) as T };
}

/** An infohash of the ground truth that the index holds with its peer: what the search should find. */
async function indexedInfohash(): Promise<InfohashSummary> {
  const found = await pollValue(
    'a ground-truth infohash with peers in the index',
    async () => {
      const { body } = await getJson<{ items: InfohashSummary[] }>('/api/infohashes?sort=popular&limit=100');
      const candidate = body.items.find((i) => i.peerCount > 0 && truth.peers[i.infohash] !== undefined);
      if (candidate === undefined) return undefined;
      const record = await getJson<InfohashSummary>(`/api/infohashes/${candidate.infohash}`);
      return record.status === 200 ? record.body : undefined;
    },
    (record) => record !== undefined,
    90_000,
    500,
  );
  return found!;
}

test.serial('at 1280x800 the overview fills with live data: counters, charts, heat map, census, queues, table', async (t) => {
  t.timeout(180_000);
  const { context, page, problems } = await openPage({ width: 1280, height: 800 });
  await page.goto(`${ready.api}/`);
  t.is(await page.title(), 'dhtscope');

  const positive = (n: number[]): boolean => n.every((v) => v > 0);
  await waitFor('infohashes and nodes in the counters', () => Promise.all([data(page, '#c-infohashes'), data(page, '#c-answered')]), positive);
  await waitFor('a non-empty heat map', () => Promise.all([data(page, '#heatmap', 'nonzero')]), positive);
  await waitFor('census bars', () => Promise.all([count(page, '#census-versions li'), data(page, '#c-census')]), positive);
  await waitFor('RPC/s and worker rates (two polls at least)', () => Promise.all([data(page, '#chart-rpc', 'max'), data(page, '#chart-workers', 'max')]), positive);
  await waitFor('a size estimate with its band', () => Promise.all([data(page, '#c-estimate'), data(page, '#chart-estimate', 'points')]), positive);
  await waitFor('table rows', () => Promise.all([count(page, '#infohash-rows tr[data-infohash]')]), positive);

  // Counters agree with the API (they only grow, so the API's later answer is at least as large).
  const shownInfohashes = await data(page, '#c-infohashes');
  const stats = await getJson<{ infohashes: number }>('/api/stats');
  t.true(shownInfohashes > 0 && shownInfohashes <= stats.body.infohashes, `${shownInfohashes} shown, ${stats.body.infohashes} in the index`);
  t.true(Object.hasOwn(truth.infohashes, (await page.getAttribute('#infohash-rows tr[data-infohash]', 'data-infohash'))!));

  // The heat map: 256 cells with a title each, counts as text, and a legend in words.
  t.is(await count(page, '#heatmap .hm-cell'), 256);
  const known = (await page.evaluate('[...document.querySelectorAll("#heatmap .hm-cell")].map((c) => Number(c.dataset.known))')) as number[];
  const sum = known.reduce((a, b) => a + b, 0);
  // Coverage is recomputed every 10 s, the known counter at every poll.
  const knownNow = await data(page, '#c-known');
  t.true(sum >= 100 && sum <= knownNow, `the heat map counts ${sum} nodes, the crawler knows ${knownNow} of 150`);
  t.regex((await page.getAttribute('#heatmap .hm-cell >> nth=19', 'title')) ?? '', /^prefix 13: \d+ known, \d+ answered$/);
  t.regex((await page.textContent('#heatmap-legend')) ?? '', /Known nodes per prefix:.*none/);

  // Census: the testnet's nodes all send the same version and support BEP 51.
  t.regex((await page.textContent('#census-versions li')) ?? '', /\d+ \(\d+(\.\d)?%\)/);
  t.true(Number(await page.getAttribute('#census-bep51 li', 'data-value')) > 0, 'BEP 51 "yes" bar');
  t.true((await count(page, '#queries-out li')) > 0);
  t.true((await count(page, '#queues-body tr')) >= 2);
  t.true((await data(page, '#chart-discovered', 'points')) >= 2);
  t.true((await data(page, '#chart-minutes', 'max')) > 0);
  t.is(await count(page, 'script:not([src])'), 0);
  t.is(await page.getAttribute('#status', 'data-state'), 'ok');

  // A few more polls, so the screenshot shows lines rather than points.
  await waitFor('five RPC/s samples', () => data(page, '#chart-rpc', 'points'), (n) => n >= 5);
  await page.screenshot({ path: join(OUTPUT, 'dashboard.png'), fullPage: true });
  await finish(t, context, problems);
});

test.serial('search finds a ground-truth infohash; Enter on its row opens its page with first/last seen and peers', async (t) => {
  t.timeout(180_000);
  const record = await indexedInfohash();
  const ih = record.infohash;
  const { context, page, problems } = await openPage({ width: 1280, height: 800 });
  await page.goto(`${ready.api}/`);
  await waitFor('table rows', () => count(page, '#infohash-rows tr[data-infohash]'), (n) => n > 0);

  // A prefix search lists it; the keyboard opens it.
  await page.fill('#search-input', ih.slice(0, 8).toUpperCase());
  await page.press('#search-input', 'Enter');
  // The row may already be on the recent list: wait for the search's own result first.
  const status = await waitFor('the prefix search result', async () => (await page.textContent('#table-status')) ?? '', (text) => text.includes(`for prefix ${ih.slice(0, 8)}`));
  t.regex(status, new RegExp(`for prefix ${ih.slice(0, 8)}`));
  const row = page.locator(`#infohash-rows tr[data-infohash="${ih}"]`);
  await row.waitFor({ timeout: WAIT_MS });
  await row.focus();
  await page.keyboard.press('Enter');
  await page.waitForURL(`**/#/infohash/${ih}`, { timeout: WAIT_MS });
  await waitFor('the infohash page with its peers', () => count(page, '#ih-details:not([hidden]) #ih-peers td.address'), (n) => n > 0);

  t.is(await page.textContent('#ih-hex'), ih);
  t.is(await data(page, '#ih-first'), record.firstSeen, 'first seen never changes');
  t.true((await data(page, '#ih-last')) >= record.lastSeen);
  t.regex((await page.textContent('#ih-first')) ?? '', /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(\d+ (s|min) ago\)$/);
  t.true((await data(page, '#ih-seen')) >= record.seen);
  t.true((await data(page, '#ih-peer-count')) >= 1);
  t.deepEqual(await page.locator('#ih-peers td.address').allTextContents(), [truth.peers[ih]], 'the one peer that announced it in the testnet');
  t.is(await page.getAttribute('#ih-magnet', 'href'), `magnet:?xt=urn:btih:${ih}`);
  await page.screenshot({ path: join(OUTPUT, 'dashboard-infohash.png'), fullPage: true });

  // Back to the overview: the keyboard is on the row that was opened.
  await page.goBack();
  await page.locator('#view-overview').waitFor({ state: 'visible', timeout: WAIT_MS });
  t.is(await page.evaluate('document.activeElement && document.activeElement.dataset.infohash'), ih);

  // A magnet link goes straight to the page.
  await page.fill('#search-input', `magnet:?xt=urn:btih:${ih.toUpperCase()}&dn=test`);
  await page.click('#search button[type=submit]');
  await page.waitForURL(`**/#/infohash/${ih}`, { timeout: WAIT_MS });
  await waitFor('the infohash page', () => page.textContent('#ih-hex'), (text) => text === ih);
  await finish(t, context, problems);
});

test.serial('on a phone-sized screen the page does not overflow and the table opens infohashes', async (t) => {
  t.timeout(180_000);
  const { context, page, problems } = await openPage({ width: 390, height: 844 });
  await page.goto(`${ready.api}/`);
  await waitFor('table rows and charts', () => Promise.all([count(page, '#infohash-rows tr[data-infohash]'), data(page, '#chart-rpc', 'points')]), ([rows, points]) => rows > 0 && points > 1);

  const widths = (await page.evaluate('({ scroll: document.documentElement.scrollWidth, inner: window.innerWidth, table: document.querySelector("table.infohashes").getBoundingClientRect().right })')) as { scroll: number; inner: number; table: number };
  t.is(widths.inner, 390);
  t.true(widths.scroll <= widths.inner, `no horizontal scrolling: ${widths.scroll} > ${widths.inner}`);
  t.true(widths.table <= widths.inner, `the table fits: right edge ${widths.table}`);
  t.false(await page.isVisible('#infohash-rows tr[data-infohash] td.wide-only'), 'secondary columns are hidden');
  t.true(await page.isVisible('#infohash-rows tr[data-infohash] td.col-ih'));
  await page.screenshot({ path: join(OUTPUT, 'dashboard-phone.png'), fullPage: true });

  const first = page.locator('#infohash-rows tr[data-infohash]').first();
  const ih = await first.getAttribute('data-infohash');
  await first.click();
  await page.waitForURL(`**/#/infohash/${ih}`, { timeout: WAIT_MS });
  await page.locator('#ih-details').waitFor({ state: 'visible', timeout: WAIT_MS });
  t.true(((await page.evaluate('document.documentElement.scrollWidth')) as number) <= 390);
  await finish(t, context, problems);
});

test.serial('SIGTERM stops dhtscope run cleanly (exit 0)', async (t) => {
  t.timeout(60_000);
  run!.child.kill('SIGTERM');
  const result = await run!.exited;
  t.is(result.code, 0, result.stderr);
});
