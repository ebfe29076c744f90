import test from 'ava';
import { DhtNode } from '../bep5/node.js';
import { workersCommand } from '../cli/commands/workers.js';
import { UsageError } from '../cli/errors.js';
import { IndexKeys, SCHEMA_VERSION } from '../indexer/keys.js';
import { addBatches, discoveryQueue, knownBatch, waitUntil } from './fixtures/discovery-batches.js';
import { runCli, startCli } from './helpers/cli.js';
import { freePort, randomPrefix, useRedisServer } from './helpers/redis.js';
import { loopbackHost } from './helpers/udp.js';
import { totalsIndexed } from './helpers/index-writes.js';

const redis = useRedisServer(test);

test('workers --help prints usage and an example, exit 0', async (t) => {
  t.timeout(120_000);
  const r = await runCli(t, ['workers', '--help'], 90_000);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^Usage: dhtscope workers /);
  t.regex(r.stdout, /--concurrency N/);
  t.regex(r.stdout, /^Example: dhtscope workers \S/m);
});

test('a bad --concurrency is a usage error, exit 2', async (t) => {
  t.timeout(120_000);
  const r = await runCli(t, ['workers', '--concurrency', '0', '--redis-url', 'redis://127.0.0.1:1'], 90_000);
  t.is(r.code, 2);
  t.is(r.stderr, 'dhtscope: --concurrency must be an integer 1-1000, got "0"\n');
  // The other spellings in-process (a process each would cost seconds of CPU).
  for (const value of ['many', '-3', '1.5', '1001']) {
    await t.throwsAsync(workersCommand.run([`--concurrency=${value}`]), { instanceOf: UsageError, message: `--concurrency must be an integer 1-1000, got "${value}"` });
  }
});

test('an unreachable --redis-url is a one-line error, exit 1', async (t) => {
  t.timeout(120_000);
  const port = await freePort();
  const r = await runCli(t, ['workers', '--redis-url', `redis://127.0.0.1:${port}`, '--no-peer-lookups'], 90_000);
  t.is(r.code, 1);
  t.regex(r.stderr, new RegExp(`^dhtscope workers: cannot reach Redis at redis://127\\.0\\.0\\.1:${port}`, 'm'));
  t.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  t.is(r.stdout, '');
});

test('an index with a newer schema is refused with one line, exit 1', async (t) => {
  t.timeout(120_000);
  const c = redis.client(t);
  const keys = new IndexKeys(randomPrefix());
  await c.set(keys.schemaVersion, String(SCHEMA_VERSION + 5));
  const r = await runCli(t, ['workers', '--redis-url', redis.server.url, '--prefix', keys.prefix, '--no-peer-lookups'], 90_000);
  t.is(r.code, 1);
  t.regex(r.stderr, /^dhtscope workers: the index in Redis has schema version \d+, newer than this dhtscope knows \(\d+\): upgrade dhtscope$/m);
});

test('workers --json: migrates, says ready, applies batches, runs a lookup node, stops on SIGTERM with exit 0', async (t) => {
  t.timeout(120_000);
  const seed = new DhtNode({ host: loopbackHost(), port: 0, bootstrap: [], allowPrivate: true });
  await seed.start();
  t.teardown(() => seed.stop());
  const s = seed.address()!;
  const c = redis.client(t, { maxRetriesPerRequest: null });
  const keys = new IndexKeys(randomPrefix());
  const host = loopbackHost();
  const cli = startCli(t, [
    'workers',
    '--json',
    '--redis-url',
    redis.server.url,
    '--prefix',
    keys.prefix,
    '--concurrency',
    '2',
    '--bootstrap',
    `${s.host}:${s.port}`,
    '--host',
    host,
    '--stats-interval',
    '0.5',
  ]);
  const ready = await cli.nextEvent('ready', 90_000);
  t.like(ready, { event: 'ready', redis: redis.server.url, mode: 'url', prefix: keys.prefix, concurrency: 2 });
  t.regex(String((ready['peerLookups'] as { address: string }).address), new RegExp(`^${host.replaceAll('.', '\\.')}:\\d+$`));
  t.is(await c.get(keys.schemaVersion), String(SCHEMA_VERSION));

  const queue = discoveryQueue(c, keys);
  t.teardown(() => queue.close());
  await addBatches(queue, [knownBatch(0, 20, 4)]);
  await waitUntil('the batch to be applied', async () => (await totalsIndexed(c, keys))['batches'] === 1);
  const stats = await cli.nextEvent('stats', 15_000);
  t.like(stats['queues'], { discoveries: { failed: 0 } });

  cli.child.kill('SIGTERM');
  const stopped = await cli.nextEvent('stopped', 20_000);
  t.like(stopped, { reason: 'SIGTERM', batchesApplied: 1, eventsApplied: 20 });
  const r = await cli.exit(60_000);
  t.is(r.code, 0, r.stderr);
});
