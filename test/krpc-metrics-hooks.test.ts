import test from 'ava';
import { type BencodeDict, decode } from '../bep5/bencode.js';
import { encodeErrorMessage } from '../bep5/krpc-message.js';
import { QueryRejection } from '../bep5/errors.js';
import { KrpcSocket } from '../bep5/krpc-socket.js';
import { KRPC_ERROR_CODE_LABELS, errorCodeLabel } from '../bep5/krpc-socket-types.js';
import { DhtNode } from '../bep5/node.js';
import { randomId } from '../bep5/node-id.js';
import { RawPeer, loopbackHost } from './helpers/udp.js';

/** The counters and events metrics read (server/metrics): errors in by code, replies out, round trips. */

async function bound(): Promise<KrpcSocket> {
  const s = new KrpcSocket();
  await s.bind(0, loopbackHost());
  return s;
}

test('errors received are counted by BEP 5 code; any other code is "other"', async (t) => {
  const a = await bound();
  const b = await bound();
  t.teardown(() => Promise.all([a.close(), b.close()]));
  let next = 201;
  b.handle('ping', () => {
    throw new QueryRejection(next, 'no');
  });
  for (const code of [201, 203, 203, 204, 999, 65_000]) {
    next = code;
    await t.throwsAsync(a.query(b.address(), { method: 'ping', id: randomId() }));
  }
  const s = a.stats();
  t.is(s.errorsIn, 6);
  t.deepEqual(s.errorsInByCode, { '201': 1, '203': 2, '204': 1, other: 2 });
  t.is(s.repliesIn, 0);
});

test('a node answering with made-up codes cannot add keys beyond the five labels', async (t) => {
  const a = await bound();
  const raw = await RawPeer.bind();
  t.teardown(async () => {
    await a.close();
    await raw.close();
  });
  const codes = [202, -1, 2 ** 40, 1_000_000, 0, 202];
  for (const code of codes) {
    const query = a.query({ host: raw.host, port: raw.port }, { method: 'ping', id: randomId() });
    const { msg, rinfo } = await raw.next(5_000);
    const tid = (decode(msg) as BencodeDict).t as Buffer;
    await raw.send(encodeErrorMessage(tid, code, 'x'), rinfo.port, rinfo.address);
    await t.throwsAsync(query);
  }
  const s = a.stats();
  t.deepEqual(s.errorsInByCode, { '202': 2, other: 4 });
  t.true(Object.keys(s.errorsInByCode).every((k) => [...KRPC_ERROR_CODE_LABELS, 'other'].includes(k)));
});

test('errorCodeLabel names only the four BEP 5 codes and BEP 44\'s five', (t) => {
  t.deepEqual(
    [200, 201, 202, 203, 204, 205, 206, 207, 208, 300, 301, 302, 303, -201, 201.5].map(errorCodeLabel),
    ['other', '201', '202', '203', '204', '205', '206', '207', 'other', 'other', '301', '302', 'other', 'other', 'other'],
  );
});

test('replies we send are counted as repliesOut; errors we send are not', async (t) => {
  const a = await bound();
  const b = await bound();
  t.teardown(() => Promise.all([a.close(), b.close()]));
  b.handle('ping', () => ({ id: randomId() }));
  await a.query(b.address(), { method: 'ping', id: randomId() });
  await a.query(b.address(), { method: 'ping', id: randomId() });
  await t.throwsAsync(a.query(b.address(), { method: 'find_node', id: randomId(), target: randomId() }));
  const s = b.stats();
  t.is(s.repliesOut, 2);
  t.deepEqual(s.errorsOut, { 204: 1 });
  t.is(s.datagramsOut, 3);
});

test("DhtNode emits 'rpc' with the method and round trip of every reply, a crawler's on its socket included", async (t) => {
  const host = loopbackHost();
  const a = new DhtNode({ host, port: 0, bootstrap: [], allowPrivate: true, adoptBep42Id: false });
  await a.start();
  const b = new DhtNode({ host: loopbackHost(), port: 0, bootstrap: [`${host}:${a.address()!.port}`], allowPrivate: true, adoptBep42Id: false });
  await b.start();
  t.teardown(() => Promise.all([a.stop(), b.stop()]).then(() => undefined));
  const seen: Array<{ family: number; method: string; rttMs: number }> = [];
  b.on('rpc', (e) => seen.push(e));

  await b.ping(a.address()!);
  // A query sent straight on the socket (as the crawler does) is seen too.
  await b.socket(4)!.query(a.address()!, { method: 'find_node', id: b.id, target: randomId() });
  await t.throwsAsync(b.socket(4)!.query(a.address()!, { method: 'announce_peer', id: b.id, infoHash: randomId(), port: 1, token: Buffer.from('bad') }));

  t.deepEqual(
    seen.map((e) => [e.family, e.method]),
    [
      [4, 'ping'],
      [4, 'find_node'],
    ],
    'errors are not round trips of a reply',
  );
  t.true(seen.every((e) => Number.isFinite(e.rttMs) && e.rttMs >= 0));
});
