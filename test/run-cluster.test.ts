import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SCHEMA_VERSION } from '../indexer/keys.js';
import { startRedisCluster } from '../testkit/redis-cluster.js';
import { startCli } from './helpers/cli.js';
import { randomPrefix } from './helpers/redis.js';
import { pollValue } from './helpers/wait.js';

/**
 * The main job on a real Redis Cluster (3 masters, 3 replicas, AOF): `dhtscope run --testnet`
 * with REDIS_URL pointing at the cluster. The index spreads over every master; a master is
 * SIGKILLed mid-crawl, its replica takes over, and the crawl goes on into the index. (That a
 * batch in flight during a failover is applied exactly once is sharded-failover.test.ts's
 * subject.) Addresses: 127.182.x.y.
 */

interface Stats {
  infohashes: number;
  totals: Record<string, number>;
}

test('run --testnet on a 3-master cluster: the index spreads over the masters and survives a failover', async (t) => {
  t.timeout(300_000);
  const cluster = await startRedisCluster();
  t.teardown(() => cluster.stop());
  const dir = await mkdtemp(join(tmpdir(), 'dhtscope-run-cluster-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const prefix = randomPrefix();
  const run = startCli(t, [
    'run', '--testnet', '200', '--testnet-infohashes', '600', '--testnet-address-base', '182',
    '--api-port', '0', '--prefix', prefix, '--data-dir', dir, '--json', '--stats-interval', '2',
  ], { env: { ...process.env, REDIS_URL: cluster.url } });
  const ready = JSON.parse(await run.nextLine(120_000)) as { event: string; api: string; schemaVersion: number };
  t.is(ready.event, 'ready');
  t.is(ready.schemaVersion, SCHEMA_VERSION);
  const stats = async (): Promise<Stats> => (await (await fetch(`${ready.api}/api/stats`)).json()) as Stats;

  // Most of the testnet's infohashes first: each has its own record bucket key, spread like the infohashes.
  const before = await pollValue('500 infohashes indexed', stats, (s) => s.infohashes >= 500, 120_000);
  // The index's shard keys, not BullMQ's (`{<prefix>:bull}`, one slot of their own). A fifth of
  // them are batch markers, which follow the batches' shard groups rather than the infohashes:
  // with a few dozen batches their share per master wanders, and evens out as batches add up.
  const readSpread = async (): Promise<Array<{ port: number; keys: number }>> => {
    const all = await cluster.keysPerMaster(`{${prefix}:*`);
    const queues = await cluster.keysPerMaster(`{${prefix}:bull}*`);
    return all.map((m, i) => ({ port: m.port, keys: m.keys - queues[i]!.keys }));
  };
  const within = (spread: Array<{ keys: number }>): boolean => {
    const sum = spread.reduce((n, m) => n + m.keys, 0);
    return spread.every((m) => m.keys / sum >= 0.25 && m.keys / sum <= 0.42);
  };
  const spread = await pollValue('index keys spread over the masters', readSpread, within, 60_000, 1_000);
  const total = spread.reduce((n, m) => n + m.keys, 0);
  t.log(`before the failover: ${before.infohashes} infohashes; index keys per master ${spread.map((m) => `${m.keys} (${((100 * m.keys) / total).toFixed(1)}%)`).join(', ')}`);
  for (const m of spread) t.true(m.keys / total >= 0.25 && m.keys / total <= 0.42, `master ${m.port}: ${m.keys} of ${total} index keys`);

  await cluster.killMaster(0);
  const failoverMs = await cluster.waitForFailover();
  // The crawl goes on through the promoted replica: more batches land after the failover.
  const after = await pollValue('batches applied after the failover', stats, (s) => (s.totals['batches'] ?? 0) > (before.totals['batches'] ?? 0) + 5, 120_000);
  t.log(`failover ${failoverMs} ms; after: ${after.infohashes} infohashes, ${after.totals['batches']} batches`);
  t.true(after.infohashes >= before.infohashes);

  // An infohash answers through the API, whichever master holds it.
  const page = (await (await fetch(`${ready.api}/api/infohashes?sort=recent&limit=50`)).json()) as { items: Array<{ infohash: string }> };
  t.true(page.items.length > 0);
  for (const { infohash } of page.items.slice(0, 20)) t.is((await fetch(`${ready.api}/api/infohashes/${infohash}`)).status, 200);

  run.child.kill('SIGTERM');
  const result = await run.exited;
  t.is(result.code, 0, result.stderr);
  const stopped = result.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>).filter((e) => e['event'] === 'stopped');
  t.is(stopped.length, 1);
});
