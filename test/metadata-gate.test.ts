/**
 * Scheduling of metadata fetches: the process-wide ConnectionGate (virtual time) and
 * fetchMetadata's choice of peers, few at a time, over real TCP on 127.x.y.z.
 */
import { type Socket } from 'node:net';
import test, { type ExecutionContext } from 'ava';
import { ManualClock } from '../bep5/clock.js';
import { ConnectionGate, type ReleaseConnection } from '../bep9/connection-gate.js';
import {
  MetadataAbortError,
  MetadataFetchError,
  MetadataInvalidError,
  PeerIpLimitError,
} from '../bep9/errors.js';
import { tcpConnect, type ConnectFn } from '../bep9/fetch-from-peer.js';
import { fetchMetadata, type FetchMetadataOptions } from '../bep9/fetch-metadata.js';
import { ScriptedPeer, makeInfoDict, serveMetadata, sha1, within, type PeerScript } from '../testkit/metadata-peer.js';
import { loopbackHost } from './helpers/udp.js';

// ---------------------------------------------------------------------------------------------
// ConnectionGate, virtual time

/** Lets queued promise callbacks run. */
const ticks = (): Promise<void> => new Promise((r) => setImmediate(r));

function track(p: Promise<ReleaseConnection>): { release?: ReleaseConnection; error?: unknown } {
  const state: { release?: ReleaseConnection; error?: unknown } = {};
  p.then((r) => (state.release = r)).catch((e: unknown) => (state.error = e));
  return state;
}

const UNPACED = { connectsPerSecond: 1000, connectBurst: 1000, ipAttemptBurst: 100 };

test('gate: at most maxConnections at once; a release lets the next in', async (t) => {
  const gate = new ConnectionGate({ ...UNPACED, maxConnections: 2, clock: new ManualClock() });
  const a = track(gate.acquire('10.0.0.1'));
  const b = track(gate.acquire('10.0.0.2'));
  const c = track(gate.acquire('10.0.0.3'));
  await ticks();
  t.truthy(a.release);
  t.truthy(b.release);
  t.is(c.release, undefined);
  t.is(gate.active, 2);
  t.is(gate.waiting, 1);
  a.release!();
  a.release!(); // twice: no effect
  await ticks();
  t.truthy(c.release);
  t.is(gate.active, 2);
});

test('gate: one connection per IP; a waiter for a busy IP does not hold up others', async (t) => {
  const gate = new ConnectionGate({ ...UNPACED, clock: new ManualClock() });
  const first = track(gate.acquire('10.0.0.1'));
  const second = track(gate.acquire('10.0.0.1'));
  const other = track(gate.acquire('10.0.0.2'));
  await ticks();
  t.truthy(first.release);
  t.is(second.release, undefined);
  t.truthy(other.release);
  first.release!();
  await ticks();
  t.truthy(second.release);
});

test('gate: new connections are paced', async (t) => {
  const clock = new ManualClock();
  const gate = new ConnectionGate({ connectsPerSecond: 2, connectBurst: 2, ipAttemptBurst: 100, clock });
  const all = ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4'].map((ip) => track(gate.acquire(ip)));
  await ticks();
  t.deepEqual(all.map((s) => s.release !== undefined), [true, true, false, false]);
  clock.advance(499);
  await ticks();
  t.false(all[2]!.release !== undefined);
  clock.advance(1);
  await ticks();
  t.deepEqual(all.map((s) => s.release !== undefined), [true, true, true, false]);
  clock.advance(500);
  await ticks();
  t.true(all[3]!.release !== undefined);
});

test('gate: attempts per IP are budgeted; past it, acquire fails at once', async (t) => {
  const clock = new ManualClock();
  const gate = new ConnectionGate({ connectsPerSecond: 1000, connectBurst: 1000, ipAttemptsPerMinute: 1, ipAttemptBurst: 2, clock });
  (await gate.acquire('10.0.0.1'))();
  (await gate.acquire('10.0.0.1'))();
  await t.throwsAsync(gate.acquire('10.0.0.1'), { instanceOf: PeerIpLimitError });
  t.truthy(await gate.acquire('10.0.0.2'), 'other IPs unaffected');
  clock.advance(60_000);
  t.truthy(await gate.acquire('10.0.0.1'), 'refilled after a minute');
});

test('gate: an abort while waiting rejects and leaves the queue', async (t) => {
  const gate = new ConnectionGate({ ...UNPACED, maxConnections: 1, clock: new ManualClock() });
  const held = await gate.acquire('10.0.0.1');
  const controller = new AbortController();
  const waiting = gate.acquire('10.0.0.2', controller.signal);
  t.is(gate.waiting, 1);
  controller.abort();
  await t.throwsAsync(waiting, { instanceOf: MetadataAbortError });
  t.is(gate.waiting, 0);
  held();
  t.is(gate.active, 0);
  await t.throwsAsync(gate.acquire('10.0.0.3', controller.signal), { instanceOf: MetadataAbortError });
  t.throws(() => new ConnectionGate({ connectsPerSecond: 0 }), { instanceOf: RangeError });
});

// ---------------------------------------------------------------------------------------------
// fetchMetadata over TCP

const INFO = makeInfoDict('gate', 20);
const INFOHASH = sha1(INFO);
const FAST = { connectTimeoutMs: 3_000, handshakeTimeoutMs: 400, totalTimeoutMs: 15_000 };

/**
 * Counts connections: `total` as the peers see them; `max` open at once on our side, through an
 * injected connect function (a socket counts as open until we destroy it; the peers learn of a
 * close later, so counting there would overstate concurrency).
 */
class Census {
  max = 0;
  total = 0;
  private readonly sockets: Socket[] = [];

  readonly connect: ConnectFn = (peer) => {
    const socket = tcpConnect(peer);
    this.sockets.push(socket);
    this.max = Math.max(this.max, this.sockets.filter((s) => !s.destroyed).length);
    return socket;
  };

  async start(t: ExecutionContext, script: PeerScript, host = loopbackHost()): Promise<ScriptedPeer> {
    const peer = await ScriptedPeer.start(host, async (conn) => {
      this.total++;
      await script(conn);
    });
    t.teardown(() => peer.close());
    return peer;
  }
}

const silent: PeerScript = () => {};

function options(extra: FetchMetadataOptions = {}): FetchMetadataOptions {
  return { allowPrivate: true, gate: new ConnectionGate(UNPACED), limits: FAST, ...extra };
}

test('fetchMetadata: a few peers at a time, never more', async (t) => {
  const census = new Census();
  const peers = await Promise.all(Array.from({ length: 6 }, () => census.start(t, silent)));
  const err = await t.throwsAsync(fetchMetadata(INFOHASH, peers.map((p) => p.address), options({ peersAtOnce: 2, connect: census.connect })));
  t.true(err instanceof MetadataFetchError);
  t.deepEqual((err as MetadataFetchError).attempts.map((a) => a.code), Array(6).fill('ERR_PEER_TIMEOUT'));
  t.is(census.total, 6);
  t.is(census.max, 2);
});

test('fetchMetadata: concurrent fetches share the gate cap', async (t) => {
  const census = new Census();
  const peers = await Promise.all(Array.from({ length: 8 }, () => census.start(t, silent)));
  const gate = new ConnectionGate({ ...UNPACED, maxConnections: 3 });
  const run = (list: ScriptedPeer[]): Promise<unknown> =>
    fetchMetadata(INFOHASH, list.map((p) => p.address), options({ gate, peersAtOnce: 2, connect: census.connect })).catch((e: unknown) => e);
  const results = await Promise.all([run(peers.slice(0, 4)), run(peers.slice(4))]);
  t.true(results.every((r) => r instanceof MetadataFetchError));
  t.is(census.total, 8);
  t.is(census.max, 3);
  t.is(gate.active, 0);
});

test('fetchMetadata: peers are filtered: bad addresses, non-public ones, duplicates, too many per IP, past maxPeers', async (t) => {
  const census = new Census();
  const host = loopbackHost();
  const samehost = await Promise.all(Array.from({ length: 4 }, () => census.start(t, silent, host)));
  const list = [
    { host: 'example.com', port: 80 },
    { host: '10.1.2.3', port: 0 },
    ...samehost.map((p) => p.address),
    samehost[0]!.address, // duplicate: dropped without a trace
  ];
  const err = await t.throwsAsync(fetchMetadata(INFOHASH, list, options({ maxAttemptsPerIp: 2, peersAtOnce: 4 })));
  const attempts = (err as MetadataFetchError).attempts;
  t.deepEqual(attempts.map((a) => a.code).sort(), [
    'ERR_PEER_ADDRESS',
    'ERR_PEER_ADDRESS',
    'ERR_PEER_IP_LIMIT',
    'ERR_PEER_IP_LIMIT',
    'ERR_PEER_TIMEOUT',
    'ERR_PEER_TIMEOUT',
  ]);
  t.is(census.total, 2, 'two connections to the one IP');
  t.is(attempts[0]?.peer, 'example.com:80');

  const err2 = await t.throwsAsync(fetchMetadata(INFOHASH, samehost.map((p) => p.address), options({ allowPrivate: false })));
  t.deepEqual((err2 as MetadataFetchError).attempts.map((a) => a.code), Array(4).fill('ERR_PEER_ADDRESS'));
  t.regex((err2 as MetadataFetchError).attempts[0]?.message ?? '', /not a public address \(loopback/);
  t.is(census.total, 2, 'loopback peers are not contacted without allowPrivate');

  const many = Array.from({ length: 30 }, (_, i) => ({ host: `127.0.0.${i + 1}`, port: 1 }));
  const err3 = await t.throwsAsync(fetchMetadata(INFOHASH, many, options({ maxPeers: 3 })));
  t.is((err3 as MetadataFetchError).attempts.length, 3);
});

test('fetchMetadata: the process-wide per-IP budget skips a peer without connecting', async (t) => {
  const census = new Census();
  const peer = await census.start(t, silent);
  const gate = new ConnectionGate({ connectsPerSecond: 1000, connectBurst: 1000, ipAttemptBurst: 1 });
  await t.throwsAsync(fetchMetadata(INFOHASH, [peer.address], options({ gate })));
  const err = await t.throwsAsync(fetchMetadata(INFOHASH, [peer.address], options({ gate })));
  t.deepEqual((err as MetadataFetchError).attempts.map((a) => a.code), ['ERR_PEER_IP_LIMIT']);
  t.is(census.total, 1);
});

test('fetchMetadata: after a success the other connections are closed before it returns', async (t) => {
  const census = new Census();
  const slow = await census.start(t, silent);
  const honest = await census.start(t, serveMetadata(INFO));
  const gate = new ConnectionGate(UNPACED);
  const result = await fetchMetadata(INFOHASH, [slow.address, honest.address], options({ gate, limits: { ...FAST, handshakeTimeoutMs: 10_000 } }));
  t.true(result.info.equals(INFO));
  t.deepEqual(result.attempts.map((a) => a.code), ['OK'], 'the peer cut short is not a failure');
  t.is(gate.active, 0);
  await within(slow.connections[0]!.closed, 'the slow connection closed');
});

test('fetchMetadata: an abort ends it with AbortError and closes its connections', async (t) => {
  let connected!: () => void;
  const seen = new Promise<void>((resolve) => (connected = resolve));
  const peer = await new Census().start(t, () => connected());
  const controller = new AbortController();
  const gate = new ConnectionGate(UNPACED);
  const pending = fetchMetadata(INFOHASH, [peer.address], options({ gate, signal: controller.signal, limits: { ...FAST, handshakeTimeoutMs: 10_000 } }));
  await within(seen, 'the connection');
  controller.abort(new Error('shutting down'));
  const err = await t.throwsAsync(pending);
  t.true(err instanceof MetadataAbortError);
  t.is(err?.name, 'AbortError');
  t.is((err as MetadataAbortError).code, 'ABORT_ERR');
  await within(peer.connections[0]!.closed, 'connection closed on abort');
  t.is(gate.active, 0);
  await t.throwsAsync(fetchMetadata(INFOHASH, [peer.address], options({ signal: controller.signal })), { instanceOf: MetadataAbortError });
});

test('fetchMetadata: metadata that matches the hash but is not an info dict ends the fetch', async (t) => {
  const census = new Census();
  const notInfo = Buffer.from('l4:spami42ee');
  const hash = sha1(notInfo);
  const first = await census.start(t, serveMetadata(notInfo));
  const second = await census.start(t, serveMetadata(notInfo));
  const err = await t.throwsAsync(fetchMetadata(hash, [first.address, second.address], options({ peersAtOnce: 1 })));
  t.true(err instanceof MetadataInvalidError);
  t.is(census.total, 1, 'no other peer can do better: not tried');
});
