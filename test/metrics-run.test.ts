import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { startCli } from './helpers/cli.js';
import { type Family, parsePrometheusText, sampleSum, sampleValue } from './helpers/prometheus.js';
import { randomPrefix, startRedisServer } from './helpers/redis.js';
import { pollValue } from './helpers/wait.js';

/**
 * The test: a real `dhtscope run --testnet` process, its /metrics scraped during the
 * crawl; packet, crawl, job and latency counters must move between two scrapes. Addresses:
 * 127.210.x.y.
 */

async function scrape(api: string): Promise<Map<string, Family>> {
  const res = await fetch(`${api}/metrics`);
  if (res.status !== 200) throw new Error(`GET /metrics: ${res.status} ${await res.text()}`);
  if (!/^text\/plain; version=0\.0\.4/.test(res.headers.get('content-type') ?? '')) throw new Error(`content type ${res.headers.get('content-type')}`);
  return parsePrometheusText(await res.text());
}

/** What must grow during a crawl, read from one scrape. */
function movingCounters(m: Map<string, Family>): Record<string, number> {
  return {
    packetsOut: sampleSum(m, 'dhtscope_krpc_datagrams_total', { direction: 'out' }),
    queriesOut: sampleSum(m, 'dhtscope_krpc_queries_total', { direction: 'out' }),
    crawlQueries: sampleValue(m, 'dhtscope_crawl_queries_total') ?? 0,
    discoveryJobsDone: sampleValue(m, 'dhtscope_worker_jobs_total', { queue: 'discoveries', outcome: 'done' }) ?? 0,
    eventsDelivered: sampleValue(m, 'dhtscope_producer_events_delivered_total') ?? 0,
    rpcReplies: sampleSum(m, 'dhtscope_krpc_rpc_duration_seconds_count'),
  };
}

test('GET /metrics during a dhtscope run crawl: counters move between scrapes, queue depths are there', async (t) => {
  t.timeout(180_000);
  const redis = await startRedisServer();
  const dir = await mkdtemp(join(tmpdir(), 'dhtscope-metrics-run-'));
  t.teardown(async () => {
    await redis.stop();
    await rm(dir, { recursive: true, force: true });
  });
  const run = startCli(t, [
    'run', '--testnet', '120', '--testnet-address-base', '210', '--api-port', '0', '--port', '0', '--json',
    '--redis-url', redis.url, '--prefix', randomPrefix(), '--data-dir', dir,
  ]);
  const ready = JSON.parse(await run.nextLine(120_000)) as { event: string; api: string };
  t.is(ready.event, 'ready');

  const first = await scrape(ready.api);
  const before = movingCounters(first);
  // Poll until every counter has moved (the machine may be slow), then judge the last scrape.
  const moved = (counters: Record<string, number>): boolean => Object.keys(before).every((k) => counters[k]! > before[k]!);
  let last = first;
  const after = await pollValue(
    'every counter to move',
    async () => movingCounters((last = await scrape(ready.api))),
    moved,
    120_000,
    2_000,
  ).catch(() => movingCounters(last)); // judged below, counter by counter
  for (const k of Object.keys(before)) t.true(after[k]! > before[k]!, `${k} moved: ${before[k]} -> ${after[k]}`);

  // The gauges of the other parts are there too.
  for (const state of ['waiting', 'active', 'delayed', 'failed']) {
    for (const queue of ['discoveries', 'peer_lookups']) {
      t.not(sampleValue(last, 'dhtscope_queue_jobs', { queue, state }), undefined, `queue depth ${queue}/${state}`);
    }
  }
  t.true(sampleValue(last, 'dhtscope_routing_table_nodes', { family: 'ipv4' })! > 0);
  t.true(sampleValue(last, 'dhtscope_crawl_nodes', { state: 'answered' })! > 0);
  // Not required to move: a 120-node testnet's infohashes can all be found before the first scrape.
  t.true(sampleValue(last, 'dhtscope_crawl_infohashes_total')! > 0);
  t.is(sampleValue(last, 'dhtscope_producer_redis_up'), 1);
  t.true(last.has('process_cpu_seconds_total'), 'the Node.js process metrics');
  t.is(sampleSum(last, 'dhtscope_krpc_failures_total', { kind: 'internal' }), 0);

  run.child.kill('SIGTERM');
  const exit = await run.exit(60_000);
  t.is(exit.code, 0, exit.stderr);
});
