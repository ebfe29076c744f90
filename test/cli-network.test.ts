import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DhtNode } from '../bep5/node.js';
import { randomId } from '../bep5/node-id.js';
import { type CliProcess, runCli, startCli } from './helpers/cli.js';
import { loopbackHost } from './helpers/udp.js';

/**
 * `announce` and `peers` on a small local network: one `dhtscope node` process started with
 * `--bootstrap none`, and a few in-process DhtNodes that join through it. Every address is
 * 127.x.y.z; nothing public is contacted.
 */

let first: CliProcess;
let bootstrap = '';
let dataDir = '';
const nodes: DhtNode[] = [];
const INFOHASH = randomId().toString('hex');

test.before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'dhtscope-cli-net-'));
  first = startCli(null, ['node', '--json', '--host', loopbackHost(), '--port', '0', '--bootstrap', 'none', '--data-dir', dataDir]);
  const listening = JSON.parse(await first.nextLine()) as { host: string; port: number };
  bootstrap = `${listening.host}:${listening.port}`;
  for (let i = 0; i < 4; i++) nodes.push(new DhtNode({ host: loopbackHost(), port: 0, bootstrap: [bootstrap], adoptBep42Id: false }));
  await Promise.all(nodes.map((n) => n.start()));
  await Promise.all(nodes.map((n) => n.bootstrap({ signal: AbortSignal.timeout(10_000) })));
});

test.after.always(async () => {
  await Promise.all(nodes.map((n) => n.stop()));
  first?.child.kill('SIGKILL');
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

test('announce --port 51413, then peers from other processes finds host:51413', async (t) => {
  const announcer = loopbackHost();
  const announced = await runCli(t, ['announce', INFOHASH, '--port', '51413', '--host', announcer, '--bootstrap', bootstrap, '--json', '--timeout', '20']);
  t.is(announced.code, 0, announced.stderr);
  const a = JSON.parse(announced.stdout) as { infohash: string; announcedTo: string[]; failed: number; nodesQueried: number; ms: number };
  t.is(a.infohash, INFOHASH);
  t.true(a.announcedTo.length >= 1, announced.stdout);
  for (const to of a.announcedTo) t.regex(to, /^127\.\d+\.\d+\.\d+:\d+$/);
  t.is(typeof a.failed, 'number');
  t.true(a.nodesQueried >= 1);
  t.true(Number.isInteger(a.ms));

  // Text mode prints peers one per line on stdout; --json one object; a magnet link works too.
  const [text, json] = await Promise.all([
    runCli(t, ['peers', INFOHASH.toUpperCase(), '--host', loopbackHost(), '--bootstrap', bootstrap, '--timeout', '20']),
    runCli(t, ['peers', `magnet:?xt=urn:btih:${INFOHASH}&dn=test`, '--host', loopbackHost(), '--bootstrap', bootstrap, '--json', '--timeout', '20']),
  ]);
  t.is(text.code, 0, text.stderr);
  t.true(text.stdout.split('\n').includes(`${announcer}:51413`), text.stdout);
  t.regex(text.stderr, /1 peer for/);
  t.is(json.code, 0, json.stderr);
  const p = JSON.parse(json.stdout) as { infohash: string; peers: string[]; nodesQueried: number; ms: number };
  t.is(p.infohash, INFOHASH);
  t.deepEqual(p.peers, [`${announcer}:51413`]);
  t.true(p.nodesQueried >= 1);
  t.true(Number.isInteger(p.ms));

  // The first node saw the announce (passive observation in its --json stream).
  const seen = await first.nextEvent('announce');
  t.deepEqual(seen, { event: 'announce', infohash: INFOHASH, peer: `${announcer}:51413`, seed: false });
});

test('peers for an infohash nobody announced exits 1 with an empty list', async (t) => {
  const result = await runCli(t, ['peers', randomId().toString('hex'), '--host', loopbackHost(), '--bootstrap', bootstrap, '--json', '--timeout', '20']);
  t.is(result.code, 1, result.stderr);
  const p = JSON.parse(result.stdout) as { peers: string[]; nodesQueried: number };
  t.deepEqual(p.peers, []);
  t.true(p.nodesQueried >= 1);
  t.regex(result.stderr, /no peers found/);
});

test('when no bootstrap node answers, peers says so and exits 1 at the timeout', async (t) => {
  const silent = `${loopbackHost()}:9`;
  const result = await runCli(t, ['peers', INFOHASH, '--host', loopbackHost(), '--bootstrap', silent, '--timeout', '1.5']);
  t.is(result.code, 1);
  t.is(result.stdout, '');
  t.regex(result.stderr, new RegExp(`no bootstrap node answered \\(tried: ${silent.replaceAll('.', '\\.')}\\) within 1\\.5 s`));
});

// Bad --bootstrap entries are covered in cli-infohash.test.ts (same UsageError path to exit 2).
test('a malformed infohash, or announce without --port / --implied-port, is a usage error (exit 2)', async (t) => {
  const [badHash, badAnnounce] = await Promise.all([
    runCli(t, ['peers', 'not-an-infohash', '--bootstrap', bootstrap]),
    runCli(t, ['announce', INFOHASH, '--bootstrap', bootstrap]),
  ]);
  t.is(badHash.code, 2);
  t.is(badHash.stdout, '');
  t.regex(badHash.stderr, /expected an infohash \(40 hex characters or 32 base32 characters\) or a magnet link .*"not-an-infohash"/);
  t.is(badAnnounce.code, 2);
  t.regex(badAnnounce.stderr, /--port N .* or --implied-port/);
});
