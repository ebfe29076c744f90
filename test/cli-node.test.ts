import test from 'ava';
import { createSocket } from 'node:dgram';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCli } from './helpers/cli.js';
import { loopbackHost } from './helpers/udp.js';

/** `dhtscope node`: the --json event stream, a clean stop on signals, the saved table, bind errors. */

async function tempDir(t: { teardown(fn: () => unknown): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'dhtscope-cli-node-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('node --json: the exact listening line first, stats, then SIGTERM saves the table and exits 0', async (t) => {
  const host = loopbackHost();
  const dataDir = await tempDir(t);
  const proc = startCli(t, ['node', '--json', '--host', host, '--port', '0', '--bootstrap', 'none', '--data-dir', dataDir, '--stats-interval', '0.3']);
  const first = await proc.nextLine();
  const match = /^\{"event":"listening","host":"([^"]+)","port":(\d+),"id":"([0-9a-f]{40})"\}$/.exec(first);
  t.truthy(match, first);
  t.is(match![1], host);
  const port = Number(match![2]);
  t.true(port > 0 && port < 65_536);
  const id = match![3]!;

  const stats = await proc.nextEvent('stats');
  t.is(stats.tableSize, 0);
  t.is(stats.id, id);
  t.like(stats, { infohashes: 0, peers: 0, items: 0, itemBytes: 0, observed: { announce: 0, getPeers: 0 } });
  t.is(typeof (stats.packets as Record<string, unknown>).in, 'number');

  proc.child.kill('SIGTERM');
  const result = await proc.exit();
  t.is(result.code, 0, result.stderr);
  const lines = result.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  for (const line of lines) t.is(typeof line.event, 'string');
  t.true(lines.some((l) => l.event === 'bootstrap-failed' && typeof l.reason === 'string' && l.retryInMs === 0));
  const tablePath = join(dataDir, 'routing-table.json');
  t.deepEqual(lines.at(-1), { event: 'stopped', signal: 'SIGTERM', saved: tablePath });
  const saved = JSON.parse(await readFile(tablePath, 'utf8')) as { version: number; id: string; tables: Record<string, unknown> };
  t.is(saved.version, 1);
  t.is(saved.id, id);
  t.truthy(saved.tables['4']);
});

test('node without --json: a status line, and Ctrl-C (SIGINT) stops cleanly', async (t) => {
  const host = loopbackHost();
  const dataDir = await tempDir(t);
  const proc = startCli(t, ['node', '--host', host, '--port', '0', '--bootstrap', 'none', '--data-dir', dataDir]);
  const first = await proc.nextLine();
  t.regex(first, new RegExp(`^dhtscope node: listening on ${host.replaceAll('.', '\\.')}:\\d+ as [0-9a-f]{40}`));
  proc.child.kill('SIGINT');
  const result = await proc.exit();
  t.is(result.code, 0, result.stderr);
  t.regex(result.stdout, /routing table saved to .*routing-table\.json/);
  await t.notThrowsAsync(readFile(join(dataDir, 'routing-table.json'), 'utf8'));
});

test('a port in use is a one-line error and exit 1', async (t) => {
  const host = loopbackHost();
  const dataDir = await tempDir(t);
  const socket = createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, host, () => resolve());
  });
  t.teardown(() => socket.close());
  const { port } = socket.address();
  const result = await startCli(t, ['node', '--json', '--host', host, '--port', String(port), '--bootstrap', 'none', '--data-dir', dataDir]).exit();
  t.is(result.code, 1);
  t.is(result.stdout, '');
  t.is(result.stderr, `dhtscope node: port ${port} is in use on ${host}; choose another with --port\n`);
});
