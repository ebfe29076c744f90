/**
 * The real `dhtscope export` and `dhtscope import` executables (the build in dist/): --help,
 * usage errors with exit 2, an export piped into an import through stdin, and an export whose
 * reader goes away (`export | head`), which ends quietly with exit 0. test/export-import.test.ts
 * covers the formats and the merge in-process.
 */
import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import { type Discovery } from '../crawler/discovery.js';
import { newBatchId } from '../indexer/batch-id.js';
import { IndexKeys } from '../indexer/keys.js';
import { exportCommand } from '../cli/commands/export.js';
import { runCli, startCli } from './helpers/cli.js';
import { runInProcess } from './helpers/in-process-command.js';
import { applyIndexed } from './helpers/index-writes.js';
import { randomPrefix, useRedisServer } from './helpers/redis.js';

const redis = useRedisServer(test);

/** An index of `count` random infohashes, seen in the last hour, a tenth of them with a peer. */
async function index(t: ExecutionContext, count: number): Promise<string[]> {
  const { c, keys } = await redis.freshIndex(t);
  const now = Date.now();
  for (let b = 0; b < count; b += 5000) {
    const events: Discovery[] = [];
    for (let i = b; i < Math.min(count, b + 5000); i++) {
      const infohash = randomBytes(20).toString('hex');
      events.push({ type: 'infohash', infohash, node: `10.1.${(i >> 8) & 255}.${i & 255}:6881`, source: 'sample', at: now - 3_600_000 + i });
      if (i % 10 === 0) events.push({ type: 'peers', infohash, peers: [`198.51.100.${i & 255}:${1000 + (i % 5000)}`], node: '10.1.0.1:6881', at: now - 60_000 });
    }
    await applyIndexed(c, events, { keys, batchId: newBatchId() });
  }
  return ['--redis-url', redis.server.url, '--prefix', keys.prefix];
}

for (const name of ['export', 'import']) {
  test(`dhtscope ${name} --help exits 0 with usage and an example`, async (t) => {
    const r = await runCli(t, [name, '--help']);
    t.is(r.code, 0, r.stderr);
    t.regex(r.stdout, new RegExp(`^Usage: dhtscope ${name} `));
    t.regex(r.stdout, new RegExp(`^Example: dhtscope ${name} \\S`, 'm'));
  });
}

test('bad flags are usage errors: exit 2, one line on stderr, before any connection', async (t) => {
  const [format, extra, unknown] = await Promise.all([
    runCli(t, ['export', '--format', 'xml', '--redis-url', 'redis://127.0.0.1:1']),
    runCli(t, ['import', 'a.ndjson', 'b.ndjson', '--redis-url', 'redis://127.0.0.1:1']),
    runCli(t, ['import', '--colour', 'red']),
  ]);
  t.is(format.code, 2);
  t.is(format.stderr, 'dhtscope: --format must be ndjson or csv, got "xml"\n');
  t.is(extra.code, 2);
  t.regex(extra.stderr, /^dhtscope: import takes one FILE \(or - for stdin\), got 2: /);
  t.is(unknown.code, 2);
  t.regex(unknown.stderr, /^dhtscope: Unknown option '--colour'/);
});

test('export piped into import - fills a second index with the same lines, but peers', async (t) => {
  const from = await index(t, 3000);
  const to = ['--redis-url', redis.server.url, '--prefix', new IndexKeys(randomPrefix()).prefix];
  const exporter = startCli(t, ['export', '--format', 'csv', ...from]);
  const importer = startCli(t, ['import', '-', '--format', 'csv', '--json', ...to]);
  exporter.child.stdout.pipe(importer.child.stdin);
  const [e, i] = await Promise.all([exporter.exit(60_000), importer.exit(60_000)]);
  t.is(e.code, 0, e.stderr);
  t.is(i.code, 0, i.stderr);
  t.like(JSON.parse(i.stdout), { lines: 3000, imported: 3000, created: 3000, skipped: 0 });
  const peersless = (s: string): string => s.replace(/^([^,]*,[^,]*,[^,]*,[^,]*,[^,]*,)\d+/gm, '$1');
  const again = await runInProcess(exportCommand, ['--format', 'csv', ...to]);
  t.is(peersless(again.stdout), peersless(e.stdout));
  t.is(again.stdout.split('\r\n').length, 3002);
});

test('export | head: the reader going away ends the export quietly, exit 0', async (t) => {
  const args = await index(t, 20_000);
  const exporter = startCli(t, ['export', ...args]);
  const first = JSON.parse(await exporter.nextLine(30_000)) as { infohash: string };
  t.regex(first.infohash, /^[0-9a-f]{40}$/);
  exporter.child.stdout.destroy();
  const r = await exporter.exit(60_000);
  t.is(r.code, 0);
  t.is(r.stderr, '');
});
