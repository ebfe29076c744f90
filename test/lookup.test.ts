import test from 'ava';
import { generateBep42Id } from '../bep5/bep42.js';
import { ManualClock } from '../bep5/clock.js';
import { type NodeInfo, type PeerAddress } from '../bep5/compact.js';
import { KrpcAbortError, KrpcTimeoutError } from '../bep5/errors.js';
import { KrpcSocket } from '../bep5/krpc-socket.js';
import { type QueryOptions, type QueryResult } from '../bep5/krpc-socket-types.js';
import { type LookupEvent, type Querier, lookup, runLookup } from '../bep5/lookup.js';
import { randomId, xorDistance } from '../bep5/node-id.js';
import { type Method, type QueryOf } from '../bep5/queries.js';
import { seededRandom } from '../bep5/random.js';
import { loopbackHost } from './helpers/udp.js';

function trueClosest(all: NodeInfo[], target: Buffer, k = 8): string[] {
  return [...all]
    .sort((a, b) => Buffer.compare(xorDistance(a.id, target), xorDistance(b.id, target)))
    .slice(0, k)
    .map((n) => n.id.toString('hex'));
}

/**
 * A real loopback network whose nodes answer from a partial view: the 8 nodes closest to
 * their own id plus a few random ones, roughly what a Kademlia routing table holds.
 */
async function loopbackNetwork(t: { teardown(fn: () => Promise<unknown>): void }, size: number, seed: number) {
  const random = seededRandom(seed);
  const sockets: KrpcSocket[] = [];
  const nodes: NodeInfo[] = [];
  for (let i = 0; i < size; i++) {
    const s = new KrpcSocket();
    const a = await s.bind(0, loopbackHost());
    sockets.push(s);
    nodes.push({ id: randomId(random), host: a.host, port: a.port });
  }
  t.teardown(() => Promise.all(sockets.map((s) => s.close())));
  const stored = new Map<string, PeerAddress[]>();
  nodes.forEach((self, i) => {
    const others = nodes.filter((n) => n !== self);
    const near = trueClosest(others, self.id, 8);
    const view = others.filter((n, j) => near.includes(n.id.toString('hex')) || (j * 7 + i) % 9 === 0);
    const closestInView = (target: Buffer): NodeInfo[] =>
      [...view].sort((a, b) => Buffer.compare(xorDistance(a.id, target), xorDistance(b.id, target))).slice(0, 8);
    const socket = sockets[i]!;
    socket.handle('find_node', (q) => ({ id: self.id, nodes: closestInView(q.target) }));
    socket.handle('get_peers', (q) => {
      const values = stored.get(`${i}/${q.infoHash.toString('hex')}`);
      return { id: self.id, token: Buffer.from(`tok${i}`), values, nodes: closestInView(q.infoHash) };
    });
  });
  return { sockets, nodes, stored };
}

test('find_node lookups on a 60-node loopback network converge on the true 8 closest', async (t) => {
  const { sockets, nodes } = await loopbackNetwork(t, 60, 1);
  const random = seededRandom(99);
  for (let round = 0; round < 5; round++) {
    const target = randomId(random);
    const result = await runLookup({
      querier: sockets[0]!,
      ownId: nodes[0]!.id,
      target,
      method: 'find_node',
      seeds: [nodes[1 + round]!], // one known contact, as after a minimal bootstrap
    });
    const found = result.closest.map((c) => c.node.id.toString('hex'));
    const expected = trueClosest(nodes.slice(1), target);
    t.deepEqual(found, expected, `round ${round}`);
    t.true(result.queries < 60, `${result.queries} queries`);
  }
});

test('get_peers streams peers as they arrive and returns tokens of the closest nodes', async (t) => {
  const { sockets, nodes, stored } = await loopbackNetwork(t, 40, 2);
  const infoHash = randomId(seededRandom(5));
  // The 8 nodes closest to the infohash store one peer each, as after announces.
  const holders = trueClosest(nodes, infoHash).map((hex) => nodes.findIndex((n) => n.id.toString('hex') === hex));
  holders.forEach((i, n) => stored.set(`${i}/${infoHash.toString('hex')}`, [{ host: '10.0.0.1', port: 1000 + n }]));
  const seen: PeerAddress[] = [];
  let done: LookupEvent | undefined;
  const client = new KrpcSocket();
  await client.bind(0, loopbackHost());
  t.teardown(() => client.close());
  for await (const event of lookup({ querier: client, ownId: randomId(), target: infoHash, method: 'get_peers', seeds: [nodes[0]!] })) {
    if (event.type === 'peers') seen.push(...event.peers);
    if (event.type === 'done') done = event;
  }
  t.is(seen.length, 8, 'every stored peer, each once');
  t.is(new Set(seen.map((p) => p.port)).size, 8);
  t.truthy(done);
  if (done?.type === 'done') {
    t.is(done.result.closest.length, 8);
    t.true(done.result.closest.every((c) => c.token !== undefined && c.token.toString().startsWith('tok')));
    t.is(done.result.peers.length, 8);
  }
  void sockets;
});

test('bootstrap addresses without ids are queried first and placed by the id they answer with', async (t) => {
  const { sockets, nodes } = await loopbackNetwork(t, 30, 3);
  const target = randomId(seededRandom(7));
  const result = await runLookup({
    querier: sockets[0]!,
    ownId: nodes[0]!.id,
    target,
    method: 'find_node',
    seeds: [{ host: nodes[5]!.host, port: nodes[5]!.port }],
  });
  t.deepEqual(
    result.closest.map((c) => c.node.id.toString('hex')),
    trueClosest(nodes.slice(1), target),
  );
});

/**
 * An in-memory network on a manual clock, to check the algorithm's rules exactly: how many
 * queries are in flight, what the soft timeout does, when the lookup stops.
 */
class SimNetwork implements Querier {
  readonly nodes = new Map<string, { info: NodeInfo; view: NodeInfo[]; silent?: boolean; delayMs?: number }>();
  /** Nodes per reply: 8 as in BEP 5, more where a test needs nodes beyond the closest 8 revealed. */
  replyCount = 8;
  inflight = 0;
  maxInflight = 0;
  sent = 0;
  constructor(readonly clock: ManualClock) {}

  add(info: NodeInfo, opts: { silent?: boolean; delayMs?: number } = {}): void {
    this.nodes.set(`${info.host}|${info.port}`, { info, view: [], ...opts });
  }

  query<M extends Method>(to: PeerAddress, q: QueryOf<M>, options: QueryOptions = {}): Promise<QueryResult<M>> {
    const node = this.nodes.get(`${to.host}|${to.port}`);
    this.sent++;
    this.inflight++;
    this.maxInflight = Math.max(this.maxInflight, this.inflight);
    return new Promise((resolve, reject) => {
      // Settles once, as a real socket does: a later abort of a shared signal changes nothing.
      let settled = false;
      const onAbort = (): void => {
        this.clock.clearTimeout(timer);
        finish(() => reject(new KrpcAbortError()));
      };
      const finish = (fn: () => void): void => {
        if (settled) return;
        settled = true;
        options.signal?.removeEventListener('abort', onAbort);
        this.inflight--;
        fn();
      };
      const timer = this.clock.setTimeout(
        () => finish(() => reject(new KrpcTimeoutError(2000))),
        options.timeoutMs ?? 2000,
      );
      options.signal?.addEventListener('abort', onAbort);
      if (node === undefined || node.silent) return;
      const target = 'target' in q ? q.target : (q as QueryOf<'get_peers'>).infoHash;
      const nodes = [...node.view].sort((a, b) => Buffer.compare(xorDistance(a.id, target), xorDistance(b.id, target))).slice(0, this.replyCount);
      this.clock.setTimeout(() => {
        this.clock.clearTimeout(timer);
        finish(() => resolve({ reply: { id: node.info.id, nodes, nodes6: [], values: [], token: Buffer.from('t') } as never, from: to, rttMs: node.delayMs ?? 10 }));
      }, node.delayMs ?? 10);
    });
  }
}

/** Drives a lookup on the manual clock until it settles. */
async function drive<T>(clock: ManualClock, promise: Promise<T>): Promise<T> {
  let settled = false;
  promise.then(() => (settled = true), () => (settled = true));
  for (let i = 0; i < 10_000 && !settled; i++) {
    await new Promise((r) => setImmediate(r));
    clock.advance(5);
  }
  return promise;
}

function simNetwork(size: number, seed: number, clock: ManualClock, configure?: (i: number) => { silent?: boolean; delayMs?: number }) {
  const random = seededRandom(seed);
  const net = new SimNetwork(clock);
  const infos: NodeInfo[] = Array.from({ length: size }, (_, i) => ({ id: randomId(random), host: `10.${i >> 8}.${i & 255}.1`, port: 6881 }));
  infos.forEach((info, i) => net.add(info, configure?.(i)));
  for (const n of net.nodes.values()) n.view = infos.filter((x) => x !== n.info);
  return { net, infos };
}

test('never more than alpha queries hold a slot; a slow node frees its slot after the soft timeout', async (t) => {
  const clock = new ManualClock();
  // Every node is slow (1.5 s): past the soft timeout (750 ms), so more queries go out while
  // the slow ones are still pending.
  const { net, infos } = simNetwork(50, 4, clock, () => ({ delayMs: 1500 }));
  const result = await drive(
    clock,
    runLookup({ querier: net, ownId: randomId(), target: randomId(seededRandom(1)), method: 'find_node', seeds: infos.slice(0, 8), alpha: 3, closeWindow: 3, clock }),
  );
  t.true(net.maxInflight > 3, 'soft timeouts let extra queries out');
  t.true(net.maxInflight <= 8, `at most ${net.maxInflight} in flight`);
  t.is(result.closest.length, 8);
  t.is(net.inflight, 0, 'everything still in flight at the end was aborted');

  const fast = simNetwork(50, 4, clock);
  await drive(clock, runLookup({ querier: fast.net, ownId: randomId(), target: randomId(), method: 'find_node', seeds: fast.infos.slice(0, 8), alpha: 3, closeWindow: 3, clock }));
  t.is(fast.net.maxInflight, 3, 'with fast nodes exactly alpha in flight');
});

test('with round trips over wideRttMs, the close window queries the K closest in parallel: same result, fewer round trips', async (t) => {
  const clock = new ManualClock();
  const target = randomId(seededRandom(9));
  const strict = simNetwork(200, 6, clock, () => ({ delayMs: 20 }));
  const strictStart = clock.now();
  const strictResult = await drive(clock, runLookup({ querier: strict.net, ownId: randomId(), target, method: 'find_node', seeds: strict.infos.slice(0, 8), alpha: 3, closeWindow: 3, clock }));
  const strictMs = clock.now() - strictStart;
  const wide = simNetwork(200, 6, clock, () => ({ delayMs: 20 }));
  const started = clock.now();
  const wideResult = await drive(clock, runLookup({ querier: wide.net, ownId: randomId(), target, method: 'find_node', seeds: wide.infos.slice(0, 8), alpha: 3, closeWindow: 8, wideRttMs: 5, clock }));
  const wideMs = clock.now() - started;
  t.deepEqual(
    wideResult.closest.map((c) => c.node.host),
    strictResult.closest.map((c) => c.node.host),
    'both converge on the same 8 closest',
  );
  t.true(wide.net.maxInflight > 3, `the window lets more than alpha out (${wide.net.maxInflight})`);
  t.true(wide.net.maxInflight <= 8, `never more than the window (${wide.net.maxInflight})`);
  t.true(wideResult.queries <= strictResult.queries * 2, `queries ${wideResult.queries} vs ${strictResult.queries} with a strict alpha`);
  t.true(wideMs < strictMs, `fewer round trips in simulated time: ${wideMs} ms vs ${strictMs} ms`);
  t.log(`strict: ${strictResult.queries} queries, ${strictMs} ms; window 8: ${wideResult.queries} queries, ${wideMs} ms`);
});

test('silent nodes fail by the hard timeout and do not count among the closest', async (t) => {
  const clock = new ManualClock();
  const { net, infos } = simNetwork(40, 5, clock, (i) => ({ silent: i % 3 === 0 }));
  const target = randomId(seededRandom(2));
  const result = await drive(clock, runLookup({ querier: net, ownId: randomId(), target, method: 'find_node', seeds: infos.slice(0, 5), clock }));
  const alive = infos.filter((_, i) => i % 3 !== 0);
  t.deepEqual(
    result.closest.map((c) => c.node.id.toString('hex')),
    trueClosest(alive, target),
  );
  t.true(result.failed > 0);
});

test('maxQueries bounds the lookup and marks it exhausted', async (t) => {
  const clock = new ManualClock();
  const { net, infos } = simNetwork(100, 6, clock, () => ({ silent: true }));
  const result = await drive(clock, runLookup({ querier: net, ownId: randomId(), target: randomId(), method: 'find_node', seeds: infos, maxQueries: 10, clock }));
  t.is(net.sent, 10);
  t.is(result.queries, 10);
});

test('aborting a lookup rejects with AbortError and cancels its queries', async (t) => {
  const clock = new ManualClock();
  const { net, infos } = simNetwork(30, 7, clock, () => ({ delayMs: 500 }));
  const controller = new AbortController();
  const it = lookup({ querier: net, ownId: randomId(), target: randomId(), method: 'find_node', seeds: infos, signal: controller.signal, clock });
  const pending = it.next();
  await new Promise((r) => setImmediate(r));
  t.true(net.inflight > 0);
  controller.abort();
  await t.throwsAsync(pending, { instanceOf: KrpcAbortError });
  t.is(net.inflight, 0);
  await t.throwsAsync(runLookup({ querier: net, ownId: randomId(), target: randomId(), method: 'find_node', seeds: infos, signal: AbortSignal.abort() }), {
    instanceOf: KrpcAbortError,
  });
});

test('BEP 42 enforcement: non-compliant answers give no token and do not count toward the K closest', async (t) => {
  const clock = new ManualClock();
  const random = seededRandom(8);
  const net = new SimNetwork(clock);
  // Replies carry 16 nodes: with 8, the non-compliant half of the closest would hide the
  // compliant nodes ranked 9th to 16th from everyone, and no lookup could find them.
  net.replyCount = 16;
  // Public addresses, so BEP 42 applies: half the nodes use compliant ids, half random ones.
  const infos: NodeInfo[] = Array.from({ length: 30 }, (_, i) => {
    const host = `${20 + i}.${i}.1.2`;
    return { id: i % 2 === 0 ? generateBep42Id(host, random) : randomId(random), host, port: 6881 };
  });
  infos.forEach((info) => net.add(info));
  for (const n of net.nodes.values()) n.view = infos.filter((x) => x !== n.info);
  const target = randomId(random);
  const result = await drive(
    clock,
    runLookup({ querier: net, ownId: randomId(), target, method: 'get_peers', seeds: infos.slice(0, 4), enforceBep42: true, clock }),
  );
  const compliant = infos.filter((_, i) => i % 2 === 0);
  t.deepEqual(
    result.closest.map((c) => c.node.id.toString('hex')),
    trueClosest(compliant, target),
  );
  t.true(result.closest.every((c) => c.token !== undefined));
  t.true(result.answered > result.closest.length, 'non-compliant nodes answered but were not counted');
});

test('with fast round trips (under wideRttMs) the close window stays shut: exactly alpha in flight', async (t) => {
  const clock = new ManualClock();
  const { net, infos } = simNetwork(200, 7, clock, () => ({ delayMs: 0 }));
  await drive(clock, runLookup({ querier: net, ownId: randomId(), target: randomId(seededRandom(3)), method: 'find_node', seeds: infos.slice(0, 8), alpha: 3, closeWindow: 8, wideRttMs: 1000, clock }));
  t.is(net.maxInflight, 3);
});

test('the close window opens only after an answer: the first hop is alpha wide even over slow round trips', async (t) => {
  const clock = new ManualClock();
  const { net, infos } = simNetwork(200, 7, clock, () => ({ delayMs: 50 }));
  let answers = 0;
  let inflightBeforeFirstAnswer = 0;
  const counting: Querier = {
    query(to, q, options) {
      if (answers === 0) inflightBeforeFirstAnswer = Math.max(inflightBeforeFirstAnswer, net.inflight + 1);
      const reply = net.query(to, q, options);
      reply.then(() => answers++, () => undefined);
      return reply;
    },
  };
  await drive(clock, runLookup({ querier: counting, ownId: randomId(), target: randomId(seededRandom(4)), method: 'find_node', seeds: infos.slice(0, 8), alpha: 3, closeWindow: 8, wideRttMs: 5, clock }));
  t.is(inflightBeforeFirstAnswer, 3);
  t.true(net.maxInflight > 3, `the window opened after 50 ms answers (max in flight ${net.maxInflight})`);
});
