import test from 'ava';
import { readFileSync } from 'node:fs';
import { type BencodeDict, decode, encode } from '../bep5/bencode.js';
import { ManualClock } from '../bep5/clock.js';
import { encodeNodes, encodePeer } from '../bep5/compact.js';
import {
  KrpcAbortError,
  KrpcInflightLimitError,
  KrpcInvalidReplyError,
  KrpcRemoteError,
  KrpcSendError,
  KrpcSocketClosedError,
  KrpcTimeoutError,
  QueryRejection,
} from '../bep5/errors.js';
import { KrpcSocket } from '../bep5/krpc-socket.js';
import { type KrpcSocketOptions } from '../bep5/krpc-socket-types.js';
import { randomId } from '../bep5/node-id.js';
import { seededRandom } from '../bep5/random.js';
import { RawPeer, loopbackHost } from './helpers/udp.js';
import { nextTurn, pollUntil, sleep } from './helpers/wait.js';

async function bound(options: KrpcSocketOptions = {}): Promise<KrpcSocket> {
  const s = new KrpcSocket(options);
  await s.bind(0, loopbackHost());
  return s;
}

const ping = () => ({ method: 'ping' as const, id: randomId() });

function asDict(b: Buffer): BencodeDict {
  return decode(b) as BencodeDict;
}

test('ping query and reply between two sockets, with rtt, v and the BEP 42 ip field', async (t) => {
  const a = await bound();
  const b = await bound({ version: Buffer.from('XY01') });
  const bId = randomId();
  b.handle('ping', () => ({ id: bId }));
  const result = await a.query(b.address(), ping());
  t.deepEqual(result.reply.id, bId);
  t.deepEqual(result.from, b.address());
  t.deepEqual(result.v, Buffer.from('XY01'));
  t.deepEqual(result.ip, a.address(), 'the responder tells us the address it saw');
  t.true(result.rttMs >= 0);
  t.is(a.inflight, 0);
  t.is(a.stats().repliesIn, 1);
  t.is(b.stats().queriesIn.ping, 1);
  await Promise.all([a.close(), b.close()]);
});

test('every method round-trips with typed arguments and replies', async (t) => {
  const a = await bound();
  const b = await bound();
  const id = randomId();
  const node = { id: randomId(), host: '10.1.2.3', port: 6881 };
  const peer = { host: '10.9.9.9', port: 51413 };
  const seen: string[] = [];
  b.handle('find_node', (q) => {
    seen.push(`find_node ${q.target.toString('hex')} n6=${q.want?.n6}`);
    return { id, nodes: [node] };
  });
  b.handle('get_peers', (q) => {
    seen.push(`get_peers scrape=${q.scrape} noseed=${q.noseed}`);
    return { id, token: Buffer.from('tok1'), values: [peer], nodes: [node] };
  });
  b.handle('announce_peer', (q, ctx) => {
    seen.push(`announce ${q.impliedPort ? ctx.from.port : q.port} seed=${q.seed} token=${q.token}`);
    return { id };
  });
  b.handle('sample_infohashes', () => ({ id, interval: 60, num: 2, samples: [randomId(), randomId()], nodes: [node] }));
  const target = randomId();

  const fn = await a.query(b.address(), { method: 'find_node', id: randomId(), target, want: { n4: true, n6: true } });
  t.deepEqual(fn.reply.nodes, [node]);
  const gp = await a.query(b.address(), { method: 'get_peers', id: randomId(), infoHash: target, scrape: true, noseed: true });
  t.deepEqual(gp.reply.values, [peer]);
  t.deepEqual(gp.reply.token, Buffer.from('tok1'));
  await a.query(b.address(), { method: 'announce_peer', id: randomId(), infoHash: target, port: 0, impliedPort: true, token: Buffer.from('tok1'), seed: true });
  const si = await a.query(b.address(), { method: 'sample_infohashes', id: randomId(), target });
  t.is(si.reply.samples.length, 2);
  t.is(si.reply.interval, 60);
  t.deepEqual(seen, [
    `find_node ${target.toString('hex')} n6=true`,
    'get_peers scrape=true noseed=true',
    `announce ${a.address().port} seed=true token=tok1`,
  ]);
  await Promise.all([a.close(), b.close()]);
});

test('transaction IDs are 4 random bytes, all distinct, not sequential', async (t) => {
  const a = await bound({ timeoutMs: 5000, maxInflight: 1000 });
  const peer = await RawPeer.bind();
  const queries = Array.from({ length: 200 }, () => a.query({ host: peer.host, port: peer.port }, ping()).catch(() => {}));
  const tids: string[] = [];
  for (let i = 0; i < 200; i++) {
    const { msg } = await peer.next();
    const tid = asDict(msg).t as Buffer;
    t.is(tid.length, 4);
    tids.push(tid.toString('hex'));
  }
  t.is(new Set(tids).size, 200);
  const numbers = tids.map((h) => parseInt(h, 16));
  const sequentialSteps = numbers.slice(1).filter((n, i) => n === numbers[i]! + 1).length;
  t.true(sequentialSteps < 5, `${sequentialSteps} sequential IDs`);
  await a.close();
  await Promise.all(queries);
  await peer.close();
});

test('injected randomness makes transaction IDs deterministic', async (t) => {
  const first: string[] = [];
  for (const run of [0, 1]) {
    const a = await bound({ random: seededRandom(42) });
    const peer = await RawPeer.bind();
    const q = a.query({ host: peer.host, port: peer.port }, ping()).catch(() => {});
    const tid = (asDict((await peer.next()).msg).t as Buffer).toString('hex');
    if (run === 0) first.push(tid);
    else t.is(tid, first[0]!);
    await a.close();
    await q;
    await peer.close();
  }
});

test('a silent node gives KrpcTimeoutError and frees the slot', async (t) => {
  const a = await bound({ timeoutMs: 100 });
  const silent = await RawPeer.bind();
  const err = await t.throwsAsync(a.query({ host: silent.host, port: silent.port }, ping()), { instanceOf: KrpcTimeoutError });
  t.is(err?.code, 'ERR_KRPC_TIMEOUT');
  t.is(a.inflight, 0);
  t.is(a.stats().timeouts, 1);
  await a.close();
  await silent.close();
});

test('timeouts follow the injected clock, not wall time', async (t) => {
  const clock = new ManualClock();
  const a = await bound({ clock, timeoutMs: 60_000 });
  const silent = await RawPeer.bind();
  let settled = false;
  const q = a.query({ host: silent.host, port: silent.port }, ping()).finally(() => (settled = true));
  await silent.next();
  clock.advance(59_999);
  await nextTurn(); // anything the advance settled has run by now
  t.false(settled);
  clock.advance(1);
  await t.throwsAsync(q, { instanceOf: KrpcTimeoutError });
  await a.close();
  await silent.close();
});

test('abort: an AbortSignal rejects the query with AbortError; a pre-aborted one sends nothing', async (t) => {
  const a = await bound();
  const silent = await RawPeer.bind();
  const to = { host: silent.host, port: silent.port };
  const controller = new AbortController();
  const q = a.query(to, ping(), { signal: controller.signal });
  await silent.next();
  controller.abort();
  const err = await t.throwsAsync(q, { instanceOf: KrpcAbortError });
  t.is(err?.name, 'AbortError');
  t.is(a.inflight, 0);

  await t.throwsAsync(a.query(to, ping(), { signal: AbortSignal.abort() }), { instanceOf: KrpcAbortError });
  await t.throwsAsync(silent.next(200), { message: /no datagram/ });
  await a.close();
  await silent.close();
});

test('a spoofed reply from another port or address is dropped; the real one is accepted', async (t) => {
  const a = await bound();
  const real = await RawPeer.bind();
  const samePortOtherHost = await RawPeer.bind(loopbackHost());
  const otherPortSameHost = await RawPeer.bind(real.host);
  const q = a.query({ host: real.host, port: real.port }, ping());
  const { msg } = await real.next();
  const tid = asDict(msg).t as Buffer;
  const forged = encode({ t: tid, y: 'r', r: { id: Buffer.alloc(20, 0xee) } });
  const me = a.address();
  await otherPortSameHost.send(forged, me.port, me.host);
  await samePortOtherHost.send(forged, me.port, me.host);
  await pollUntil(() => a.stats().dropped['wrong-source'] >= 2, 'both forged replies to be dropped', 2_000, 5);
  t.is(a.stats().dropped['wrong-source'], 2);
  t.is(a.inflight, 1, 'the query is still waiting for the real node');
  const genuine = randomId();
  await real.send(encode({ t: tid, y: 'r', r: { id: genuine } }), me.port, me.host);
  t.deepEqual((await q).reply.id, genuine);
  await a.close();
  await Promise.all([real.close(), samePortOtherHost.close(), otherPortSameHost.close()]);
});

test('replies with unknown transaction IDs are counted and dropped', async (t) => {
  const a = await bound();
  const raw = await RawPeer.bind();
  const me = a.address();
  await raw.send(encode({ t: Buffer.from('zz'), y: 'r', r: { id: randomId() } }), me.port, me.host);
  await raw.send(encode({ t: Buffer.from('zzzz'), y: 'e', e: [201, 'x'] }), me.port, me.host);
  await pollUntil(() => a.stats().dropped['unknown-transaction'] >= 2, 'both stray answers to be dropped', 2_000, 5);
  t.is(a.stats().dropped['unknown-transaction'], 2);
  await a.close();
  await raw.close();
});

test('the wrong kind of answer rejects with KrpcInvalidReplyError', async (t) => {
  const a = await bound();
  const raw = await RawPeer.bind();
  const me = a.address();
  const cases: Array<[BencodeDict | Record<string, unknown>, RegExp]> = [
    [{ id: randomId(), values: [Buffer.alloc(6)] }, /without nodes/], // a get_peers answer to find_node
    [{ id: 5, nodes: Buffer.alloc(0) }, /id/], // integer id: crashed k-rpc-socket
    [{ id: randomId(), nodes: Buffer.alloc(25) }, /nodes/], // partial compact entry
  ];
  for (const [r, reason] of cases) {
    const q = a.query({ host: raw.host, port: raw.port }, { method: 'find_node', id: randomId(), target: randomId() });
    const tid = asDict((await raw.next()).msg).t as Buffer;
    await raw.send(encode({ t: tid, y: 'r', r: r as BencodeDict }), me.port, me.host);
    const err = await t.throwsAsync(q, { instanceOf: KrpcInvalidReplyError });
    t.regex(err?.reason ?? '', reason);
  }
  t.is(a.stats().dropped['invalid-reply'], 3);
  t.is(a.stats().internalErrors, 0);
  await a.close();
  await raw.close();
});

test('a KRPC error answer rejects with KrpcRemoteError carrying the code', async (t) => {
  const a = await bound();
  const b = await bound();
  b.handle('announce_peer', () => {
    throw new QueryRejection(203, 'bad token');
  });
  const err = await t.throwsAsync(
    a.query(b.address(), { method: 'announce_peer', id: randomId(), infoHash: randomId(), port: 6881, token: Buffer.from('x') }),
    { instanceOf: KrpcRemoteError },
  );
  t.is(err?.krpcCode, 203);
  t.is(err?.remoteMessage, 'bad token');
  await Promise.all([a.close(), b.close()]);
});

test('incoming: unknown method 204, malformed query 203, throwing handler 202, async handler answers', async (t) => {
  const b = await bound();
  const raw = await RawPeer.bind();
  const errors: unknown[] = [];
  b.on('handler-error', (err) => errors.push(err));
  b.handle('find_node', () => {
    throw new Error('boom');
  });
  b.handle('ping', async () => {
    await sleep(5); // an answer that is not ready at once
    return { id: Buffer.alloc(20, 1) };
  });
  const me = b.address();
  const ask = async (msg: Record<string, unknown>): Promise<BencodeDict> => {
    await raw.send(encode(msg as BencodeDict), me.port, me.host);
    return asDict((await raw.next()).msg);
  };
  const id = randomId();

  const unknown = await ask({ t: 'a1', y: 'q', q: 'vote', a: { id } });
  t.deepEqual(unknown.e, [204, Buffer.from('method unknown')]);
  t.deepEqual(unknown.t, Buffer.from('a1'));
  const noHandler = await ask({ t: 'a2', y: 'q', q: 'get_peers', a: { id, info_hash: id } });
  t.is((noHandler.e as unknown[])[0], 204, 'a known method without a handler is unknown here');
  const shortId = await ask({ t: 'a3', y: 'q', q: 'ping', a: { id: id.subarray(0, 19) } });
  t.deepEqual(shortId.e, [203, Buffer.from('id must be 20 bytes')]);
  const intTarget = await ask({ t: 'a4', y: 'q', q: 'find_node', a: { id, target: 7 } });
  t.is((intTarget.e as unknown[])[0], 203, 'an integer target (kills bittorrent-dht) is a 203');
  const noArgs = await ask({ t: 'a5', y: 'q', q: 'ping' });
  t.is((noArgs.e as unknown[])[0], 203);
  const thrown = await ask({ t: 'a6', y: 'q', q: 'find_node', a: { id, target: id } });
  t.deepEqual(thrown.e, [202, Buffer.from('server error')]);
  t.is(errors.length, 1);
  const ok = await ask({ t: 'a7', y: 'q', q: 'ping', a: { id } });
  t.deepEqual((ok.r as BencodeDict).id, Buffer.alloc(20, 1));
  t.deepEqual(ok.ip, encodePeer({ host: raw.host, port: raw.port }), 'BEP 42: the querier learns its address');
  t.deepEqual(b.stats().errorsOut, { 202: 1, 203: 3, 204: 2 });
  await b.close();
  await raw.close();
});

test('a reply too large for one datagram becomes error 202 instead of being sent', async (t) => {
  const b = await bound();
  const a = await bound();
  const values = Array.from({ length: 300 }, (_, i) => ({ host: `10.0.${i >> 8}.${i & 255}`, port: 1000 + i }));
  b.handle('get_peers', () => ({ id: randomId(), token: Buffer.from('t'), values }));
  const err = await t.throwsAsync(a.query(b.address(), { method: 'get_peers', id: randomId(), infoHash: randomId() }), {
    instanceOf: KrpcRemoteError,
  });
  t.is(err?.krpcCode, 202);
  t.is(b.stats().dropped['reply-too-large'], 1);
  await Promise.all([a.close(), b.close()]);
});

test('the in-flight cap rejects further queries without sending them', async (t) => {
  const a = await bound({ maxInflight: 2 });
  const silent = await RawPeer.bind();
  const to = { host: silent.host, port: silent.port };
  const q1 = a.query(to, ping()).catch((e: Error) => e);
  const q2 = a.query(to, ping()).catch((e: Error) => e);
  const err = await t.throwsAsync(a.query(to, ping()), { instanceOf: KrpcInflightLimitError });
  t.is(err?.code, 'ERR_KRPC_INFLIGHT_LIMIT');
  await a.close();
  t.true((await q1) instanceof KrpcSocketClosedError);
  t.true((await q2) instanceof KrpcSocketClosedError);
  await t.throwsAsync(a.query(to, ping()), { instanceOf: KrpcSocketClosedError });
  await silent.close();
});

test('bad destinations fail with KrpcSendError, not an exception from dgram', async (t) => {
  const a = await bound();
  await t.throwsAsync(a.query({ host: 'example.org', port: 6881 }, ping()), { instanceOf: KrpcSendError });
  await t.throwsAsync(a.query({ host: '::1', port: 6881 }, ping()), { instanceOf: KrpcSendError });
  await t.throwsAsync(a.query({ host: '127.0.0.1', port: 0 }, ping()), { instanceOf: KrpcSendError });
  await t.throwsAsync(a.query({ host: '127.0.0.1', port: 70000 }, ping()), { instanceOf: KrpcSendError });
  t.is(a.inflight, 0);
  await a.close();
});

test('read-only (BEP 43): queries carry ro=1 and incoming queries are not answered', async (t) => {
  const a = await bound({ readOnly: true });
  a.handle('ping', () => ({ id: randomId() }));
  const raw = await RawPeer.bind();
  const q = a.query({ host: raw.host, port: raw.port }, ping()).catch(() => {});
  const sent = asDict((await raw.next()).msg);
  t.is(sent.ro, 1);
  const me = a.address();
  await raw.send(encode({ t: 'x1', y: 'q', q: 'ping', a: { id: randomId() } }), me.port, me.host);
  await t.throwsAsync(raw.next(200));
  t.is(a.stats().dropped['read-only'], 1);
  await a.close();
  await q;
  await raw.close();
});

test('IPv6: a udp6 socket queries and answers on ::1', async (t) => {
  const a = new KrpcSocket({ type: 'udp6' });
  const b = new KrpcSocket({ type: 'udp6' });
  await a.bind(0, '::1');
  await b.bind(0, '::1');
  const id = randomId();
  const node6 = { id: randomId(), host: '2001:db8::1', port: 6881 };
  b.handle('find_node', () => ({ id, nodes6: [node6] }));
  const result = await a.query(b.address(), { method: 'find_node', id: randomId(), target: randomId(), want: { n4: false, n6: true } });
  t.deepEqual(result.reply.nodes6, [node6]);
  t.deepEqual(result.ip, a.address());
  t.deepEqual(encodeNodes([node6], 6).length, 38);
  await Promise.all([a.close(), b.close()]);
});

test('admitQuery gates incoming queries: refused ones are dropped and counted as rate-limited', async (t) => {
  let allowed = 2;
  const b = await bound({ admitQuery: () => allowed-- > 0 });
  b.handle('ping', () => ({ id: randomId() }));
  const a = await bound({ timeoutMs: 200 });
  await a.query(b.address(), ping());
  await a.query(b.address(), ping());
  await t.throwsAsync(a.query(b.address(), ping()), { instanceOf: KrpcTimeoutError });
  t.is(b.stats().dropped['rate-limited'], 1);
  await Promise.all([a.close(), b.close()]);
});

test('recvBufferSize sets the created socket\'s SO_RCVBUF (as far as net.core.rmem_max allows)', async (t) => {
  const asked = 1 << 20;
  const s = new KrpcSocket({ recvBufferSize: asked });
  await s.bind(0, loopbackHost());
  t.teardown(() => s.close());
  const plain = new KrpcSocket();
  await plain.bind(0, loopbackHost());
  t.teardown(() => plain.close());
  const rcvbuf = (k: KrpcSocket): number => (k as unknown as { socket: import('node:dgram').Socket }).socket.getRecvBufferSize();
  const rmemMax = Number(readFileSync('/proc/sys/net/core/rmem_max', 'utf8'));
  // Linux reports twice what was set (the kernel's bookkeeping), capped at twice rmem_max.
  t.true(rcvbuf(s) >= Math.min(asked, rmemMax), `SO_RCVBUF ${rcvbuf(s)} for ${asked} asked (rmem_max ${rmemMax})`);
  if (rmemMax > 2 * rcvbuf(plain)) t.true(rcvbuf(s) > rcvbuf(plain), 'more than the default');
});
