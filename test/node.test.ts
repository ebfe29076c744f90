import test from 'ava';
import { type BencodeDict, decode, encode } from '../bep5/bencode.js';
import { isBep42Compliant } from '../bep5/bep42.js';
import { resolveBootstrap, parseBootstrapEntry, allPrivate } from '../bep5/bootstrap.js';
import { ManualClock } from '../bep5/clock.js';
import { encodePeer } from '../bep5/compact.js';
import { KrpcAbortError, KrpcRemoteError } from '../bep5/errors.js';
import { ExternalAddressVoter } from '../bep5/external-address.js';
import { DhtNode } from '../bep5/node.js';
import { type DhtNodeOptions } from '../bep5/node-types.js';
import { randomId } from '../bep5/node-id.js';
import { RawPeer, loopbackHost } from './helpers/udp.js';
import { pollUntil } from './helpers/wait.js';

function options(extra: DhtNodeOptions = {}): DhtNodeOptions {
  return { host: loopbackHost(), port: 0, allowPrivate: true, adoptBep42Id: false, ...extra };
}

async function pair(t: { teardown(fn: () => Promise<void>): void }, extra: DhtNodeOptions = {}) {
  const a = new DhtNode(options({ bootstrap: [], ...extra }));
  await a.start();
  const addr = a.address()!;
  const b = new DhtNode(options({ bootstrap: [`${addr.host}:${addr.port}`], ...extra }));
  await b.start();
  t.teardown(async () => {
    await Promise.all([a.stop(), b.stop()]);
  });
  await b.bootstrap({ signal: AbortSignal.timeout(5000) });
  return { a, b };
}

test('stored peers expire after 30 minutes of the injected clock', async (t) => {
  const clock = new ManualClock();
  const { a, b } = await pair(t, { clock });
  const infoHash = randomId();
  const { announced } = await b.announce(infoHash, { port: 7000 });
  t.is(announced.length, 1);
  t.is(a.store.count(infoHash), 1);
  const peersNow = (await collectPeers(b, infoHash)).map((p) => p.port);
  t.deepEqual(peersNow, [7000]);
  clock.advance(29 * 60_000);
  t.is(a.store.count(infoHash), 1, 'still there just before the expiry');
  clock.advance(60_001);
  t.is(a.store.count(infoHash), 0);
  t.deepEqual(await collectPeers(b, infoHash), [], 'no peers after expiry');
});

test('write tokens are valid 5 to 10 minutes, then announce_peer gets 203 and stores nothing', async (t) => {
  const clock = new ManualClock();
  const { a, b } = await pair(t, { clock });
  const to = a.address()!;
  const infoHash = randomId();
  const getToken = async (): Promise<Buffer> =>
    (await b.socket()!.query(to, { method: 'get_peers', id: b.id, infoHash })).reply.token!;
  const announce = (token: Buffer) =>
    b.socket()!.query(to, { method: 'announce_peer', id: b.id, infoHash, port: 7001, token });

  const early = await getToken();
  clock.advance(6 * 60_000);
  await announce(early);
  t.is(a.store.count(infoHash), 1, 'a 6-minute-old token is accepted');

  const late = await getToken();
  clock.advance(10 * 60_000 + 1);
  const err = await t.throwsAsync(announce(late), { instanceOf: KrpcRemoteError });
  t.is(err?.krpcCode, 203);
  t.is(err?.remoteMessage, 'bad token');
  await t.throwsAsync(announce(Buffer.from('forged!!')), { instanceOf: KrpcRemoteError });
});

test('IPv6: two nodes on ::1 join, announce and find each other', async (t) => {
  const a = new DhtNode({ families: [6], host6: '::1', port: 0, bootstrap: [], allowPrivate: true, adoptBep42Id: false });
  await a.start();
  const addr = a.address(6)!;
  t.is(addr.host, '::1');
  const b = new DhtNode({ families: [6], host6: '::1', port: 0, bootstrap: [`[::1]:${addr.port}`], adoptBep42Id: false });
  await b.start();
  t.teardown(async () => {
    await Promise.all([a.stop(), b.stop()]);
  });
  t.is(b.addressScope, 'loopback', 'a loopback-only bootstrap list implies the loopback scope');
  await b.bootstrap({ signal: AbortSignal.timeout(5000) });
  const infoHash = randomId();
  await b.announce(infoHash, { port: 9000, family: 6 });
  t.deepEqual(a.store.count(infoHash), 1);
  const c = new DhtNode({ families: [6], host6: '::1', port: 0, bootstrap: [`[::1]:${addr.port}`], adoptBep42Id: false });
  await c.start();
  t.teardown(() => c.stop());
  await c.bootstrap({ signal: AbortSignal.timeout(5000) });
  const peers = await collectPeers(c, infoHash, 6);
  t.deepEqual(peers, [{ host: '::1', port: 9000 }]);
});

test('a silent bootstrap node gives bootstrap-failed with a reason and a growing retry, until aborted', async (t) => {
  const silent = await RawPeer.bind();
  t.teardown(() => silent.close());
  const node = new DhtNode(options({ bootstrap: [`${silent.host}:${silent.port}`], queryTimeoutMs: 100 }));
  await node.start();
  t.teardown(() => node.stop());
  const failures: Array<{ reason: string; retryInMs: number }> = [];
  const controller = new AbortController();
  node.on('bootstrap-failed', (f) => {
    failures.push(f);
    if (failures.length === 2) controller.abort();
  });
  await t.throwsAsync(node.bootstrap({ signal: controller.signal }), { instanceOf: KrpcAbortError });
  t.deepEqual(
    failures.map((f) => [f.reason, f.retryInMs]),
    [
      ['none of 1 bootstrap nodes answered', 1000],
      ['none of 1 bootstrap nodes answered', 2000],
    ],
  );
  t.true(silent.received.length >= 2, 'it did try again');
});

test('bootstrap with no address and no saved table says so instead of hanging', async (t) => {
  const node = new DhtNode(options({ bootstrap: [] }));
  await node.start();
  t.teardown(() => node.stop());
  const reasons: string[] = [];
  node.on('bootstrap-failed', (f) => reasons.push(f.reason));
  t.is(await node.bootstrap(), 0);
  t.deepEqual(reasons, ['no bootstrap address and no saved table']);
});

test('BEP 42: once 5 independent nodes report the same public address, the node adopts a compliant id', async (t) => {
  const node = new DhtNode({ host: loopbackHost(), port: 0, bootstrap: [], allowPrivate: true });
  await node.start();
  t.teardown(() => node.stop());
  const external = { host: '124.31.75.21', port: 6881 };
  const changes: string[] = [];
  node.on('id-changed', (e) => changes.push(e.externalAddress));
  const original = node.id;
  // Five responders, each in its own /24, each telling us the same external address.
  for (let i = 0; i < 5; i++) {
    const peer = await RawPeer.bind(`127.${10 + i}.${i}.1`);
    t.teardown(() => peer.close());
    const ping = node.ping({ host: peer.host, port: peer.port });
    const { msg, rinfo } = await peer.next();
    const tid = (decode(msg) as BencodeDict).t as Buffer;
    await peer.send(encode({ t: tid, y: 'r', r: { id: randomId() }, ip: encodePeer(external) }), rinfo.port, rinfo.address);
    await ping;
    if (i < 4) t.deepEqual(node.id, original, `unchanged after ${i + 1} votes`);
  }
  t.deepEqual(changes, ['124.31.75.21']);
  t.true(isBep42Compliant(node.id, external.host));
  t.false(node.id.equals(original));
});

test('ExternalAddressVoter: one vote per /24, latest vote wins, needs quorum and majority', (t) => {
  const v = new ExternalAddressVoter({ quorum: 3 });
  const claim = { host: '203.0.113.9', port: 1 };
  v.vote({ host: '198.51.100.1', port: 1 }, claim);
  v.vote({ host: '198.51.100.2', port: 1 }, claim); // same /24: same voter
  v.vote({ host: '198.51.100.3', port: 1 }, claim);
  t.is(v.winner(), undefined, 'three votes from one /24 are one vote');
  v.vote({ host: '192.0.2.1', port: 1 }, claim);
  v.vote({ host: '100.64.0.1', port: 1 }, claim);
  t.is(v.winner(), '203.0.113.9');
  // Three other networks now claim something else: no majority.
  for (const voter of ['10.1.1.1', '10.2.2.2', '10.3.3.3']) v.vote({ host: voter, port: 1 }, { host: '203.0.113.77', port: 1 });
  t.is(v.winner(), undefined);
  // A voter changing its mind counts once, with its latest claim.
  v.vote({ host: '10.1.1.9', port: 1 }, claim);
  t.is(v.winner(), '203.0.113.9');
  const bounded = new ExternalAddressVoter({ maxVoters: 10 });
  for (let i = 0; i < 1000; i++) bounded.vote({ host: `10.${i >> 8}.${i & 255}.1`, port: 1 }, claim);
  t.is(bounded.voters, 10);
});

test('bootstrap entries: parsing, localhost resolution, and private-only lists', async (t) => {
  t.deepEqual(parseBootstrapEntry('router.example.org:6881'), { host: 'router.example.org', port: 6881 });
  t.deepEqual(parseBootstrapEntry('[::1]:6881'), { host: '::1', port: 6881 });
  t.throws(() => parseBootstrapEntry('no-port'), { code: 'ERR_BOOTSTRAP_ADDRESS' });
  t.throws(() => parseBootstrapEntry('host:99999'), { code: 'ERR_BOOTSTRAP_ADDRESS' });
  const resolved = await resolveBootstrap([{ host: 'localhost', port: 6881 }, { host: '127.0.0.5', port: 1 }, { host: '::1', port: 2 }], 4);
  t.true(resolved.addresses.some((a) => a.host === '127.0.0.1' && a.port === 6881));
  t.true(resolved.addresses.some((a) => a.host === '127.0.0.5'));
  t.false(resolved.addresses.some((a) => a.host === '::1'), 'other-family literals are left out');
  t.true(allPrivate([{ host: '127.0.0.1', port: 1 }, { host: '10.0.0.1', port: 1 }]));
  t.false(allPrivate([{ host: '127.0.0.1', port: 1 }, { host: 'router.example.org', port: 6881 }]));
  t.false(allPrivate([]));
});

async function collectPeers(node: DhtNode, infoHash: Buffer, family: 4 | 6 = 4) {
  const peers: Array<{ host: string; port: number }> = [];
  for await (const e of node.findPeers(infoHash, { family })) if (e.type === 'peers') peers.push(...e.peers);
  return peers;
}

test('a bootstrap host name that does not resolve is retried with backoff, not given up', async (t) => {
  // `.invalid` never resolves (RFC 2606); the resolver answers at once with ENOTFOUND.
  const node = new DhtNode(options({ bootstrap: ['no-such-router.invalid:6881'], allowPrivate: false }));
  await node.start();
  t.teardown(() => node.stop());
  const failures: Array<{ reason: string; retryInMs: number }> = [];
  const warnings: string[] = [];
  node.on('warning', (w) => warnings.push(w));
  const controller = new AbortController();
  node.on('bootstrap-failed', (f) => {
    failures.push(f);
    if (failures.length === 2) controller.abort();
  });
  await t.throwsAsync(node.bootstrap({ signal: controller.signal }), { instanceOf: KrpcAbortError });
  t.deepEqual(failures.map((f) => [f.reason, f.retryInMs]), [
    ['no bootstrap host name resolved', 1000],
    ['no bootstrap host name resolved', 2000],
  ]);
  t.regex(warnings[0] ?? '', /no-such-router\.invalid:6881: cannot resolve/);
});

test('read-only (BEP 43): a read-only node looks things up but is never put in others\' tables', async (t) => {
  const a = new DhtNode(options({ bootstrap: [] }));
  await a.start();
  t.teardown(() => a.stop());
  const addr = a.address()!;
  const client = new DhtNode(options({ bootstrap: [`${addr.host}:${addr.port}`], readOnly: true }));
  await client.start();
  t.teardown(() => client.stop());
  await client.bootstrap({ signal: AbortSignal.timeout(5000) });
  t.is(client.table()!.size, 1, 'the client learned the node');
  // A later, ordinary querier: the node pings it back (verification) and adds it. Its queries
  // come after the client's, and the node decides on a ping as it answers each query, so once
  // this one is in the table, any ping for the client would have gone out before.
  const later = new DhtNode(options({ bootstrap: [`${addr.host}:${addr.port}`] }));
  await later.start();
  t.teardown(() => later.stop());
  await later.bootstrap({ signal: AbortSignal.timeout(5000) });
  await pollUntil(() => a.table()!.get(later.id) !== undefined, 'the node to verify and add the ordinary querier', 5_000);
  t.is(a.table()!.size, 1, 'the node neither added nor pinged the read-only client');
  t.is(a.table()!.get(client.id), undefined);
  t.is(a.socket()!.stats().queriesOut.ping ?? 0, 1, 'one ping: the ordinary querier\'s');
});

test('dual stack (BEP 32): one node, two sockets and two tables; want n4+n6 gets both node lists', async (t) => {
  const hub = new DhtNode({ families: [4, 6], host: loopbackHost(), host6: '::1', port: 0, bootstrap: [], allowPrivate: true, adoptBep42Id: false });
  await hub.start();
  t.teardown(() => hub.stop());
  const v4 = hub.address(4)!;
  const v6 = hub.address(6)!;
  const a = new DhtNode(options({ bootstrap: [`${v4.host}:${v4.port}`] }));
  const b = new DhtNode({ families: [6], host6: '::1', port: 0, bootstrap: [`[::1]:${v6.port}`], adoptBep42Id: false });
  await Promise.all([a.start(), b.start()]);
  t.teardown(() => Promise.all([a.stop(), b.stop()]).then(() => undefined));
  await a.bootstrap({ signal: AbortSignal.timeout(5000) });
  await b.bootstrap({ signal: AbortSignal.timeout(5000), family: 6 });
  // The hub pinged each querier back (verification) and so knows one node per family.
  await pollUntil(() => hub.table(4)!.size >= 1 && hub.table(6)!.size >= 1, 'the hub to know one node per family', 5_000, 20);
  t.is(hub.table(4)!.size, 1);
  t.is(hub.table(6)!.size, 1);
  const { reply } = await a.socket()!.query(v4, { method: 'find_node', id: a.id, target: randomId(), want: { n4: true, n6: true } });
  t.deepEqual(reply.nodes.map((n) => n.port), [a.address()!.port]);
  t.deepEqual(reply.nodes6.map((n) => `${n.host}|${n.port}`), [`::1|${b.address(6)!.port}`]);
  const plain = await a.socket()!.query(v4, { method: 'find_node', id: a.id, target: randomId() });
  t.is(plain.reply.nodes6.length, 0, 'without want, only the querier\'s own family');
});
