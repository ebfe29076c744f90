import { EventEmitter } from 'node:events';
import test from 'ava';
import Fastify, { type FastifyInstance } from 'fastify';
import { type KrpcSocketStats } from '../bep5/krpc-socket-types.js';
import { DhtNode } from '../bep5/node.js';
import { DhtscopeMetrics, type DhtscopeMetricsOptions } from '../server/metrics/dhtscope-metrics.js';
import { metricsExtension } from '../server/metrics/extension.js';
import {
  type BatchWriteObservation,
  type CrawlSnapshot,
  type MetricsSources,
  type NodeSnapshot,
  type ProducerSnapshot,
  type QueueDepthsSnapshot,
  type WorkerSnapshot,
} from '../server/metrics/sources.js';
import { type Family, parsePrometheusText, sampleSum, sampleValue } from './helpers/prometheus.js';
import { loopbackHost } from './helpers/udp.js';

/** Unit tests of GET /metrics (server/metrics/); the crawl end to end is in metrics-run.test.ts. */

async function serve(t: { teardown(fn: () => Promise<void>): void }, from: MetricsSources | DhtscopeMetrics, options: DhtscopeMetricsOptions = {}): Promise<FastifyInstance> {
  const app = Fastify();
  await metricsExtension(from, options)(app);
  t.teardown(() => app.close());
  return app;
}

async function scrape(app: FastifyInstance): Promise<Map<string, Family>> {
  const res = await app.inject({ method: 'GET', url: '/metrics' });
  if (res.statusCode !== 200) throw new Error(`GET /metrics: ${res.statusCode} ${res.body}`);
  if (!/^text\/plain; version=0\.0\.4/.test(String(res.headers['content-type']))) throw new Error(`content type ${res.headers['content-type']}`);
  return parsePrometheusText(res.body);
}

async function nodePair(t: { teardown(fn: () => Promise<void>): void }): Promise<{ a: DhtNode; b: DhtNode }> {
  const a = new DhtNode({ host: loopbackHost(), port: 0, bootstrap: [], allowPrivate: true, adoptBep42Id: false });
  await a.start();
  const { host, port } = a.address()!;
  const b = new DhtNode({ host: loopbackHost(), port: 0, bootstrap: [`${host}:${port}`], allowPrivate: true, adoptBep42Id: false });
  await b.start();
  t.teardown(async () => {
    await Promise.all([a.stop(), b.stop()]);
  });
  return { a, b };
}

const crawl = (n: number): CrawlSnapshot => ({ sweep: 1, known: 10 * n, answered: 5 * n, queued: 3, inflight: 2, queriesSent: 100 * n, infohashes: 7 * n, peers: n, pausedForSink: n % 2 === 0, sinkPausedMs: 1500 * n, forgotten: 40 * n });

const producer = (n: number): ProducerSnapshot => ({
  eventsWritten: 500 * n,
  batchesSealed: n,
  batchesDelivered: n,
  eventsDelivered: 500 * n,
  memoryBatches: 1,
  spooledBatches: 0,
  spooledBytes: 0,
  spoolBytes: 0,
  replayedBatches: 0,
  droppedEvents: 0,
  redisUp: true,
  outages: 0,
});

const workers = (n: number): WorkerSnapshot => ({
  discoveryJobsDone: n,
  discoveryJobsFailed: 0,
  batchesApplied: n,
  batchesDuplicate: 0,
  eventsApplied: 500 * n,
  eventsInvalid: 0,
  newInfohashes: 7 * n,
  stalledJobs: 0,
  peerLookupsDone: 2 * n,
  peerLookupsFailed: 1,
  peerLookupsQueued: 3 * n,
  peerLookupsSkipped: 0,
  peersFound: 4 * n,
  metadataQueued: 5 * n,
  metadataStored: 2 * n,
  metadataFailed: n,
});

const depths: QueueDepthsSnapshot = {
  discoveries: { waiting: 4, active: 1, delayed: 0, failed: 2 },
  peerLookups: { waiting: 9, active: 3, delayed: 1, failed: 0 },
  metadata: { waiting: 0, active: 6, delayed: 0, failed: 0 },
};

/** Prometheus naming: https://prometheus.io/docs/practices/naming/ */
function namingProblems(families: Map<string, Family>): string[] {
  const problems: string[] = [];
  for (const f of families.values()) {
    if (!f.name.startsWith('dhtscope_')) problems.push(`${f.name}: no dhtscope_ prefix`);
    if (f.help.trim() === '') problems.push(`${f.name}: no HELP`);
    if (f.type === 'untyped') problems.push(`${f.name}: no TYPE`);
    if (f.type === 'counter' && !f.name.endsWith('_total')) problems.push(`${f.name}: a counter without _total`);
    if (f.type !== 'counter' && f.name.endsWith('_total')) problems.push(`${f.name}: _total on a ${f.type}`);
    if (/_(ms|milliseconds|millis|us|minutes|hours|kb|mb|kilobytes|megabytes)(_|$)/.test(f.name)) problems.push(`${f.name}: not a base unit (seconds, bytes)`);
    if (f.type === 'histogram' && !/_(seconds|bytes)$/.test(f.name)) problems.push(`${f.name}: a histogram without its unit`);
    if (/[A-Z]/.test(f.name)) problems.push(`${f.name}: not snake_case`);
    for (const s of f.samples) {
      for (const [k, v] of Object.entries(s.labels)) {
        if (/[A-Z]/.test(k)) problems.push(`${f.name}: label ${k} not snake_case`);
        if (k !== 'le' && v.length > 40) problems.push(`${f.name}: label ${k}="${v}" looks unbounded`);
      }
    }
  }
  return problems;
}

test('the exposition parses, and every name follows the Prometheus conventions', async (t) => {
  const { a, b } = await nodePair(t);
  await b.bootstrap({ signal: AbortSignal.timeout(10_000) });
  await b.ping(a.address()!);
  const writes = new EventEmitter<{ 'batch-applied': [BatchWriteObservation] }>();
  const app = await serve(t, {
    node: () => b.stats(),
    rpcEvents: () => b,
    crawl: () => crawl(1),
    producer: () => producer(1),
    retention: () => ({ passes: 3, pruned: 1200, conflicts: 2, failures: 1 }),
    workers: () => workers(1),
    queues: async () => depths,
    batchWrites: () => writes,
  });
  await b.ping(a.address()!); // after the extension subscribed
  writes.emit('batch-applied', { events: 500, ms: 3.5 });
  // A BEP 44 item that a stores at b, its one contact.
  const put = await a.putImmutable('hello metrics', { signal: AbortSignal.timeout(10_000) });
  t.is(put.storedAt.length, 1);

  const m = await scrape(app);
  t.deepEqual(namingProblems(m), []);
  // One of each kind of source made it through.
  t.true(sampleValue(m, 'dhtscope_krpc_datagrams_total', { family: 'ipv4', direction: 'out' })! >= 2);
  t.true(sampleValue(m, 'dhtscope_krpc_queries_total', { family: 'ipv4', direction: 'out', method: 'ping' })! >= 2);
  t.true(sampleValue(m, 'dhtscope_krpc_messages_total', { family: 'ipv4', direction: 'in', type: 'response' })! >= 2);
  t.is(sampleValue(m, 'dhtscope_routing_table_nodes', { family: 'ipv4' }), 1);
  t.is(sampleValue(m, 'dhtscope_krpc_rpc_duration_seconds_count', { family: 'ipv4', method: 'ping' }), 1);
  t.is(sampleValue(m, 'dhtscope_krpc_rpc_duration_seconds_bucket', { family: 'ipv4', method: 'ping', le: '+Inf' }), 1);
  t.is(sampleValue(m, 'dhtscope_crawl_queries_total'), 100);
  t.is(sampleValue(m, 'dhtscope_crawl_nodes', { state: 'answered' }), 5);
  t.is(sampleValue(m, 'dhtscope_producer_events_written_total'), 500);
  t.is(sampleValue(m, 'dhtscope_producer_redis_up'), 1);
  t.is(sampleValue(m, 'dhtscope_crawl_paused'), 0);
  t.is(sampleValue(m, 'dhtscope_crawl_paused_seconds_total'), 1.5);
  t.is(sampleValue(m, 'dhtscope_crawl_nodes_forgotten_total'), 40);
  t.is(sampleValue(m, 'dhtscope_retention_infohashes_pruned_total'), 1200);
  t.is(sampleValue(m, 'dhtscope_retention_failures_total'), 1);
  t.is(sampleValue(m, 'dhtscope_worker_jobs_total', { queue: 'peer_lookups', outcome: 'failed' }), 1);
  t.is(sampleValue(m, 'dhtscope_queue_jobs', { queue: 'peer_lookups', state: 'waiting' }), 9);
  t.is(sampleValue(m, 'dhtscope_queue_jobs', { queue: 'metadata', state: 'active' }), 6);
  t.is(m.get('dhtscope_queue_jobs')!.samples.length, 12, 'three queues, four states');
  t.is(sampleValue(m, 'dhtscope_worker_metadata_fetches_total', { outcome: 'stored' }), 2);
  t.is(sampleValue(m, 'dhtscope_redis_batch_write_duration_seconds_count'), 1);
  t.is(sampleValue(m, 'dhtscope_redis_batch_write_duration_seconds_sum'), 0.0035);
  t.is(sampleValue(m, 'dhtscope_redis_batch_write_duration_seconds_bucket', { le: '0.005' }), 1);
  t.is(sampleValue(m, 'dhtscope_redis_batch_write_duration_seconds_bucket', { le: '0.0025' }), 0);
  t.is(m.get('dhtscope_krpc_rpc_duration_seconds')?.type, 'histogram');
  t.is(m.get('dhtscope_queue_jobs')?.type, 'gauge');
  t.is(sampleValue(m, 'dhtscope_bep44_items'), 1);
  t.true(sampleValue(m, 'dhtscope_bep44_item_bytes')! >= 'hello metrics'.length);
});

test('counters follow the running totals of their sources; a total that drops counts as a restart, never down', async (t) => {
  let n = 1;
  const app = await serve(t, { crawl: () => crawl(n), workers: () => workers(n) });
  const first = await scrape(app);
  n = 3;
  const second = await scrape(app);
  t.is(sampleValue(first, 'dhtscope_crawl_queries_total'), 100);
  t.is(sampleValue(second, 'dhtscope_crawl_queries_total'), 300);
  t.is(sampleValue(second, 'dhtscope_crawl_paused'), 0);
  t.is(sampleValue(second, 'dhtscope_worker_jobs_total', { queue: 'discoveries', outcome: 'done' }), 3);
  n = 2; // the source was replaced and counts from 0 again: 200 more queries
  const third = await scrape(app);
  t.is(sampleValue(third, 'dhtscope_crawl_queries_total'), 500);
  t.is(sampleValue(third, 'dhtscope_crawl_nodes', { state: 'known' }), 20, 'gauges just show the current value');
  t.is(sampleValue(third, 'dhtscope_crawl_paused'), 1);
  // Unchanged totals: unchanged counters (and series with 0 are exposed, so rates start at once).
  const fourth = await scrape(app);
  t.is(sampleValue(fourth, 'dhtscope_crawl_queries_total'), 500);
  t.is(sampleValue(fourth, 'dhtscope_worker_jobs_total', { queue: 'discoveries', outcome: 'failed' }), 0);
});

test('label values stay in fixed sets whatever the snapshots and events hold', async (t) => {
  const { b } = await nodePair(t);
  const real = b.stats().families.ipv4!;
  const socket: KrpcSocketStats = {
    ...real.socket,
    queriesIn: { ping: 2, 'evil"\nmethod': 5, __proto__x: 1 },
    queriesOut: { get_peers: 4 },
    errorsOut: { 202: 1, 999: 3, [-5]: 1 },
    errorsInByCode: { '203': 2, other: 7 },
  };
  const snapshot: NodeSnapshot = { families: { ipv4: { ...real, socket }, ipv9: { ...real, socket }, 'x"y': { ...real, socket } } };
  const metrics = new DhtscopeMetrics({ node: () => snapshot });
  metrics.observeRpc({ family: 4, method: 'vote', rttMs: 12 });
  metrics.observeRpc({ family: 4, method: 'ping', rttMs: Number.NaN });
  metrics.observeRpc({ family: 4, method: 'ping', rttMs: -1 });
  metrics.observeRpc({ family: 5, method: 'ping', rttMs: 1 });
  metrics.observeBatchWrite({ events: 1, ms: Number.POSITIVE_INFINITY });
  const m = await scrape(await serve(t, metrics));

  const values = (name: string, label: string): string[] => [...new Set(m.get(name)!.samples.map((s) => s.labels[label]!))].sort();
  for (const name of ['dhtscope_krpc_datagrams_total', 'dhtscope_krpc_queries_total', 'dhtscope_krpc_errors_total', 'dhtscope_routing_table_nodes']) {
    t.deepEqual(values(name, 'family'), ['ipv4'], name);
  }
  t.deepEqual(values('dhtscope_krpc_queries_total', 'method'), ['announce_peer', 'find_node', 'get', 'get_peers', 'other', 'ping', 'put', 'sample_infohashes']);
  t.deepEqual(values('dhtscope_krpc_errors_total', 'code'), ['201', '202', '203', '204', '205', '206', '207', '301', '302', 'other']);
  t.is(sampleValue(m, 'dhtscope_krpc_queries_total', { direction: 'in', method: 'other' }), 6);
  t.is(sampleValue(m, 'dhtscope_krpc_messages_total', { direction: 'in', type: 'query' }), 8);
  t.is(sampleValue(m, 'dhtscope_krpc_errors_total', { direction: 'out', code: 'other' }), 4);
  t.is(sampleValue(m, 'dhtscope_krpc_errors_total', { direction: 'in', code: 'other' }), 7);
  t.deepEqual(
    m.get('dhtscope_krpc_rpc_duration_seconds')!.samples.filter((s) => s.name.endsWith('_count')).map((s) => [s.labels.family, s.labels.method, s.value]),
    [['ipv4', 'other', 1]],
    'only the well-formed observation, its method as "other"',
  );
  t.is(sampleValue(m, 'dhtscope_redis_batch_write_duration_seconds_count'), 0);
  t.true(sampleSum(m, 'dhtscope_krpc_dropped_datagrams_total') >= 0);
  t.deepEqual(namingProblems(m), []);
});

test('metrics of a source that is not given are left out; a failing source is counted and the scrape still answers', async (t) => {
  let fail = false;
  const app = await serve(
    t,
    {
      crawl: () => {
        if (fail) throw new Error('boom');
        return crawl(1);
      },
      workers: () => undefined, // not started yet
      queues: () => new Promise<QueueDepthsSnapshot>(() => undefined), // Redis does not answer
    },
    { queueDepthsTimeoutMs: 50 },
  );
  const first = await scrape(app);
  t.false(first.has('dhtscope_krpc_datagrams_total'), 'no node source: no node metrics');
  t.false(first.has('dhtscope_producer_events_written_total'));
  t.is(sampleValue(first, 'dhtscope_crawl_queries_total'), 100);
  t.deepEqual(first.get('dhtscope_queue_jobs')!.samples, [], 'no stale or invented queue depths');
  t.is(sampleValue(first, 'dhtscope_metrics_source_errors_total', { source: 'queues' }), 1);
  fail = true;
  const second = await scrape(app);
  t.is(sampleValue(second, 'dhtscope_crawl_queries_total'), 100, 'the last values stay');
  t.is(sampleValue(second, 'dhtscope_metrics_source_errors_total', { source: 'crawl' }), 1);
  t.is(sampleValue(second, 'dhtscope_metrics_source_errors_total', { source: 'queues' }), 2);
});

test('event sources are followed as they appear and change, and let go when the server closes', async (t) => {
  const { a, b } = await nodePair(t);
  let current: DhtNode | undefined;
  const app = Fastify();
  await metricsExtension({ rpcEvents: () => current })(app);
  t.is(b.listenerCount('rpc'), 0);
  current = b;
  await scrape(app); // picks b up
  t.is(b.listenerCount('rpc'), 1);
  await b.ping(a.address()!);
  current = a;
  const m = await scrape(app);
  t.is(sampleValue(m, 'dhtscope_krpc_rpc_duration_seconds_count', { method: 'ping' }), 1);
  t.is(b.listenerCount('rpc'), 0, 'moved from b');
  t.is(a.listenerCount('rpc'), 1, 'to a');
  await app.close();
  t.is(a.listenerCount('rpc'), 0);
});

test('two servers in one process keep separate registries, process metrics included', async (t) => {
  const one = await serve(t, { crawl: () => crawl(1) }, { processMetrics: true });
  const two = await serve(t, { crawl: () => crawl(2) }, { processMetrics: true });
  const [m1, m2] = await Promise.all([scrape(one), scrape(two)]);
  t.is(sampleValue(m1, 'dhtscope_crawl_queries_total'), 100);
  t.is(sampleValue(m2, 'dhtscope_crawl_queries_total'), 200);
  t.true(m1.has('process_cpu_seconds_total') && m1.has('nodejs_eventloop_lag_seconds'), 'the standard process metrics');
  const ours = new Map([...m2].filter(([name]) => !name.startsWith('process_') && !name.startsWith('nodejs_')));
  t.deepEqual(namingProblems(ours), []);
});
