import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCli } from './helpers/cli.js';

/** `dhtscope simnet` and `dhtscope crawl --simnet` as real processes: the simulator's own count is the truth. */
test('dhtscope simnet serves a simulated DHT that crawl --simnet sweeps; on SIGINT it reports what the crawl reached', async (t) => {
  t.timeout(180_000);
  const dir = mkdtempSync(join(tmpdir(), 'dhtscope-simnet-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const simnet = startCli(t, ['simnet', '--nodes', '3000', '--seed', '4', '--json']);
  const ready = JSON.parse(await simnet.nextLine(60_000)) as { event: string; address: string; bootstrap: string[]; nodes: number };
  t.is(ready.event, 'ready');
  t.is(ready.nodes, 3000);
  t.regex(ready.address, /^127\.0\.0\.1:\d+$/);
  const crawl = await startCli(t, ['crawl', '--simnet', ready.address, '--bootstrap', ready.bootstrap.join(','), '--rate', '1000', '--per-ip-rate', '100', '--get-peers-rate', '0', '--json', '--out', join(dir, 'c.ndjson')]).exit(120_000);
  t.is(crawl.code, 0, crawl.stderr);
  const summary = JSON.parse(crawl.stdout) as { answered: number; queries: number };
  simnet.child.kill('SIGINT');
  const report = JSON.parse(await simnet.nextLine(30_000)) as { event: string; live: number; reached: number; packets: number };
  t.is(report.event, 'report');
  t.log(`crawl: ${summary.answered} answered, ${summary.queries} queries; simulator: ${report.reached} of ${report.live} live reached, ${report.packets} packets`);
  t.true(report.reached >= 0.97 * report.live, 'the crawl reached nearly every live node');
  // The crawler's node also joins (bootstrap lookups), so the simulator saw a few more packets than the crawl's queries.
  t.true(report.packets >= summary.queries);
  t.is((await simnet.exit(20_000)).code, 0);
  const bad = await startCli(t, ['crawl', '--simnet', '10.0.0.1:5000', '--bootstrap', ready.bootstrap[0]!]).exit(30_000);
  t.is(bad.code, 2);
  t.regex(bad.stderr, /--simnet must be a loopback address/);
});
