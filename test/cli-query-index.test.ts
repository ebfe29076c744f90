/**
 * `dhtscope query` against an index written through applyBatch on a real redis-server: every
 * subcommand with and without --json, --json equal to the HTTP API's body for the same query,
 * exit codes 0 / 1 / 2, and --help.
 *
 * A dhtscope process costs ~3 s of CPU to start (ts-node), so the real binary runs once per
 * exit code (a table: 0, unknown infohash: 1, malformed: 2) and the rest runs the same
 * command in-process (serially, capturing stdout), as test/cli-help.test.ts does.
 */
import test, { type ExecutionContext } from 'ava';
import { type Redis } from 'ioredis';
import { queryCommand } from '../cli/commands/query.js';
import type { Discovery } from '../crawler/discovery.js';
import { createApiServer } from '../server/api/server.js';
import { newBatchId } from '../indexer/batch-id.js';
import { IndexKeys, SCHEMA_VERSION } from '../indexer/keys.js';
import { MigrationRunner } from '../migrations/runner.js';
import { runCli } from './helpers/cli.js';
import { type InProcessRun, runInProcess } from './helpers/in-process-command.js';
import { randomPrefix, useRedisServer } from './helpers/redis.js';
import { hostIn, infohashes } from './helpers/generators.js';
import { applyIndexed } from './helpers/index-writes.js';
import { ShardedIndexKeys } from '../indexer/sharded-keys.js';
import { writeSwarmEstimates } from '../indexer/swarm-estimates.js';
import { recordSurvey } from '../indexer/survey-series.js';
import { survey } from './helpers/surveys.js';

const redis = useRedisServer(test);

const IH = infohashes('c');
const ADDR = hostIn('10.0.1');
const PEER = (n: number): string => `198.51.100.${n}:${3000 + n}`;
/** Ten minutes ago: inside the peer TTL and the default stats window. */
const T0 = Date.now() - 600_000;

function batch(): Discovery[] {
  return [
    { type: 'node', id: IH(100), address: ADDR(1), version: '4c540102', rttMs: 40, bep51: true, bep42: true, at: T0 },
    { type: 'node', id: IH(101), address: ADDR(2), version: null, rttMs: 60, bep51: false, bep42: true, at: T0 },
    { type: 'infohash', infohash: IH(1), node: ADDR(1), source: 'sample', at: T0 },
    { type: 'infohash', infohash: IH(1), node: ADDR(2), source: 'sample', at: T0 + 1000 },
    { type: 'infohash', infohash: IH(2), node: ADDR(1), source: 'get_peers', at: T0 + 2000 },
    { type: 'infohash', infohash: IH(3), node: ADDR(2), source: 'sample', at: T0 + 3000 },
    { type: 'peers', infohash: IH(1), peers: [PEER(1), PEER(2), PEER(3)], node: ADDR(1), at: T0 + 4000 },
    { type: 'peers', infohash: IH(2), peers: [PEER(4)], node: ADDR(1), at: T0 + 5000 },
  ];
}

interface Index {
  c: Redis;
  keys: IndexKeys;
  /** --redis-url and --prefix of this index. */
  args: string[];
  /** The API's body for `url`, answered as of `now`. */
  api(url: string, now?: number): Promise<unknown>;
}

async function index(t: ExecutionContext, events: Discovery[] = batch()): Promise<Index> {
  const { c, keys } = await redis.freshIndex(t);
  if (events.length > 0) await applyIndexed(c, events, { keys, batchId: newBatchId() });
  return {
    c,
    keys,
    args: ['--redis-url', redis.server.url, '--prefix', keys.prefix],
    async api(url, now) {
      const app = await createApiServer({ redis: c, keys, ...(now === undefined ? {} : { now: () => now }) });
      try {
        return (await app.inject({ method: 'GET', url })).json();
      } finally {
        await app.close();
      }
    },
  };
}

/** `dhtscope query ...argv` in this process, with main.ts's mapping of errors to exit codes. */
const query = (argv: string[]): Promise<InProcessRun> => runInProcess(queryCommand, argv);

const json = (r: { stdout: string }): any => JSON.parse(r.stdout);

// ---- the real binary ----------------------------------------------------------------------

test('dhtscope query recent prints an aligned table and exits 0', async (t) => {
  const ix = await index(t);
  const r = await runCli(t, ['query', 'recent', ...ix.args]);
  t.is(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  t.regex(lines[0]!, /^INFOHASH\s+LAST SEEN\s+AGE\s+SEEN\s+SOURCES\s+PEERS\s+SEEDERS\s+LEECHERS$/);
  t.deepEqual(
    lines.slice(1).map((l) => l.split(/\s+/)[0]),
    [IH(2), IH(1), IH(3)],
  );
  // Columns line up: every row has its last-seen time where the header has LAST SEEN.
  const col = lines[0]!.indexOf('LAST SEEN');
  for (const l of lines.slice(1)) t.regex(l.slice(col), /^\d{4}-\d\d-\d\dT/);
  t.regex(lines[2]!, /\d min ago\s+2\s+2\s+3\s+-\s+-$/);
});

test('dhtscope query infohash exits 1 for an unknown infohash and 2 for a malformed one', async (t) => {
  const ix = await index(t);
  const [missing, malformed] = await Promise.all([runCli(t, ['query', 'infohash', IH(99), ...ix.args]), runCli(t, ['query', 'infohash', 'xyz', ...ix.args])]);
  t.is(missing.code, 1);
  t.is(missing.stdout, '');
  t.is(missing.stderr, `dhtscope query: infohash ${IH(99)} is not in the index\n`);
  t.is(malformed.code, 2);
  t.regex(malformed.stderr, /^dhtscope: expected an infohash \(40 hex characters or 32 base32 characters\) or a magnet link .*got "xyz"\n$/);
});

// ---- the same command in-process -----------------------------------------------------------

test.serial('query infohash: text and the API body (any case in, lowercase out)', async (t) => {
  const ix = await index(t);
  const text = await query(['infohash', IH(1), ...ix.args]);
  t.is(text.code, 0, text.stderr);
  t.regex(text.stdout, new RegExp(`^infohash\\s+${IH(1)}$`, 'm'));
  t.regex(text.stdout, /^sightings\s+2$/m);
  t.regex(text.stdout, /^sources\s+2 DHT nodes$/m);
  t.regex(text.stdout, /^live peers\s+3$/m);
  t.regex(text.stdout, new RegExp(`^  ${PEER(3).replace(/\./g, '\\.')}\\s+\\d{4}-`, 'm'));
  const j = await query(['infohash', IH(1).toUpperCase(), '--json', ...ix.args]);
  t.deepEqual(json(j), await ix.api(`/api/infohashes/${IH(1)}`));
  t.like(json(j), { infohash: IH(1), seen: 2, sources: 2, peerCount: 3 });
  const missing = await query(['infohash', IH(99), '--json', ...ix.args]);
  t.is(missing.code, 1);
  t.deepEqual(json(missing), await ix.api(`/api/infohashes/${IH(99)}`));
});

test.serial('query peers: pages as the API does (same nextCursor), text shows the next command', async (t) => {
  const ix = await index(t);
  const first = await query(['peers', IH(1), '--json', '--limit', '2', ...ix.args]);
  t.is(first.code, 0, first.stderr);
  const body = json(first);
  t.deepEqual(body, await ix.api(`/api/infohashes/${IH(1)}/peers?limit=2`));
  t.deepEqual(
    body.peers.map((p: { address: string }) => p.address),
    [PEER(3), PEER(2)],
  );
  const second = await query(['peers', IH(1), '--json', '--limit', '2', '--cursor', body.nextCursor, ...ix.args]);
  // The index keeps a peer's last report to the second.
  t.deepEqual(json(second), { infohash: IH(1), peers: [{ address: PEER(1), lastSeen: Math.floor((T0 + 4000) / 1000) * 1000 }], nextCursor: null });

  const text = await query(['peers', IH(1), '--limit', '2', ...ix.args]);
  t.is(text.code, 0);
  t.regex(text.stdout, /^ADDRESS\s+LAST SEEN\s+AGE$/m);
  t.true(text.stdout.includes(`\nmore: dhtscope query peers ${IH(1)} --limit 2 --cursor ${body.nextCursor}\n`), text.stdout);
  const unknown = await query(['peers', IH(99), '--json', ...ix.args]);
  t.is(unknown.code, 1);
  t.deepEqual(json(unknown), await ix.api(`/api/infohashes/${IH(99)}/peers`));
});

test.serial('query recent and popular: the API bodies, paging, and text', async (t) => {
  const ix = await index(t);
  for (const sort of ['recent', 'popular'] as const) {
    const page = await query([sort, '--json', '--limit', '1', ...ix.args]);
    t.is(page.code, 0, page.stderr);
    t.deepEqual(json(page), await ix.api(`/api/infohashes?sort=${sort}&limit=1`), sort);
    const next = await query([sort, '--json', '--limit', '5', '--cursor', json(page).nextCursor, ...ix.args]);
    t.deepEqual(json(next), await ix.api(`/api/infohashes?sort=${sort}&limit=5&cursor=${json(page).nextCursor}`), sort);
  }
  const popular = await query(['popular', ...ix.args]);
  t.deepEqual(
    popular.stdout
      .trimEnd()
      .split('\n')
      .slice(1)
      .map((l) => l.split(/\s+/)[0]),
    [IH(1), IH(2)],
  );
});

test.serial('query popular --by seeders ranks by BEP 33 estimates; query infohash shows them', async (t) => {
  const ix = await index(t);
  const at = Math.floor(Date.now() / 60_000) * 60_000;
  await writeSwarmEstimates(ix.c, ShardedIndexKeys.of(ix.keys.prefix), [
    { infohash: IH(3), seeders: 9, leechers: 4, at },
    { infohash: IH(2), seeders: 2, leechers: 11, at },
  ]);
  const page = await query(['popular', '--by', 'seeders', '--json', '--limit', '1', ...ix.args]);
  t.is(page.code, 0, page.stderr);
  t.deepEqual(json(page), await ix.api('/api/infohashes?sort=seeders&limit=1'));
  t.is(json(page).items[0].infohash, IH(3));
  const text = await query(['popular', '--by', 'seeders', '--limit', '1', ...ix.args]);
  const lines = text.stdout.trimEnd().split('\n');
  t.regex(lines[1]!, new RegExp(`^${IH(3)}\\s.*\\s9\\s+4$`));
  t.regex(lines.at(-1)!, /^more: dhtscope query popular --by seeders --limit 1 --cursor \S+$/);
  const one = await query(['infohash', IH(2), ...ix.args]);
  t.regex(one.stdout, /^swarm\s+2 seeders, 11 leechers \(BEP 33 estimate, /m);
  t.regex((await query(['infohash', IH(1), ...ix.args])).stdout, /^swarm\s+not scraped yet$/m);
  const bad = await query(['recent', '--by', 'seeders', ...ix.args]);
  t.is(bad.code, 2);
  t.is((await query(['popular', '--by', 'leechers', ...ix.args])).code, 2);
});

test.serial('query stats and census: text and the API bodies', async (t) => {
  const ix = await index(t);
  const sj = await query(['stats', '--json', '--minutes', '30', ...ix.args]);
  const s = json(sj);
  // The body depends on the clock only through the current minute: ask the API for that minute.
  t.deepEqual(s, await ix.api('/api/stats?minutes=30', s.series.to));
  t.like(s, { infohashes: 3, live: null, series: { minutes: 30 } });
  t.is(s.totals['events:infohash'], 4);

  const stats = await query(['stats', ...ix.args]);
  t.is(stats.code, 0, stats.stderr);
  t.regex(stats.stdout, /^infohashes\s+3$/m);
  t.regex(stats.stdout, /^mean RTT\s+50 ms all time/m);
  t.regex(stats.stdout, /^events:infohash\s+4\s+4\s+[▁-█]{60}$/m);

  const census = await query(['census', '--json', ...ix.args]);
  const body = json(census);
  t.deepEqual(body, await ix.api('/api/nodes/census', Date.parse(`${body.perDay.at(-1).day}T12:00:00Z`)));
  t.like(body, { nodes: 2, bep51: { yes: 1, no: 1 }, bep42: { yes: 2, no: 0 }, families: { ipv4: 2, ipv6: 0 } });
  const text = await query(['census', ...ix.args]);
  t.regex(text.stdout, /^nodes\s+2 distinct IDs/m);
  t.regex(text.stdout, /^family\s+2 seen over IPv4, 0 over IPv6$/m);
  t.regex(text.stdout, /^LT 1\.0\.2\s+\(4c540102\)\s+1$/m);
  t.regex(text.stdout, /^none\s+1$/m);
  t.is(text.stdout.match(/^\d{4}-\d\d-\d\d\s+\d+$/gm)?.length, 7);
});

test.serial('query surveys: the survey series as the API serves it, newest first, and as a table', async (t) => {
  const ix = await index(t, []);
  const empty = await query(['surveys', ...ix.args]);
  t.is(empty.code, 0, empty.stderr);
  t.regex(empty.stdout, /^no surveys recorded yet/);
  const at = Date.UTC(2026, 11, 6, 12, 0, 0);
  await recordSurvey(ix.c, ix.keys, survey(at + 60_000, 1, false));
  const second = survey(at + 120_000, 2, true);
  second.census.bep32Share = 0.25;
  second.census.bep33Share = 0.875;
  await recordSurvey(ix.c, ix.keys, second);
  const body = json(await query(['surveys', '--json', '--limit', '5', ...ix.args]));
  t.deepEqual(body, await ix.api('/api/surveys?limit=5'));
  t.is(body.total, 2);
  const text = await query(['surveys', ...ix.args]);
  t.is(text.code, 0, text.stderr);
  const rows = text.stdout.split('\n').filter((l) => /^\d{4}-/.test(l));
  t.is(rows.length, 2);
  t.regex(rows[0]!, /^2026-12-06T12:02:00\.000Z .*run sweep 2\s+1,592 \[1,529, 1,652\]\s+1,590\/1,700\s+80\.0%\s+25\.0%\s+87\.5%\s+-2 \+2\s+1$/);
  t.regex(rows[1]!, /run sweep 1\s+1,591 \[1,529, 1,651\]\s+1,590\/1,700\s+80\.0%\s+-\s+-\s+-\s+0$/, 'no BEP 32/33 verdicts, no churn: dashes');
  t.regex(text.stdout, /^newest: clients DS 0\.1 100\.0%; BEP 42 100\.0%; RTT p50 3 ms, p90 9 ms$/m);
  t.regex(text.stdout, /^2 surveys kept \(at most 10,000\)$/m);
  const misuse = await query(['surveys', '--cursor', 'x', ...ix.args]);
  t.is(misuse.code, 2);
});

test.serial('an index not yet created reads as empty; an older schema is a one-line error (exit 1)', async (t) => {
  const fresh = ['--redis-url', redis.server.url, '--prefix', randomPrefix()];
  const empty = await query(['recent', ...fresh]);
  t.is(empty.code, 0, empty.stderr);
  t.is(empty.stdout, 'no infohashes in the index\n');
  t.like(json(await query(['stats', '--json', ...fresh])), { infohashes: 0, totals: { batches: 0 } });

  const c = redis.client(t);
  const keys = new IndexKeys(randomPrefix());
  await new MigrationRunner(c, keys).migrate({ to: 1 });
  const old = await query(['recent', '--redis-url', redis.server.url, '--prefix', keys.prefix]);
  t.is(old.code, 1);
  t.regex(old.stderr, new RegExp(`schema version 1, this dhtscope needs ${SCHEMA_VERSION}: run "dhtscope migrate"`));
});

test.serial('--help and -h print the usage, every query and an example, and return 0', async (t) => {
  for (const flag of ['--help', '-h']) {
    const r = await query([flag]);
    t.is(r.code, 0);
    t.is(r.stdout, queryCommand.help + '\n');
    t.regex(r.stdout, /^Usage: dhtscope query /);
    for (const q of ['infohash <ih>', 'peers <ih>', 'recent', 'popular', 'stats', 'census', 'surveys', '--json', '--limit N', '--cursor C', '--redis-url URL']) t.true(r.stdout.includes(q), q);
    t.regex(r.stdout, /^Example: dhtscope query \S/m);
  }
});

test.serial('usage errors exit 2 before connecting', async (t) => {
  // Nothing listens on port 9: any attempt to connect would fail with exit 1, not 2.
  const nowhere = ['--redis-url', 'redis://127.0.0.1:9'];
  const cases: Array<[string[], RegExp]> = [
    [[], /query needs one of infohash, peers, recent, popular, stats, census/],
    [['nope'], /unknown query "nope"/],
    [['infohash'], /query infohash takes one infohash or magnet link/],
    [['recent', 'extra'], /query recent takes no arguments/],
    [['recent', '--limit', '0'], /limit must be an integer from 1 to 1000, got "0"/],
    [['peers', IH(1), '--cursor', 'zz'], /cursor is not a dhtscope cursor/],
    [['stats', '--limit', '5'], /--limit and --cursor apply to peers, recent and popular/],
    [['census', '--minutes', '5'], /--minutes applies to stats/],
    [['stats', '--minutes', '9999'], /minutes must be an integer from 1 to 1440/],
    [['recent', '--bogus'], /Unknown option '--bogus'/],
    [['recent', '--prefix', '{x}'], /invalid Redis key prefix/],
  ];
  for (const [argv, message] of cases) {
    const r = await query([...argv, ...nowhere]);
    t.is(r.code, 2, argv.join(' '));
    t.regex(r.stderr, message, argv.join(' '));
  }
});
