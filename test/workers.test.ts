import test, { type ExecutionContext } from 'ava';
import { Queue } from 'bullmq';
import { tmpdir } from 'node:os';
import { DhtNode } from '../bep5/node.js';
import { type DhtNodeOptions } from '../bep5/node-types.js';
import { randomId } from '../bep5/node-id.js';
import { seededRandom } from '../bep5/random.js';
import { type Discovery } from '../crawler/discovery.js';
import { IndexKeys, SCHEMA_VERSION } from '../indexer/keys.js';
import { connectRedis } from '../redis/connection.js';
import { ensureSchema } from '../migrations/runner.js';
import { createDiscoveryProcessor } from '../workers/discovery-processor.js';
import { type PeerLookupJob, queueNames } from '../workers/queues.js';
import { startWorkers } from '../workers/worker-set.js';
import { type StartWorkersOptions } from '../workers/worker-set-types.js';
import { addBatches, discoveryQueue, expectedSightings, IH, knownBatch, T0, waitUntil } from './fixtures/discovery-batches.js';
import { randomPrefix, snapshot, startRedisServer, useRedisServer } from './helpers/redis.js';
import { loopbackHost } from './helpers/udp.js';
import { getIndexed, totalsIndexed } from './helpers/index-writes.js';
import { ShardedIndexKeys } from '../indexer/sharded-keys.js';
import { setShardedSchemaVersion } from '../indexer/sharded-queries.js';

const redis = useRedisServer(test);

/** A migrated index under a prefix of its own, a running worker set on it, and a producer-side queue. */
async function setup(t: ExecutionContext, options: Partial<StartWorkersOptions> = {}) {
  const connection = await connectRedis({ url: redis.server.url, dataDir: tmpdir(), defaultAddress: null });
  t.teardown(() => connection.close());
  const keys = new IndexKeys(randomPrefix());
  await ensureSchema(connection.client, keys, { migrate: true });
  const logs: string[] = [];
  const set = await startWorkers({ connection, keys, log: (l) => logs.push(l), ...options });
  t.teardown(() => set.close());
  const c = redis.client(t, { maxRetriesPerRequest: null });
  const queue = discoveryQueue(c, keys);
  t.teardown(() => queue.close());
  return { connection, keys, set, c, queue, logs };
}

async function jobState(queue: Queue, id: string): Promise<string> {
  return (await queue.getJob(id))?.getState() ?? 'missing';
}

const completed = (queue: Queue, id: string): Promise<boolean> => jobState(queue, id).then((s) => s === 'completed');

test('a batch processed twice leaves the same state and exact counts', async (t) => {
  const { set, c, keys, queue } = await setup(t);
  const batch = knownBatch(0, 200, 30);
  await addBatches(queue, [batch]);
  await waitUntil('the batch to complete', () => completed(queue, batch.id));
  const sums = await totalsIndexed(c, keys);
  t.is(sums['events:infohash'], 180);
  t.is(sums['events:node'], 20);
  t.is(sums['batches'], 1);
  for (const [ih, seen] of expectedSightings(1, 200, 30)) t.is((await getIndexed(c, keys, ih))?.seen, seen, ih);
  const before = await snapshot(c, keys.prefix);

  // The same batch delivered again (a spool replay after its job was cleaned up).
  await (await queue.getJob(batch.id))!.remove();
  await addBatches(queue, [batch]);
  await waitUntil('the second delivery to complete', () => completed(queue, batch.id));
  await waitUntil('the duplicate to be counted', () => set.stats().batchesDuplicate === 1);
  t.deepEqual(await snapshot(c, keys.prefix), before);
  t.like(set.stats(), { discoveryJobsDone: 2, batchesApplied: 1, batchesDuplicate: 1, eventsApplied: 200, discoveryJobsFailed: 0 });
});

test('the processor run twice on one job applies the batch once', async (t) => {
  const { c, keys } = await redis.freshIndex(t);
  const processBatch = createDiscoveryProcessor({ client: c, keys });
  const job = { data: knownBatch(3, 50, 7) };
  const first = await processBatch(job);
  const state = await snapshot(c, keys.prefix);
  const second = await processBatch(job);
  t.like(first, { applied: true, events: 50, invalid: 0 });
  t.like(second, { applied: false });
  t.deepEqual(await snapshot(c, keys.prefix), state);
  t.is((await totalsIndexed(c, keys))['events:infohash'], 45);
});

test('malformed job data fails at once, without using its retries', async (t) => {
  const { set, queue, c, keys, logs } = await setup(t);
  await queue.add('batch', { id: 'not-a-batch-id', events: 'nope' } as never, { jobId: 'bad-1', attempts: 5, backoff: { type: 'fixed', delay: 10 } });
  await queue.add('batch', { id: 'a'.repeat(40), events: {} } as never, { jobId: 'bad-2', attempts: 5 });
  await queue.add('batch', [1, 2, 3] as never, { jobId: 'bad-3', attempts: 5 });
  for (const id of ['bad-1', 'bad-2', 'bad-3']) {
    await waitUntil(`${id} to fail`, async () => (await jobState(queue, id)) === 'failed');
    const job = (await queue.getJob(id))!;
    t.is(job.attemptsMade, 1, id);
    t.regex(job.failedReason, /discovery job/);
  }
  // Malformed events inside a well-formed batch are skipped and counted, not fatal.
  const events = [{ type: 'infohash', infohash: IH(1), node: '10.0.0.1:1', source: 'sample', at: T0 }, { type: 'infohash', infohash: 'zz' }, null, 'x'];
  await addBatches(queue, [{ id: 'b'.repeat(40), events: events as Discovery[] }]);
  await waitUntil('the batch with bad events to complete', () => completed(queue, 'b'.repeat(40)));
  t.like(await totalsIndexed(c, keys), { 'events:infohash': 1, 'events:invalid': 3 });
  t.like(set.stats(), { discoveryJobsFailed: 3, eventsApplied: 1, eventsInvalid: 3 });
  t.true(logs.some((l) => /^discovery job bad-1 failed \(attempt 1 of 5\): /.test(l)), logs.join('\n'));
});

test('a job that meets a Redis error is retried with backoff, then applied exactly once', async (t) => {
  const { set, queue, c, keys } = await setup(t);
  // A real error from the real server: every shard's schema version key holds a hash, so each
  // shard's first command (GET) fails with WRONGTYPE before it writes anything.
  const shards = ShardedIndexKeys.of(keys.prefix).shards;
  for (const s of shards) {
    await c.del(s.schemaVersion);
    await c.hset(s.schemaVersion, 'oops', '1');
  }
  const batch = knownBatch(1, 100, 10);
  await addBatches(queue, [batch]);
  const job = await waitUntil('a failed attempt', async () => {
    const j = await queue.getJob(batch.id);
    return j !== undefined && j.attemptsMade >= 1 && (await j.getState()) === 'delayed' ? j : null;
  });
  t.regex(job.failedReason, /WRONGTYPE/);
  t.is(await c.exists(...shards.flatMap((s) => [s.applied(batch.id), s.appliedBatch(batch.id)])), 0, 'nothing was written');
  for (const s of shards) {
    await c.del(s.schemaVersion);
    await c.set(s.schemaVersion, String(SCHEMA_VERSION));
  }
  await waitUntil('the retry to complete', () => completed(queue, batch.id));
  t.true((await queue.getJob(batch.id))!.attemptsMade >= 2);
  t.like(await totalsIndexed(c, keys), { 'events:infohash': 90, 'events:node': 10, batches: 1 });
  t.true(set.stats().discoveryJobsFailed >= 1);
});

test('a database at another schema version fails the job without retry and stops the workers', async (t) => {
  let fatal: Error | undefined;
  const { set, queue, c, keys } = await setup(t, { onFatal: (err) => (fatal = err) });
  // As a later migration would leave it: the index and every shard at the next version.
  await c.set(keys.schemaVersion, String(SCHEMA_VERSION + 1));
  await setShardedSchemaVersion(c, ShardedIndexKeys.of(keys.prefix), SCHEMA_VERSION + 1);
  const [first, second] = [knownBatch(4, 10, 3), knownBatch(5, 10, 3)];
  await addBatches(queue, [first]);
  await waitUntil('the job to fail', async () => (await jobState(queue, first.id)) === 'failed');
  t.is((await queue.getJob(first.id))!.attemptsMade, 1);
  t.regex(fatal?.message ?? '', /newer than this dhtscope knows/);
  t.regex(set.stats().fatal ?? '', /upgrade dhtscope/);
  // The worker took no more jobs: the next one waits for a worker that knows the schema.
  await addBatches(queue, [second]);
  const depths = await set.queueDepths();
  t.like(depths.discoveries, { waiting: 1, active: 0, failed: 1 });
  t.is(await jobState(queue, second.id), 'waiting');
});

test('close() returns when Redis is gone, giving up the jobs it cannot finish', async (t) => {
  const server = await startRedisServer();
  t.teardown(() => server.stop());
  const connection = await connectRedis({ url: server.url, dataDir: tmpdir(), defaultAddress: null, onLog: () => undefined });
  const keys = new IndexKeys(randomPrefix());
  await ensureSchema(connection.client, keys, { migrate: true });
  const set = await startWorkers({ connection, keys, shutdownGraceMs: 300 });
  await server.kill();
  await waitUntil('the clients to be between reconnect attempts', () => connection.client.status === 'reconnecting');
  // Whether BullMQ's own close() gets stuck depends on where ioredis is in its reconnect
  // cycle; either way ours must return (a bound far above grace + the 1 s waits).
  const closed = await Promise.race([set.close().then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 20_000))]);
  t.true(closed);
  // The caller's client stops reconnecting (connection.close() would wait for Redis).
  connection.client.disconnect();
});

// ---------------------------------------------------------------------------------------
// Peer lookups on a small network of real nodes over loopback UDP

function nodeOptions(extra: DhtNodeOptions): DhtNodeOptions {
  return { host: loopbackHost(), port: 0, allowPrivate: true, outgoingRate: 100_000, outgoingBurst: 100_000, adoptBep42Id: false, ...extra };
}

const addr = (n: DhtNode): string => `${n.address()!.host}:${n.address()!.port}`;

/** `size` nodes that know each other, plus a read-only client node joined to them. */
async function network(t: ExecutionContext, size: number, client: DhtNodeOptions = {}): Promise<{ nodes: DhtNode[]; client: DhtNode }> {
  const nodes: DhtNode[] = [];
  t.teardown(() => Promise.all(nodes.map((n) => n.stop())));
  const random = seededRandom(99);
  const first = new DhtNode(nodeOptions({ bootstrap: [], id: randomId(random) }));
  await first.start();
  nodes.push(first);
  for (let i = 1; i < size; i++) {
    const n = new DhtNode(nodeOptions({ bootstrap: [addr(first)], id: randomId(random) }));
    await n.start();
    nodes.push(n);
    await n.bootstrap({ signal: AbortSignal.timeout(10_000) });
  }
  const c = new DhtNode(nodeOptions({ bootstrap: [addr(first)], readOnly: true, ...client }));
  await c.start();
  nodes.push(c);
  await c.bootstrap({ signal: AbortSignal.timeout(10_000) });
  return { nodes, client: c };
}

function lookupQueue(t: ExecutionContext, keys: IndexKeys): Queue<PeerLookupJob> {
  const names = queueNames(keys);
  const q = new Queue<PeerLookupJob>(names.peerLookups, { connection: redis.client(t, { maxRetriesPerRequest: null }), prefix: names.bullPrefix });
  q.on('error', () => undefined);
  t.teardown(() => q.close());
  return q;
}

test('an infohash seen without peers gets one lookup per window, which stores the peers the DHT has', async (t) => {
  const { nodes, client } = await network(t, 8);
  const announced = randomId(seededRandom(5)).toString('hex');
  const unknown = randomId(seededRandom(6)).toString('hex');
  const outcome = await nodes[3]!.announce(Buffer.from(announced, 'hex'), { port: 51413 });
  t.true(outcome.announced.length > 0);
  const { set, queue, c, keys } = await setup(t, { peerLookups: { node: client } });
  const lookups = lookupQueue(t, keys);

  const sight = (ih: string, at: number): Discovery => ({ type: 'infohash', infohash: ih, node: '10.9.9.9:6881', source: 'sample', at });
  await addBatches(queue, [{ id: '1'.repeat(40), events: [sight(announced, T0), sight(unknown, T0)] }]);
  const peer = `${nodes[3]!.address()!.host}:51413`;
  const record = await waitUntil('the announced peer in the index', async () => {
    const r = await getIndexed(c, keys, announced);
    return r?.peers.some((p) => p.address === peer) ? r : null;
  });
  t.is(record.seen, 1, 'a lookup is not a sighting');
  await waitUntil('both lookups to finish', () => set.stats().peerLookupsDone === 2);
  t.is((await getIndexed(c, keys, unknown))?.peerCount, 0);

  // Seen again in the same window: the infohash with peers needs none, the other was claimed for
  // this window already (in its record) and is not queued again.
  await addBatches(queue, [{ id: '2'.repeat(40), events: [sight(announced, T0 + 1), sight(unknown, T0 + 1)] }]);
  await waitUntil('the second batch', () => completed(queue, '2'.repeat(40)));
  const jobs = await lookups.getJobs(['waiting', 'active', 'delayed', 'completed', 'failed']);
  t.deepEqual(jobs.map((j) => j.data.infohash).sort(), [announced, unknown].sort());
  t.like(set.stats(), { peerLookupsQueued: 2, peerLookupsDone: 2, peerLookupsFailed: 0 });
  t.like((await set.queueDepths()).peerLookups, { waiting: 0, active: 0, failed: 0 });
});

test('close() waits for a running lookup to finish', async (t) => {
  // The client's only contact stops answering, so its lookup runs until the query timeout.
  const { nodes, client } = await network(t, 1, { queryTimeoutMs: 1_500 });
  await nodes[0]!.stop();
  const { set, keys } = await setup(t, { peerLookups: { node: client } });
  const lookups = lookupQueue(t, keys);
  const ih = randomId(seededRandom(8)).toString('hex');
  await lookups.add('lookup', { infohash: ih }, { jobId: `${ih}-1`, attempts: 3 });
  await waitUntil('the lookup to run', async () => (await jobState(lookups, `${ih}-1`)) === 'active', 20_000, 5);
  await set.close();
  t.is(await jobState(lookups, `${ih}-1`), 'completed');
  t.is(set.stats().peerLookupsDone, 1);
});

test('close() cancels a lookup still running after the grace period; it is retried later', async (t) => {
  const { nodes, client } = await network(t, 1, { queryTimeoutMs: 30_000 });
  await nodes[0]!.stop();
  const { set, keys, logs } = await setup(t, { peerLookups: { node: client }, shutdownGraceMs: 200 });
  const lookups = lookupQueue(t, keys);
  const ih = randomId(seededRandom(9)).toString('hex');
  await lookups.add('lookup', { infohash: ih }, { jobId: `${ih}-1`, attempts: 3, backoff: { type: 'fixed', delay: 60_000 } });
  await waitUntil('the lookup to run', async () => (await jobState(lookups, `${ih}-1`)) === 'active', 20_000, 5);
  await set.close();
  const job = (await lookups.getJob(`${ih}-1`))!;
  t.is(await job.getState(), 'delayed');
  t.is(job.attemptsMade, 1);
  t.true(logs.some((l) => l.startsWith('workers still busy after 200 ms')), logs.join('\n'));
});

test('peer lookups wait for the node to join without spending attempts, then complete; a node that loses its contacts puts jobs back untouched', async (t) => {
  t.timeout(90_000);
  const { nodes } = await network(t, 6);
  const lonely = new DhtNode(nodeOptions({ bootstrap: [] }));
  await lonely.start();
  t.teardown(() => lonely.stop());
  const verbose: string[] = [];
  const { keys, set, logs } = await setup(t, { peerLookups: { node: lonely }, verboseLog: (l) => verbose.push(l) });
  const lookups = lookupQueue(t, keys);
  t.true(set.stats().peerLookupsWaitingForNode, 'no contacts: the lookup worker takes no job');
  const ihs = [1, 2, 3].map((i) => randomId(seededRandom(40 + i)).toString('hex'));
  for (const ih of ihs) await lookups.add('lookup', { infohash: ih }, { jobId: ih, attempts: 2 });
  await lookups.add('lookup', { infohash: 'XYZ' }, { jobId: 'bad', attempts: 3 });
  // A job is only taken once the node joins: what was queued meanwhile is untouched.
  for (const id of [...ihs, 'bad']) t.is(await jobState(lookups, id), 'waiting', id);

  // The node joins (a contact that answers our ping enters the table).
  await lonely.ping({ host: nodes[0]!.address()!.host, port: nodes[0]!.address()!.port });
  await waitUntil('every lookup to complete', async () => (await Promise.all(ihs.map((ih) => jobState(lookups, ih)))).every((st) => st === 'completed'), 30_000);
  await waitUntil('the malformed job to fail', async () => (await jobState(lookups, 'bad')) === 'failed');
  for (const ih of ihs) t.is((await lookups.getJob(ih))!.failedReason ?? '', '', 'never failed');
  t.regex((await lookups.getJob('bad'))!.failedReason, /40 lowercase hex/);
  t.like(set.stats(), { peerLookupsWaitingForNode: false, peerLookupsDone: 3, peerLookupsFailed: 1, peerLookupsDeferred: 0 });

  // The node loses every contact: a job taken now goes back to the delayed set, attempts unspent.
  for (const c of lonely.table()!.closest(lonely.id, 1_000)) lonely.table()!.remove(c.id);
  t.is(lonely.table()!.size, 0);
  const late = randomId(seededRandom(50)).toString('hex');
  await lookups.add('lookup', { infohash: late }, { jobId: late, attempts: 1 });
  await waitUntil('the job to be put back', async () => set.stats().peerLookupsDeferred >= 1 && (await jobState(lookups, late)) === 'delayed');
  const parked = (await lookups.getJob(late))!;
  t.is(parked.attemptsMade, 0, 'no attempt spent');
  t.falsy(parked.failedReason);
  await lonely.ping({ host: nodes[1]!.address()!.host, port: nodes[1]!.address()!.port });
  await waitUntil('the put-back job to complete once due', async () => (await jobState(lookups, late)) === 'completed', 40_000);
  t.is(set.stats().peerLookupsFailed, 1, 'still only the malformed job failed');
  // The last failure (no retry left) is news; nothing routine reached the log.
  t.true(logs.some((l) => /peer lookup job bad failed \(attempt 1 of 3\)/.test(l)), logs.join('\n'));
  t.false(logs.some((l) => /will retry/.test(l)), logs.join('\n'));
});
