import test, { type ExecutionContext } from 'ava';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RunIndex, runIndexOption } from '../cli/index-options.js';
import { indexSummary, summaryText } from '../cli/commands/run.js';
import { type SystemSummary } from '../cli/system.js';
import { type GroundTruth } from '../crawler/testnet/testnet.js';
import { IndexKeys } from '../indexer/keys.js';
import { runningEmbedded } from '../redis/embedded-server.js';
import { UsageError } from '../cli/errors.js';
import { queueNames } from '../workers/queues.js';
import { type CliProcess, startCli } from './helpers/cli.js';
import { startRedisServer } from './helpers/redis.js';
import { pollValue } from './helpers/wait.js';
import { countIndexed, getIndexed } from './helpers/index-writes.js';
import { type CursorPosition } from '../indexer/cursor.js';
import { type SortedSetPage } from '../indexer/queries.js';
import { ShardedIndexKeys } from '../indexer/sharded-keys.js';
import { pageShardedRecent } from '../indexer/sharded-pages.js';

/**
 * Issue 12: a `dhtscope run --testnet` demo must leave the real index alone. Before, the demo
 * wrote into the real key prefix and data directory (embedded Redis, spool, node table), and a
 * later real `run` held the demo's fake infohashes and queued peer lookups for them. Here the
 * demo runs the way a user starts it, with no --prefix / --data-dir, and the real index's keys
 * and files are checked afterwards. Addresses: 127.230-233.x.y.
 */

const REAL_PREFIX = 'dhtscope';
const TESTNET_PREFIX = 'dhtscope-testnet';

interface Ready {
  event: 'ready';
  api: string;
  prefix: string;
  dataDir: string;
  redis: string;
  redisMode: string;
  redisDataDir: string | null;
  testnet: { nodes: number; infohashes: number; groundTruth: string } | null;
  index: {
    kind: 'real' | 'testnet';
    redis: string;
    redisMode: string;
    prefix: string;
    dataDir: string;
    realIndex: { prefix: string; dataDir: string; untouched: boolean } | null;
  };
}

/** This process's environment without anything that would choose an index or a Redis for the child. */
function childEnv(over: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of ['REDIS_URL', 'DHTSCOPE_DATA_DIR', 'DHTSCOPE_REDIS_PREFIX']) delete env[name];
  return { ...env, ...over };
}

async function tempDir(t: ExecutionContext, name: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `dhtscope-${name}-`));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function apiInfohashes(api: string): Promise<number> {
  const res = await fetch(`${api}/api/stats`);
  if (res.status !== 200) throw new Error(`GET /api/stats: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { infohashes: number }).infohashes;
}

/** Every key of the server (SCAN: test-only). */
async function allKeys(c: Redis): Promise<string[]> {
  const names: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await c.scan(cursor, 'COUNT', 1000);
    cursor = next;
    names.push(...batch);
  } while (cursor !== '0');
  return names.sort();
}

/** Keys of the index with this prefix: its own `{p}…` and its BullMQ queues' `{p:bull}…`. */
const ofPrefix = (keys: string[], prefix: string): string[] => keys.filter((k) => k.startsWith(`{${prefix}}`) || k.startsWith(`{${prefix}:`));

/** SIGTERM, then a clean exit (0, a stopped event) within 60 s. */
async function stop(t: ExecutionContext, run: CliProcess, name: string): Promise<void> {
  run.child.kill('SIGTERM');
  const result = await run.exit(60_000);
  t.is(result.code, 0, `${name} exits 0 on SIGTERM; stderr: ${result.stderr}`);
  t.regex(result.stdout, /\{"event":"stopped","signal":"SIGTERM"\}\n$/, `${name} ends with a stopped event`);
}

// ---------------------------------------------------------------------------------------
// Which index: the option logic and the summary, in-process

function withEnv<T>(env: Record<string, string | undefined>, fn: () => T): T {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  const apply = (vars: Record<string, string | undefined>): void => {
    for (const [k, v] of Object.entries(vars)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
  apply(env);
  try {
    return fn();
  } finally {
    apply(saved);
  }
}

test.serial('runIndexOption: a testnet run gets "<prefix>-testnet" and "<data dir>/testnet"; --prefix / --data-dir still win', (t) => {
  withEnv({ DHTSCOPE_DATA_DIR: '/srv/ds', DHTSCOPE_REDIS_PREFIX: undefined }, () => {
    const real = runIndexOption({}, false);
    t.is(real.kind, 'real');
    t.is(real.keys.prefix, REAL_PREFIX);
    t.is(real.dataDir, '/srv/ds');
    t.is(real.realIndex, null);

    const demo = runIndexOption({}, true);
    t.is(demo.kind, 'testnet');
    t.is(demo.keys.prefix, TESTNET_PREFIX);
    t.is(demo.dataDir, '/srv/ds/testnet');
    t.deepEqual(demo.realIndex, { prefix: REAL_PREFIX, dataDir: '/srv/ds', untouched: true });

    const explicit = runIndexOption({ prefix: 'demo2', 'data-dir': '/tmp/demo2' }, true);
    t.is(explicit.keys.prefix, 'demo2');
    t.is(explicit.dataDir, '/tmp/demo2');
    t.true(explicit.realIndex!.untouched);

    // Given the real index's prefix or data directory on purpose: honoured, and said to be shared.
    t.false(runIndexOption({ prefix: REAL_PREFIX }, true).realIndex!.untouched);
    t.is(runIndexOption({ prefix: REAL_PREFIX }, true).dataDir, '/srv/ds/testnet');
    t.false(runIndexOption({ 'data-dir': '/srv/ds' }, true).realIndex!.untouched);
    t.is(runIndexOption({ 'data-dir': '/srv/ds' }, true).keys.prefix, TESTNET_PREFIX);
  });
  withEnv({ DHTSCOPE_DATA_DIR: '/srv/ds', DHTSCOPE_REDIS_PREFIX: 'prod' }, () => {
    const demo = runIndexOption({}, true);
    t.is(demo.keys.prefix, 'prod-testnet', 'the testnet prefix follows $DHTSCOPE_REDIS_PREFIX');
    t.deepEqual(demo.realIndex, { prefix: 'prod', dataDir: '/srv/ds', untouched: true });
  });
  withEnv({ DHTSCOPE_DATA_DIR: '/srv/ds', DHTSCOPE_REDIS_PREFIX: 'p'.repeat(60) }, () => {
    t.throws(() => runIndexOption({}, true), { instanceOf: UsageError, message: /testnet's own key prefix .* choose one with --prefix/ });
    t.is(runIndexOption({ prefix: 'short' }, true).keys.prefix, 'short');
  });
});

function fakeSummary(over: Partial<SystemSummary> = {}): SystemSummary {
  return {
    api: 'http://127.0.0.1:8080',
    dataDir: '/srv/ds/testnet',
    redis: 'redis://:***@127.0.0.1:40001',
    redisMode: 'embedded',
    redisDataDir: '/srv/ds/testnet/redis',
    prefix: TESTNET_PREFIX,
    schemaVersion: 4,
    retention: { retainDays: 30, maxInfohashes: null },
    node: { id: 'ab'.repeat(20), address: '127.0.0.1:40002', families: [4] },
    bootstrap: ['127.20.1.1:6881'],
    testnet: { nodes: 500, infohashes: 5000, groundTruth: '/srv/ds/testnet/ground-truth.json' },
    ...over,
  };
}

test.serial('the start-up summary names the index it writes: testnet or real, prefix, data directory, Redis', (t) => {
  const index = (values: { prefix?: string; 'data-dir'?: string }, testnet: boolean): RunIndex =>
    withEnv({ DHTSCOPE_DATA_DIR: '/srv/ds', DHTSCOPE_REDIS_PREFIX: undefined }, () => runIndexOption(values, testnet));

  const demo = summaryText(fakeSummary(), index({}, true));
  t.regex(demo, /^ {2}index {7}testnet index: key prefix "dhtscope-testnet", data \/srv\/ds\/testnet\n {14}\(the real index, key prefix "dhtscope" in \/srv\/ds, is untouched\)\n/m);
  t.regex(demo, /^ {2}query it {4}dhtscope query stats --prefix dhtscope-testnet --data-dir \/srv\/ds\/testnet\n/m);
  t.regex(demo, /^ {2}redis {7}redis:\/\/:\*\*\*@127\.0\.0\.1:40001 \(embedded, its files in \/srv\/ds\/testnet\/redis\), schema v4\n/m);
  t.notRegex(demo, /WARNING/);
  t.deepEqual(indexSummary(fakeSummary(), index({}, true)), {
    kind: 'testnet',
    redis: 'redis://:***@127.0.0.1:40001',
    redisMode: 'embedded',
    prefix: TESTNET_PREFIX,
    dataDir: '/srv/ds/testnet',
    realIndex: { prefix: REAL_PREFIX, dataDir: '/srv/ds', untouched: true },
  });

  const shared = summaryText(fakeSummary({ prefix: REAL_PREFIX }), index({ prefix: REAL_PREFIX }, true));
  t.regex(shared, /WARNING: this testnet run uses the real index's key prefix "dhtscope" \(--prefix\): the demo's infohashes go into the real index/);
  t.notRegex(shared, /untouched/);

  const real = summaryText(
    fakeSummary({ testnet: null, dataDir: '/srv/ds', prefix: REAL_PREFIX, redis: 'redis://127.0.0.1:6379', redisMode: 'local', redisDataDir: null }),
    index({}, false),
  );
  t.regex(real, /^dhtscope is running on the public DHT\n/);
  t.regex(real, /^ {2}index {7}real index: key prefix "dhtscope", data \/srv\/ds\n/m);
  t.regex(real, /^ {2}redis {7}redis:\/\/127\.0\.0\.1:6379 \(local\), schema v4\n/m);
  t.notRegex(real, /testnet|query it/);
});

// ---------------------------------------------------------------------------------------
// Real processes

test.serial('run --testnet with REDIS_URL and the default index options writes the testnet prefix only, and nothing in the real data directory', async (t) => {
  t.timeout(240_000);
  const redis = await startRedisServer();
  t.teardown(() => redis.stop());
  const home = await tempDir(t, 'isolation-home');
  const realDataDir = join(home, '.dhtscope'); // the default data directory: ~/.dhtscope
  const client = new Redis({ host: redis.host, port: redis.port });
  client.on('error', () => {});
  t.teardown(() => void client.disconnect());
  t.deepEqual(await allKeys(client), [], 'the server starts empty');

  const demo = startCli(t, ['run', '--testnet', '40', '--testnet-address-base', '230', '--api-port', '0', '--json', '--stats-interval', '1'], {
    env: childEnv({ HOME: home, REDIS_URL: redis.url }),
  });
  const ready = JSON.parse(await demo.nextLine(120_000)) as Ready;
  const testnetDataDir = join(realDataDir, 'testnet');
  t.is(ready.event, 'ready');
  t.deepEqual(ready.index, {
    kind: 'testnet',
    redis: redis.url,
    redisMode: 'url',
    prefix: TESTNET_PREFIX,
    dataDir: testnetDataDir,
    realIndex: { prefix: REAL_PREFIX, dataDir: realDataDir, untouched: true },
  });
  t.is(ready.prefix, TESTNET_PREFIX);
  t.is(ready.dataDir, testnetDataDir);
  t.is(ready.testnet!.groundTruth, join(testnetDataDir, 'ground-truth.json'));
  const truth = JSON.parse(await readFile(ready.testnet!.groundTruth, 'utf8')) as GroundTruth;
  const total = Object.keys(truth.infohashes).length;

  // Until the demo has indexed at least half of its infohashes, and queued jobs.
  const testnetKeys = new IndexKeys(TESTNET_PREFIX);
  await pollValue('the testnet index to hold half of the testnet infohashes', () => countIndexed(client, testnetKeys), (n) => n >= total / 2, 120_000);
  await stop(t, demo, 'the demo');

  const keys = await allKeys(client);
  t.deepEqual(ofPrefix(keys, REAL_PREFIX), [], 'no key of the real index (its own or its BullMQ queues)');
  t.deepEqual(keys.filter((k) => !k.startsWith(`{${TESTNET_PREFIX}}`) && !k.startsWith(`{${TESTNET_PREFIX}:`)), [], 'every key belongs to the testnet index (its shards and its queues)');
  t.true(keys.some((k) => k.startsWith(`{${TESTNET_PREFIX}:bull}`)), 'its queues are the testnet prefix\'s');
  const indexed: string[] = [];
  for (let after: CursorPosition | null = null; ; ) {
    const page: SortedSetPage = await pageShardedRecent(client, ShardedIndexKeys.of(TESTNET_PREFIX), { limit: 1_000, after });
    indexed.push(...page.items.map((i) => i.member));
    if ((after = page.next) === null) break;
  }
  t.true(indexed.length >= total / 2, `${indexed.length} of ${total} infohashes in the testnet index`);
  // And only the testnet's. The one kind of infohash the ground truth cannot list: the targets
  // of libtorrent's own bootstrap and refresh traversals, which are get_peers lookups
  // (libtorrent's `bootstrap` derives from `get_peers`) for IDs near its own. The crawler's
  // node records every get_peers it is sent, as on the real DHT. Such a target holds no peers
  // and was asked by one node at a time.
  const extras = indexed.filter((ih) => !Object.hasOwn(truth.infohashes, ih));
  if (extras.length > 0) t.log(`indexed from foreign nodes' own lookups: ${extras.join(', ')}`);
  t.true(truth.nodes.some((n) => n.kind === 'libtorrent') || extras.length === 0, 'without libtorrent nodes, only the ground truth\'s infohashes');
  for (const ih of extras) {
    const record = await getIndexed(client, testnetKeys, ih);
    t.is(record?.peerCount, 0, `${ih} holds no peers`);
    t.true((record?.sources ?? 0) <= 2, `${ih} was reported by ${record?.sources} nodes`);
  }
  t.is(await getIndexed(client, new IndexKeys(REAL_PREFIX), indexed[0]!), null);

  // The default data directory holds the testnet's directory and nothing else: no real
  // spool, no node table, no redis/ of the real index.
  t.deepEqual(await readdir(realDataDir), ['testnet']);
  t.true(existsSync(join(testnetDataDir, 'spool', TESTNET_PREFIX)), 'the demo spools under its own data directory');
  t.false(existsSync(join(testnetDataDir, 'redis')), 'no embedded Redis with REDIS_URL');
});

// The sequence with the embedded Redis every default run uses: a demo, then a real
// run on the same data directory, then a demo again while the real run goes on. Without
// REDIS_URL both would use a Redis on 127.0.0.1:6379 if one answered, so the runs are told
// never to (DHTSCOPE_LOCAL_REDIS=off) and always start their own.

const DEMO_ARGS = ['run', '--testnet', '40', '--testnet-address-base', '232', '--api-port', '0', '--json', '--stats-interval', '1'];

/** Starts a demo on the default options, checks it runs its own embedded Redis, waits until it has indexed half its infohashes, stops it. */
async function demoRun(t: ExecutionContext, env: NodeJS.ProcessEnv, dataDir: string): Promise<Ready> {
  const demo = startCli(t, DEMO_ARGS, { env });
  const ready = JSON.parse(await demo.nextLine(120_000)) as Ready;
  const testnetDataDir = join(dataDir, 'testnet');
  t.like(ready.index, { kind: 'testnet', redisMode: 'embedded', prefix: TESTNET_PREFIX, dataDir: testnetDataDir, realIndex: { prefix: REAL_PREFIX, dataDir, untouched: true } });
  t.is(ready.redisDataDir, join(testnetDataDir, 'redis'), 'the demo runs a redis-server of its own, under <data dir>/testnet');
  const total = ready.testnet!.infohashes;
  await pollValue('the demo to index half of its infohashes', () => apiInfohashes(ready.api), (n) => n >= total / 2, 120_000);
  await stop(t, demo, 'the demo');
  t.false(existsSync(join(testnetDataDir, 'redis', 'embedded.json')), 'the demo\'s Redis stopped with it');
  return ready;
}

/** The real index, through a running real run: no infohash in its API or its Redis, no demo key, no job queued for a peer lookup or metadata. */
async function assertRealIndexEmpty(t: ExecutionContext, realReady: Ready, realClient: Redis, when: string): Promise<void> {
  t.is(await apiInfohashes(realReady.api), 0, `${when}: the real run's API counts no infohash`);
  t.is(await countIndexed(realClient, new IndexKeys(REAL_PREFIX)), 0, `${when}: no infohash in the real index`);
  const keys = await allKeys(realClient);
  t.deepEqual(keys.filter((k) => k.includes('testnet')), [], `${when}: no testnet key in the real index's Redis`);
  // This real run finds nothing itself (nothing answers at its bootstrap address), so any job is the demo's.
  const names = queueNames(new IndexKeys(REAL_PREFIX));
  for (const name of [names.peerLookups, names.metadata]) {
    const queue = new Queue(name, { connection: realClient, prefix: names.bullPrefix });
    const counts = await queue.getJobCounts();
    await queue.close();
    t.deepEqual(Object.entries(counts).filter(([, n]) => n !== 0), [], `${when}: no ${name} job in the real index`);
  }
}

test.serial('embedded Redis: a demo, then a real run, then a demo beside it; the real index gets nothing', async (t) => {
  t.timeout(400_000);
  const dataDir = join(await tempDir(t, 'isolation-data'), 'data');
  const env = childEnv({ DHTSCOPE_DATA_DIR: dataDir, DHTSCOPE_LOCAL_REDIS: 'off' });

  // 1. A demo on a fresh machine.
  await demoRun(t, env, dataDir);
  t.deepEqual(await readdir(dataDir), ['testnet'], 'the demo left nothing in the real data directory');

  // 2. The real crawl starts (on a bootstrap address where nothing answers): its index is empty.
  const real = startCli(t, ['run', '--bootstrap', '127.0.0.1:9', '--host', '127.0.0.1', '--port', '0', '--api-port', '0', '--no-peer-lookups', '--no-metadata', '--json'], { env });
  const realReady = JSON.parse(await real.nextLine(120_000)) as Ready;
  t.like(realReady.index, { kind: 'real', redisMode: 'embedded', prefix: REAL_PREFIX, dataDir, realIndex: null });
  t.is(realReady.redisDataDir, join(dataDir, 'redis'));
  const realUrl = runningEmbedded(dataDir);
  t.not(realUrl, null, 'the real run owns the embedded Redis of the data directory');
  const realClient = new Redis(realUrl!);
  realClient.on('error', () => {});
  t.teardown(() => void realClient.disconnect());
  await assertRealIndexEmpty(t, realReady, realClient, 'after a demo');

  // 3. A demo while the real run goes on: it starts a second redis-server, its own.
  const again = await demoRun(t, env, dataDir);
  t.not(again.redis, realReady.redis);
  await assertRealIndexEmpty(t, realReady, realClient, 'beside a demo');
  t.is(real.child.exitCode, null, 'the real run is still running');
  await stop(t, real, 'the real run');
});
