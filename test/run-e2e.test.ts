import test from 'ava';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type GroundTruth } from '../crawler/testnet/testnet.js';
import { decodeVersion } from '../bep5/client-version.js';
import { SCHEMA_VERSION } from '../indexer/keys.js';
import { type SurveyEntry } from '../indexer/survey-series.js';
import { type CliProcess, runCli, startCli } from './helpers/cli.js';
import { randomPrefix, startRedisServer, type RedisServerHandle } from './helpers/redis.js';
import { pollValue } from './helpers/wait.js';

/**
 * The main job end to end, as a user runs it: `dhtscope run --testnet` (node, crawler,
 * producer, BullMQ workers, Redis index, HTTP API in one process tree) against a real
 * redis-server that this test starts. What the API and `dhtscope query` then report, the survey
 * series included, is judged against the testnet's ground truth. Addresses: 127.180.x.y.
 */

interface Ready {
  event: 'ready';
  api: string;
  prefix: string;
  schemaVersion: number;
  retention: { retainDays: number | null; maxInfohashes: number | null } | null;
  testnet: { nodes: number; infohashes: number; groundTruth: string };
  index: { kind: string; prefix: string; dataDir: string; redisMode: string; realIndex: { untouched: boolean } | null };
}
interface Summary {
  infohash: string;
  firstSeen: number;
  lastSeen: number;
  seen: number;
  peerCount: number;
}
interface Record_ extends Summary {
  peers: Array<{ address: string; lastSeen: number }>;
}

let redis: RedisServerHandle;
let dir = '';
let run: CliProcess | undefined;
let ready: Ready;
let truth: GroundTruth;
const prefix = randomPrefix();

async function getJson<T>(path: string): Promise<T> {
  const res = await fetch(`${ready.api}${path}`);
  if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

test.before(async () => {
  redis = await startRedisServer();
  dir = await mkdtemp(join(tmpdir(), 'dhtscope-run-e2e-'));
  run = startCli(null, [
    'run', '--testnet', '300', '--testnet-infohashes', '1000', '--testnet-address-base', '180',
    '--api-port', '0', '--redis-url', redis.url, '--prefix', prefix, '--data-dir', dir, '--json', '--stats-interval', '2',
  ]);
  ready = JSON.parse(await run.nextLine(120_000)) as Ready;
  truth = JSON.parse(await readFile(ready.testnet.groundTruth, 'utf8')) as GroundTruth;
});

test.after.always(async () => {
  if (run && run.child.exitCode === null && run.child.signalCode === null) {
    run.child.kill('SIGKILL');
    await run.exited;
  }
  await redis?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test.serial('run --testnet: the ready line says where the API listens and that the schema is current', (t) => {
  t.is(ready.event, 'ready');
  t.regex(ready.api, /^http:\/\/127\.0\.0\.1:\d+$/);
  t.is(ready.prefix, prefix);
  t.is(ready.schemaVersion, SCHEMA_VERSION);
  t.deepEqual(ready.retention, { retainDays: 30, maxInfohashes: null }, 'the default retention is on');
  t.is(ready.testnet.nodes, 300);
  // --prefix and --data-dir given: the testnet index is exactly there (test/run-testnet-isolation.test.ts has the defaults).
  t.like(ready.index, { kind: 'testnet', prefix, dataDir: dir, redisMode: 'url', realIndex: { untouched: true } });
  t.is(ready.testnet.groundTruth, join(dir, 'ground-truth.json'));
  t.is(Object.keys(truth.infohashes).length, 1000);
});

test.serial('the ground truth is a mixed network: foreign processes, silent profiles, dead and gone nodes', (t) => {
  const kinds = new Set(truth.nodes.map((n) => n.kind));
  t.deepEqual([...kinds].sort(), ['bittorrent-dht', 'dead', 'dhtscope', 'libtorrent']);
  t.true(truth.nodes.some((n) => n.profile === 'silent') && truth.nodes.some((n) => n.leavesAtMs === 0));
});

// On a mixed network only BEP 51 nodes can show what they store: the target is what live BEP 51
// nodes (ours and libtorrent's) hold; the rest sits on nodes that never tell (bittorrent-dht, silent ones).
function heldByLiveBep51(): string[] {
  const bep51 = new Set(truth.nodes.filter((n) => n.live && n.bep51).map((n) => n.address));
  return Object.entries(truth.infohashes).flatMap(([ih, at]) => (at.some((a) => bep51.has(a)) ? [ih] : []));
}

test.serial('the crawl lands in Redis: the index holds 95% of what BEP 51 nodes hold, and nothing foreign', async (t) => {
  t.timeout(240_000);
  const total = Object.keys(truth.infohashes).length;
  const target = heldByLiveBep51();
  const stats = await pollValue(
    'the index to hold 95% of the infohashes held by live BEP 51 nodes',
    () => getJson<{ infohashes: number }>('/api/stats'),
    (s) => s.infohashes >= target.length * 0.95,
    180_000,
  );
  t.true(stats.infohashes <= total, `no more infohashes than the testnet has (${stats.infohashes})`);

  // Page through the whole `recent` index: every item is real, none comes twice.
  const seen = new Set<string>();
  let cursor: string | null = null;
  do {
    const page: { items: Summary[]; nextCursor: string | null } = await getJson(`/api/infohashes?sort=recent&limit=1000${cursor ? `&cursor=${cursor}` : ''}`);
    for (const item of page.items) {
      t.false(seen.has(item.infohash), `listed once: ${item.infohash}`);
      seen.add(item.infohash);
      t.true(Object.hasOwn(truth.infohashes, item.infohash), `in the ground truth: ${item.infohash}`);
      t.true(item.seen >= 1 && item.firstSeen <= item.lastSeen);
    }
    cursor = page.nextCursor;
  } while (cursor !== null);
  // Paging runs while the crawl re-sights items (moving them above the cursor), so the list
  // proves "no duplicates, nothing foreign"; completeness is checked item by item.
  t.true(seen.size > 0);
  let found = 0;
  for (const ih of target) {
    const res = await fetch(`${ready.api}/api/infohashes/${ih}`);
    await res.arrayBuffer();
    if (res.status === 200) found++;
    else t.is(res.status, 404);
  }
  t.log(`${found} of the ${target.length} infohashes held by live BEP 51 nodes indexed (${total} in the testnet)`);
  t.true(found >= target.length * 0.95, `${found} of ${target.length} infohashes in the index`);
  const after = await getJson<{ infohashes: number }>('/api/stats');
  t.true(found <= after.infohashes, `the count (${after.infohashes}) covers every infohash found (${found})`);

  // HyperLogLog: exact for small counts, within 1% otherwise. Every live node answers something,
  // but the census fills as the crawl hears nodes: on a busy machine 213 of 244 were in when the
  // infohashes were, so it is awaited, then bounded above too.
  const live = truth.nodes.filter((n) => n.live).length;
  const liveBep51 = truth.nodes.filter((n) => n.live && n.bep51).length;
  const census = await pollValue(
    'the census to count 95% of the live nodes and of the BEP 51 ones',
    () => getJson<{ nodes: number; bep51: { yes: number } }>('/api/nodes/census'),
    (c) => c.nodes >= live * 0.95 && c.bep51.yes >= liveBep51 * 0.95,
    120_000,
  );
  t.true(census.nodes >= live * 0.95 && census.nodes <= live * 1.02, `census counts ${census.nodes} of ${live} live nodes`);
  t.true(census.bep51.yes >= liveBep51 * 0.95 && census.bep51.yes <= liveBep51 * 1.03, `${census.bep51.yes} BEP 51 nodes of ${liveBep51}`);
});

test.serial('peers: the index shows each infohash\'s announced peer, and no other', async (t) => {
  t.timeout(240_000);
  const withPeers = async (): Promise<Record_[]> => {
    const page = await getJson<{ items: Summary[] }>('/api/infohashes?sort=popular&limit=200');
    const records = await Promise.all(page.items.filter((i) => i.peerCount > 0).slice(0, 60).map((i) => getJson<Record_>(`/api/infohashes/${i.infohash}`)));
    return records;
  };
  const records = await pollValue('50 infohashes with peers', withPeers, (r) => r.length >= 50, 180_000);
  for (const r of records) {
    t.deepEqual(
      r.peers.map((p) => p.address),
      [truth.peers[r.infohash]],
      `the peers of ${r.infohash} are exactly the one that announced it`,
    );
  }
});

test.serial('dhtscope query infohash --json prints what the API serves', async (t) => {
  const ih = Object.keys(truth.infohashes).find((h) => truth.peers[h] !== undefined)!;
  const api = await fetch(`${ready.api}/api/infohashes/${ih}`);
  const cli = await runCli(t, ['query', 'infohash', ih, '--json', '--redis-url', redis.url, '--prefix', prefix]);
  if (api.status === 404) {
    t.is(cli.code, 1);
    return;
  }
  t.is(cli.code, 0, cli.stderr);
  const fromApi = (await api.json()) as Record_;
  const fromCli = JSON.parse(cli.stdout) as Record_;
  // The crawl goes on between the two reads: compare what cannot change, then the rest loosely.
  t.is(fromCli.infohash, fromApi.infohash);
  t.is(fromCli.firstSeen, fromApi.firstSeen);
  t.true(fromCli.seen >= fromApi.seen);
  t.deepEqual(Object.keys(fromCli).sort(), Object.keys(fromApi).sort());
});

test.serial('every completed sweep is in the survey series: one entry per sweep, newest first, judged by the ground truth', async (t) => {
  t.timeout(180_000);
  type Survey = SurveyEntry & { source: { kind: 'run'; sweep: number } };
  // The crawl has swept for minutes by now; wait for two sweeps at least (the second has churn).
  const { surveys, total, skipped } = await pollValue('two sweeps recorded', () => getJson<{ surveys: Survey[]; total: number; skipped: number }>('/api/surveys?limit=1000'), (b) => b.surveys.length >= 2, 150_000, 500);
  const live = await getJson<{ live: { crawl: { sweep: number; known: number; forgotten: number }; surveys: { recorded: number; failed: number; empty: number; lastSweep: number } } }>('/api/stats');
  t.is(skipped, 0);
  t.is(total, surveys.length);
  const newest = surveys[0]!.source.sweep;
  t.deepEqual(
    surveys.map((s) => s.source),
    Array.from({ length: newest }, (_, i) => ({ kind: 'run', sweep: newest - i })),
    'sweeps newest first, each once, none missing',
  );
  t.true(surveys.every((s, i) => i === 0 || s.at <= surveys[i - 1]!.at));
  // The process's own counters (read after the series, so they may be a sweep ahead).
  t.like(live.live.surveys, { failed: 0, empty: 0 });
  t.true(live.live.surveys.recorded >= newest && live.live.surveys.lastSweep >= newest);
  t.true(live.live.crawl.sweep >= newest);
  // A long run forgets what never answers (CrawlerOptions.forgetDeadNodes): from sweep 2 on, the
  // testnet's silent and departed nodes are forgotten (and learned again while others name them).
  const neverAnswer = truth.nodes.filter((n) => !n.live).length;
  t.true(neverAnswer > 0);
  t.true(live.live.crawl.forgotten > 0, `forgotten ${live.live.crawl.forgotten} of ${neverAnswer} nodes that are not live`);
  t.log(`crawl: ${live.live.crawl.known} nodes known, ${live.live.crawl.forgotten} forgotten so far, in sweep ${live.live.crawl.sweep}; the testnet: ${truth.nodes.length} nodes, ${neverAnswer} not live`);

  const staying = truth.nodes.filter((n) => n.live).length;
  const responsive = truth.nodes.filter((n) => n.responsive).length;
  const versions = new Set(truth.nodes.flatMap((n) => (n.version === null ? [] : [Object.values(decodeVersion(n.version)).join(' ')])));
  for (const s of surveys) {
    const c = s.census;
    // Queried may include contacts outside the testnet's nodes (its announcers, gone); answering ones are testnet nodes.
    t.true(c.answered <= responsive, `sweep ${s.source.sweep}: ${c.answered} answered, ${responsive} responsive nodes in the testnet`);
    for (const v of c.versions) t.true(versions.has(`${v.client} ${v.version}`), `${v.client} ${v.version} is a version of the testnet`);
    t.deepEqual(s.sybilRegions, [], 'no Sybils in the testnet');
    t.is(s.churn === null, s.source.sweep === 1, 'churn from the second sweep on');
    if (s.churn !== null) t.is(s.churn.after, c.answered);
    // BEP 33: every BEP 51 node here (libtorrent 2.0.8 and ours) answers a scrape of a swarm it
    // holds with filters, so the share, once the crawl's probes have a verdict, is all of them.
    if (s.source.sweep >= 2) t.is(c.bep33Share, 1, `sweep ${s.source.sweep}: BEP 33 share ${c.bep33Share}`);
    if (s.source.sweep >= 2) {
      // A full sweep after the first: (nearly) every live node answered, and the size is about that.
      t.true(c.answered >= 0.9 * staying, `sweep ${s.source.sweep}: ${c.answered} answered of ${staying} live nodes`);
      t.truthy(s.size);
      t.true(s.size!.low <= s.size!.high && Math.abs(s.size!.estimate / staying - 1) < 0.4, `sweep ${s.source.sweep}: size ${JSON.stringify(s.size)} for ${staying} live nodes`);
    }
  }
  t.log(`${surveys.length} sweeps recorded; the newest: ${JSON.stringify({ size: surveys[0]!.size, answered: surveys[0]!.census.answered, churn: surveys[0]!.churn })}`);
});

test.serial('SIGTERM stops everything cleanly: exit 0 and a stopped event', async (t) => {
  t.timeout(60_000);
  run!.child.kill('SIGTERM');
  const result = await run!.exited;
  t.is(result.code, 0, result.stderr);
  const last = JSON.parse(result.stdout.trim().split('\n').at(-1)!) as { event: string; signal: string };
  t.deepEqual(last, { event: 'stopped', signal: 'SIGTERM' });
});
