import test from 'ava';
import { access, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { crawlCommand } from '../cli/commands/crawl.js';
import { measureCommand } from '../cli/commands/measure.js';
import { testnetCommand } from '../cli/commands/testnet.js';
import { StatusLine } from '../cli/status-line.js';
import { type Command } from '../cli/define-command.js';
import { UsageError } from '../cli/errors.js';
import { type GroundTruth } from '../crawler/testnet/testnet.js';
import { roundShare, summarizeChurn } from '../crawler/survey-summary.js';
import { IndexKeys } from '../indexer/keys.js';
import { readSurveys } from '../indexer/survey-series.js';
import { ensureSchema } from '../migrations/runner.js';
import { type CliProcess, runCli, startCli } from './helpers/cli.js';
import { randomPrefix, startRedisServer } from './helpers/redis.js';
import { loopbackHost } from './helpers/udp.js';
import { pollUntil } from './helpers/wait.js';

/**
 * `dhtscope testnet`, `crawl` and `measure` as real processes: a 300-node testnet (10%
 * unresponsive, 20% without BEP 51) in one process, crawled and measured from others, judged
 * by the testnet's ground-truth file; `measure --redis-url` records into a real redis-server.
 * Every address is 127.x.y.z.
 */

// Each test file that starts a testnet uses its own address range (127.140.x.y), so they run in parallel.

interface Ready {
  event: 'ready';
  bootstrap: string;
  groundTruth: string;
  nodes: number;
  responsive: number;
  infohashes: number;
  ms: number;
}

const NO_BEP51 = 0.2;
let dir = '';
let testnet: CliProcess | undefined;
let ready: Ready;
let truth: GroundTruth;

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dhtscope-cli-crawl-'));
  // Children inherit it: default file locations land in the temporary directory.
  process.env.DHTSCOPE_DATA_DIR = dir;
  // Uniform (only plain dhtscope nodes): this file tests the commands; test/crawl-mixed.test.ts has the mixed DHT.
  const args = ['testnet', '--mix', 'uniform', '--address-base', '140', '--nodes', '300', '--infohashes', '1000', '--seed', '11', '--unresponsive', '0.1', '--no-bep51', String(NO_BEP51)];
  testnet = startCli(null, [...args, '--json', '--ground-truth', join(dir, 'truth.json')]);
  ready = JSON.parse(await testnet.nextLine(60_000)) as Ready;
  truth = JSON.parse(await readFile(ready.groundTruth, 'utf8')) as GroundTruth;
});

test.after.always(async () => {
  if (testnet && testnet.child.exitCode === null && testnet.child.signalCode === null) {
    testnet.child.kill('SIGKILL'); // its workers exit when their IPC channel closes
    await testnet.exited;
  }
  if (dir) await rm(dir, { recursive: true, force: true });
});

test.serial('testnet --json: the first line is the ready event; the ground truth file is written', (t) => {
  t.is(ready.event, 'ready');
  t.is(ready.bootstrap, '127.140.1.1:6881');
  t.is(ready.groundTruth, join(dir, 'truth.json'));
  t.is(ready.nodes, 300);
  t.is(ready.infohashes, 1000);
  t.is(ready.responsive, truth.nodes.filter((n) => n.responsive).length);
  t.true(ready.responsive > 240 && ready.responsive < 300, `${ready.responsive} responsive`);
  t.true(Number.isInteger(ready.ms) && ready.ms > 0);
  t.is(truth.nodes.length, 300);
  t.is(truth.bootstrap, ready.bootstrap);
  t.is(Object.keys(truth.infohashes).length, 1000);
});

test.serial('crawl --json: one sweep writes every responsive node and the infohashes to the NDJSON file', async (t) => {
  const out = join(dir, 'crawl.ndjson');
  // Peer lookups get their own budget; at the default 20/s, 1,000 infohashes would take 50 s.
  const result = await runCli(t, ['crawl', '--bootstrap', ready.bootstrap, '--out', out, '--json', '--host', loopbackHost(), '--rate', '1000', '--get-peers-rate', '500']);
  t.is(result.code, 0, result.stderr);
  const lines = result.stdout.trim().split('\n');
  t.is(lines.length, 1, 'stdout holds only the summary');
  const summary = JSON.parse(lines[0]!) as Record<string, unknown>;

  const byAddress = new Map(truth.nodes.map((n) => [n.address, n]));
  const responsive = truth.nodes.filter((n) => n.responsive);
  const events = (await readFile(out, 'utf8')).trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
  const answered = new Set<string>();
  const infohashes = new Set<string>();
  let peersChecked = 0;
  for (const e of events) {
    t.true(['node', 'infohash', 'sample', 'peers'].includes(e.type as string), `type ${String(e.type)}`);
    t.is(typeof e.at, 'number');
    if (e.type === 'node') {
      t.regex(e.id as string, /^[0-9a-f]{40}$/);
      const real = byAddress.get(e.address as string);
      t.truthy(real, `${String(e.address)} is a testnet node`);
      t.true(real!.responsive, `${String(e.address)} answered, so it is responsive`);
      t.is(e.id, real!.id);
      answered.add(e.address as string);
    } else if (e.type === 'infohash') {
      t.regex(e.infohash as string, /^[0-9a-f]{40}$/);
      t.truthy(truth.infohashes[e.infohash as string], 'an announced infohash');
      infohashes.add(e.infohash as string);
    } else if (e.type === 'peers') {
      t.true((e.peers as string[]).includes(truth.peers[e.infohash as string]!), 'the announcing peer');
      peersChecked++;
    }
  }
  const coverage = responsive.filter((n) => answered.has(n.address)).length / responsive.length;
  t.log(`coverage ${(coverage * 100).toFixed(1)}% of ${responsive.length} responsive nodes, ${infohashes.size} infohashes, ${peersChecked} peer answers; ${result.stdout.trim()}`);
  t.true(coverage >= 0.95, `coverage ${coverage}`);
  const bep51Nodes = new Set(truth.nodes.filter((n) => n.responsive && n.bep51).map((n) => n.address));
  const held = Object.entries(truth.infohashes).filter(([, at]) => at.some((a) => bep51Nodes.has(a)));
  t.true(held.filter(([ih]) => infohashes.has(ih)).length >= 0.95 * held.length, 'infohashes held by BEP 51 nodes');
  t.true(peersChecked > 0);

  t.like(summary, { answered: answered.size, infohashes: infohashes.size, sweeps: 1, out, events: events.length, interrupted: false });
  t.true((summary.nodes as number) >= answered.size && (summary.nodes as number) <= 301, `${String(summary.nodes)} known`);
  t.true((summary.queries as number) >= answered.size);
  t.true((summary.rps as number) > 0);
  t.true((summary.peers as number) >= peersChecked);
  t.true(Number.isInteger(summary.ms));
});

test.serial('crawl --duration: repeated sweeps until SIGINT, which still closes the file and prints the summary (exit 0)', async (t) => {
  // No --out: the file goes to <data dir>/crawls/crawl-<time>.ndjson.
  const crawl = startCli(t, ['crawl', '--bootstrap', ready.bootstrap, '--duration', '60', '--json', '--host', loopbackHost(), '--rate', '1000', '--get-peers-rate', '0']);
  await pollUntil(() => crawl.stderr.includes('sweep 1 done') || crawl.child.exitCode !== null, 'the first sweep to end', 30_000).catch(() => undefined); // judged below
  t.regex(crawl.stderr, /sweep 1 done: \d+ nodes answered/);
  crawl.child.kill('SIGINT');
  const result = await crawl.exit(20_000);
  t.is(result.code, 0, result.stderr);
  const summary = JSON.parse(result.stdout) as { out: string; sweeps: number; answered: number; events: number; interrupted: boolean };
  t.true(summary.interrupted);
  t.true(summary.sweeps >= 2, `${summary.sweeps} sweeps`);
  t.regex(summary.out, /crawl-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ\.ndjson$/);
  t.true(summary.out.startsWith(join(dir, 'crawls') + '/'), summary.out);
  t.regex(result.stderr, new RegExp(`writing discoveries to ${summary.out.replaceAll('.', '\\.')}`));
  // The file is complete: every line (the last one too) is whole.
  const lines = (await readFile(summary.out, 'utf8')).split('\n');
  t.is(lines.pop(), '', 'ends with a newline');
  t.is(lines.length, summary.events);
  for (const line of lines) t.notThrows(() => JSON.parse(line));
  t.true(summary.answered >= 0.95 * ready.responsive);
});

test.serial('measure --sweeps 2 --json --redis-url: size within 25% of the live nodes, BEP 51 share, no churn; recorded in the survey series', async (t) => {
  const server = await startRedisServer();
  t.teardown(() => server.stop());
  const c = new Redis(server.url);
  t.teardown(() => c.disconnect());
  const keys = new IndexKeys(randomPrefix());
  await ensureSchema(c, keys, { migrate: true });
  const result = await runCli(t, ['measure', '--bootstrap', ready.bootstrap, '--sweeps', '2', '--targets', '64', '--json', '--host', loopbackHost(), '--rate', '2000', '--redis-url', server.url, '--prefix', keys.prefix]);
  t.is(result.code, 0, result.stderr);
  const lines = result.stdout.trim().split('\n');
  t.is(lines.length, 1, 'ONE JSON object');
  const m = JSON.parse(lines[0]!) as {
    size: { estimate: number; low: number; high: number; confidence: number; method: string; targets: number; k: number };
    lookups: { targets: number; converged: number };
    census: {
      nodes: number;
      answered: number;
      responseRate: number;
      bep51: { share: number };
      bep42Share: number;
      bep32: { supported: number; unsupported: number };
      bep33: { supported: number; unsupported: number; share: number };
      versions: Array<{ client: string; version: string; name: string; share: number }>;
      rtt: { p50: number; p90: number; p99: number };
    };
    churn: { before: number; after: number; leftShare: number; joinedShare: number };
    sweeps: Array<{ sweep: number; complete: boolean }>;
    interrupted: boolean;
    ms: number;
    recorded: { prefix: string; at: number } | null;
  };
  const live = ready.responsive;
  const bep51Share = truth.nodes.filter((n) => n.responsive && n.bep51).length / live;
  t.log(
    `size ${m.size.estimate.toFixed(0)} [${m.size.low.toFixed(0)}, ${m.size.high.toFixed(0)}] vs ${live} live; BEP 51 ${m.census.bep51.share.toFixed(3)} ` +
      `(truth ${bep51Share.toFixed(3)}); response rate ${m.census.responseRate.toFixed(3)}; churn ${m.churn.leftShare}/${m.churn.joinedShare}; ${m.ms} ms`,
  );
  t.true(Math.abs(m.size.estimate / live - 1) <= 0.25, `estimate ${m.size.estimate} vs ${live} live nodes`);
  t.true(m.size.low < m.size.estimate && m.size.estimate < m.size.high);
  t.is(m.size.confidence, 0.95);
  t.is(m.size.method, 'kth-distance-mle+bootstrap-percentile');
  t.is(m.lookups.targets, 64);
  t.true(Math.abs(m.census.bep51.share - (1 - NO_BEP51)) < 0.08, `BEP 51 share ${m.census.bep51.share}`);
  t.true(Math.abs(m.census.bep51.share - bep51Share) < 0.02, `BEP 51 share ${m.census.bep51.share} vs ${bep51Share}`);
  // The crawl's node, gone now, is still in some tables: one more dead node at most.
  t.true(Math.abs(m.census.responseRate - live / 300) < 0.03, `response rate ${m.census.responseRate}`);
  t.is(m.census.bep42Share, 1);
  // BEP 33: the crawl's scrape probes of BEP 51 nodes; every node here is dhtscope, which answers them with filters.
  t.true(m.census.bep33.supported >= 1 && m.census.bep33.unsupported === 0, `BEP 33 ${JSON.stringify(m.census.bep33)}`);
  t.is(m.census.bep33.share, 1);
  // BEP 32: the crawler's node runs both families here, so every query asks want n6; the testnet's nodes are IPv4 only.
  t.deepEqual(m.census.bep32, { ...m.census.bep32, supported: 0, unsupported: m.census.answered }, 'every answering node judged, none on IPv6');
  t.like(m.census.versions[0], { client: 'DS', version: '0.1', name: 'dhtscope', share: 1 });
  t.true(m.census.rtt.p50 <= m.census.rtt.p90 && m.census.rtt.p90 <= m.census.rtt.p99);
  t.true(m.churn.leftShare <= 0.03 && m.churn.joinedShare <= 0.03, `churn ${JSON.stringify(m.churn)}`);
  t.deepEqual(
    m.sweeps.map((s) => [s.sweep, s.complete]),
    [
      [1, true],
      [2, true],
    ],
  );
  t.false(m.interrupted);

  // The same measurement, in the survey series of the index named.
  t.is(m.recorded?.prefix, keys.prefix);
  const read = await readSurveys(c, keys, { limit: 10 });
  t.is(read.total, 1);
  const e = read.entries[0]!;
  t.is(e.at, m.recorded!.at);
  t.deepEqual(e.source, { kind: 'measure' });
  t.deepEqual(e.size, { estimate: m.size.estimate, low: m.size.low, high: m.size.high });
  t.like(e.census, { nodes: m.census.nodes, answered: m.census.answered, bep42Share: roundShare(m.census.bep42Share), bep51: { share: roundShare(m.census.bep51.share) } });
  t.deepEqual(e.census.versions, [{ client: 'DS', version: '0.1', count: m.census.answered, share: 1 }]);
  t.deepEqual(e.churn, summarizeChurn(m.churn as Parameters<typeof summarizeChurn>[0]));
  t.deepEqual(e.sybilRegions, [], 'no Sybils in the testnet');
  t.is(e.census.bep33Share, 1);
  t.is(e.census.bep32Share, 0);

  // Recording is checked before measuring: an index that is not migrated is refused at once.
  const stale = await runCli(t, ['measure', '--bootstrap', ready.bootstrap, '--redis-url', server.url, '--prefix', randomPrefix(), '--host', loopbackHost()]);
  t.is(stale.code, 1, stale.stderr);
  t.regex(stale.stderr, /dhtscope migrate/);
  t.is(stale.stdout, '');
});

test.serial('SIGTERM stops the testnet with exit 0 and frees its addresses: a second testnet starts', async (t) => {
  testnet!.child.kill('SIGTERM');
  const stopped = await testnet!.exit(20_000);
  t.is(stopped.code, 0, stopped.stderr);
  const events = stopped.stdout.trim().split('\n').map((l) => JSON.parse(l) as { event: string });
  t.deepEqual(
    events.map((e) => e.event),
    ['ready', 'stopped'],
  );

  // Same addresses; the default ground-truth file goes to the data directory, named by the seed.
  // The default mix: real bittorrent-dht and libtorrent processes beside our nodes.
  const second = startCli(t, ['testnet', '--address-base', '140', '--nodes', '60', '--infohashes', '10', '--workers', '1', '--seed', '3', '--json']);
  const again = JSON.parse(await second.nextLine(60_000)) as Ready & { kinds: Record<string, number>; live: number };
  t.is(again.event, 'ready');
  t.is(again.kinds.libtorrent, 4, JSON.stringify(again.kinds));
  t.true((again.kinds['bittorrent-dht'] ?? 0) >= 1, JSON.stringify(again.kinds));
  const secondTruth = JSON.parse(await readFile(again.groundTruth, 'utf8')) as GroundTruth;
  t.is(secondTruth.nodes.filter((n) => n.kind === 'libtorrent').length, 4);
  t.is(secondTruth.foreign.find((f) => f.kind === 'libtorrent')?.sampleIntervalS, 0, 'the ground truth says libtorrent\'s interval was lowered');
  t.is(again.bootstrap, '127.140.1.1:6881');
  t.is(again.groundTruth, join(dir, 'testnet-3-ground-truth.json'));
  await t.notThrowsAsync(access(again.groundTruth));
  second.child.kill('SIGTERM');
  const done = await second.exit(20_000);
  t.is(done.code, 0, done.stderr);
  t.regex(done.stdout, /"event":"stopped"/);
});

test('usage errors exit 2 with one clear line (real processes)', async (t) => {
  const [latency, rate, sweeps, prefix] = await Promise.all([
    runCli(t, ['testnet', '--nodes', '300', '--infohashes', '10', '--latency', '300-50ms']),
    runCli(t, ['crawl', '--bootstrap', '127.0.0.1:6881', '--rate', 'fast']),
    runCli(t, ['measure', '--bootstrap', '127.0.0.1:6881', '--sweeps', '3']),
    runCli(t, ['measure', '--bootstrap', '127.0.0.1:6881', '--prefix', 'mine']),
  ]);
  for (const r of [latency, rate, sweeps, prefix]) {
    t.is(r.code, 2, r.stderr);
    t.is(r.stdout, '');
    t.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
  t.regex(latency.stderr, /^dhtscope: --latency must be MIN-MAX in milliseconds, like 50-300ms .*"300-50ms"/);
  t.regex(rate.stderr, /^dhtscope: --rate must be a positive number per second, got "fast"/);
  t.regex(sweeps.stderr, /^dhtscope: --sweeps must be an integer 1-2, got "3"/);
  t.regex(prefix.stderr, /^dhtscope: --prefix names the index to record in: give --redis-url too/);
});

/** Runs a command in-process with its output captured (a process per case would cost ~2 s of CPU). */
async function inProcess(command: Command, argv: string[]): Promise<{ code: number | undefined; out: string; error: unknown }> {
  let out = '';
  const write = process.stdout.write;
  process.stdout.write = ((chunk: string) => {
    out += chunk;
    return true;
  }) as typeof process.stdout.write;
  try {
    return { code: await command.run(argv), out, error: undefined };
  } catch (error) {
    return { code: undefined, out, error };
  } finally {
    process.stdout.write = write;
  }
}

test.serial('validation: every bad value is a UsageError naming the option (exit 2)', async (t) => {
  const cases: Array<[Command, string[], RegExp]> = [
    [testnetCommand, ['--nodes', '300'], /needs --nodes N and --infohashes M/],
    [testnetCommand, ['--nodes', '0', '--infohashes', '1'], /--nodes must be a positive integer, got "0"/],
    [testnetCommand, ['--nodes', '2.5', '--infohashes', '1'], /--nodes must be a positive integer/],
    [testnetCommand, ['--nodes', '20000000', '--infohashes', '1'], /--nodes 20000000 does not fit: a testnet has room for 14,193,520 nodes/],
    [testnetCommand, ['--nodes', '10', '--infohashes=-1'], /--infohashes must be an integer >= 0/],
    [testnetCommand, ['--nodes', '10', '--infohashes', '1', '--unresponsive', '1.5'], /--unresponsive must be a fraction from 0 to 1/],
    [testnetCommand, ['--nodes', '10', '--infohashes', '1', '--no-bep51', 'half'], /--no-bep51 must be a fraction/],
    [testnetCommand, ['--nodes', '10', '--infohashes', '1', '--loss', '1'], /--loss must be a fraction from 0 to 1 \(exclusive\)/],
    [testnetCommand, ['--nodes', '10', '--infohashes', '1', '--latency', 'slow'], /--latency must be MIN-MAX/],
    [testnetCommand, ['--nodes', '10', '--infohashes', '1', '--workers', '0'], /--workers must be an integer 1-1024/],
    [testnetCommand, ['--nodes', '10', '--infohashes', '1', '--seed=-3'], /--seed must be an integer 0-4294967295/],
    [crawlCommand, ['--bootstrap', 'none'], /crawl needs somewhere to start/],
    [crawlCommand, ['--bootstrap', 'nonsense'], /--bootstrap: bootstrap address must be host:port/],
    [crawlCommand, ['--bootstrap', '127.0.0.1:1', '--inflight', '0'], /--inflight must be an integer 1-65536/],
    [crawlCommand, ['--bootstrap', '127.0.0.1:1', '--per-ip-rate', '0'], /--per-ip-rate must be a positive number/],
    [crawlCommand, ['--bootstrap', '127.0.0.1:1', '--get-peers-rate=-1'], /--get-peers-rate must be a non-negative number/],
    [crawlCommand, ['--bootstrap', '127.0.0.1:1', '--duration', '0'], /--duration must be a positive number of seconds/],
    [crawlCommand, ['--bootstrap', '127.0.0.1:1', '--host', '::1'], /--host must be an IPv4 address/],
    [crawlCommand, ['--bootstrap', '127.0.0.1:1', 'extra'], /crawl takes no arguments/],
    [measureCommand, ['--bootstrap', '127.0.0.1:1', '--targets', '0'], /--targets must be an integer 1-100000/],
    [measureCommand, ['--bootstrap', '127.0.0.1:1', '--rate', '0'], /--rate must be a positive number/],
  ];
  for (const [command, argv, message] of cases) {
    const { error, out } = await inProcess(command, argv);
    t.true(error instanceof UsageError, `${argv.join(' ')}: ${String(error)}`);
    t.regex((error as Error).message, message, argv.join(' '));
    t.is(out, '');
  }
  // Latency forms that are accepted, through the parser the command uses.
  const { parseLatency } = await import('../cli/commands/testnet.js');
  t.deepEqual(parseLatency('50-300ms'), [50, 300]);
  t.deepEqual(parseLatency('50-300'), [50, 300]);
  t.deepEqual(parseLatency('50ms-300ms'), [50, 300]);
  t.deepEqual(parseLatency('100ms'), [100, 100]);
});

test.serial('--help of testnet, crawl and measure: usage, the defaults, an example; dhtscope --help lists them', async (t) => {
  for (const [name, command] of [
    ['testnet', testnetCommand],
    ['crawl', crawlCommand],
    ['measure', measureCommand],
  ] as const) {
    const { code, out } = await inProcess(command, ['--help']);
    t.is(code, 0);
    t.is(out, command.help + '\n');
    t.regex(out, new RegExp(`^Usage: dhtscope ${name} `));
    t.regex(out, new RegExp(`^Example: dhtscope ${name} \\S[^\\n]*$`, 'm'));
    t.true(command.summary.length > 0 && !command.summary.includes('\n'));
  }
  t.regex(crawlCommand.help, /--rate R +queries per second, all kinds together \(default 200\)/);
  t.regex(crawlCommand.help, /--inflight N +queries in flight at once \(default 256\)/);
  t.regex(crawlCommand.help, /--per-ip-rate R +queries per second to one IP address \(default 2\)/);
  const main = await runCli(t, ['--help']);
  t.is(main.code, 0);
  for (const name of ['crawl', 'measure', 'testnet']) t.regex(main.stdout, new RegExp(`^  ${name} +\\S`, 'm'));
  t.regex(main.stdout, /^ {2}dhtscope crawl /m);
});

test('status line: rewritten in place on a terminal, periodic plain lines elsewhere', (t) => {
  let now = 0;
  let tty = '';
  const term = new StatusLine({ stream: { write: (s) => ((tty += s), true), isTTY: true, columns: 30 }, now: () => now });
  term.update('first');
  term.update('first');
  term.update('a status text that is much too long for thirty columns');
  term.log('a line that stays');
  term.clear();
  t.is(tty, '\rfirst\x1b[K' + '\ra status text that is much t…\x1b[K' + '\r\x1b[Ka line that stays\n' + '\ra status text that is much t…\x1b[K' + '\r\x1b[K');

  let plain = '';
  const pipe = new StatusLine({ stream: { write: (s) => ((plain += s), true) }, now: () => now, plainIntervalMs: 10_000, prefix: 'x: ' });
  pipe.update('one');
  now = 5_000;
  pipe.update('two');
  pipe.update('phase', { force: true });
  now = 16_000;
  pipe.update('three');
  pipe.log('kept');
  t.is(plain, 'x: one\nx: phase\nx: three\nkept\n');
});
