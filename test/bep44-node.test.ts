/**
 * A DhtNode serving BEP 44 over real UDP on loopback, queried by scripted raw peers: get and
 * put answers, the error codes of hostile puts (203, 205, 206, 207, 301, 302), `v` that is not
 * canonical bencoding, the reply size limit, and the reflection budget (an unverified source
 * gets `v` until its budget is spent; a verified one always does).
 */
import test from 'ava';
import { type BencodeDict, type Encodable, decode, encode } from '../bep5/bencode.js';
import { generateKeyPair, immutableTarget, mutableTarget, signItem } from '../bep5/bep44.js';
import { MAX_BEP44_SEND_BYTES } from '../bep5/constants.js';
import { randomId } from '../bep5/node-id.js';
import { ask, bytes, errorCode, q, r, rawPeer, startNode } from './helpers/node-hostile.js';
import { RawPeer } from './helpers/udp.js';
import { pollUntil } from './helpers/wait.js';
import { type PeerAddress } from '../bep5/compact.js';

const keys = generateKeyPair();

async function tokenFrom(peer: RawPeer, at: PeerAddress, id: Buffer): Promise<Buffer> {
  return bytes(r(await ask(peer, at, q('get', { id, target: randomId() }))).token);
}

/** The `a` of a signed mutable put of `value` (encoded as given) with `seq`. */
function mutablePut(id: Buffer, token: Buffer, value: Encodable, seq: number, extra: { salt?: Buffer; cas?: number } = {}): Record<string, Encodable | undefined> {
  const sig = signItem(keys.seed, seq, encode(value), extra.salt);
  return { id, token, v: value, k: keys.publicKey, seq, sig, salt: extra.salt, cas: extra.cas };
}

test('immutable: put with a token from get, then get returns v, token and nodes; stats count it', async (t) => {
  const { node, at } = await startNode(t);
  const peer = await rawPeer(t);
  const id = randomId();
  const target = immutableTarget(encode('Hello World!'));
  const before = r(await ask(peer, at, q('get', { id, target })));
  t.is(before.v, undefined);
  t.true(Buffer.isBuffer(before.token));
  t.true(Buffer.isBuffer(before.nodes), 'nodes, even if empty (BEP 44: always)');
  const put = await ask(peer, at, q('put', { id, token: bytes(before.token), v: 'Hello World!' }));
  t.true(bytes(r(put).id).equals(node.id));
  const after = r(await ask(peer, at, q('get', { id, target })));
  t.is(bytes(after.v).toString(), 'Hello World!');
  t.is(after.k, undefined);
  t.deepEqual(node.stats().items, { items: 1, bytes: 15 + 200 });
});

test('mutable: get returns k, seq, sig and v; with the query seq at or above, only seq', async (t) => {
  const { at } = await startNode(t);
  const peer = await rawPeer(t);
  const id = randomId();
  const token = await tokenFrom(peer, at, id);
  const salt = Buffer.from('foobar');
  t.truthy(r(await ask(peer, at, q('put', mutablePut(id, token, { list: [1, 2] }, 3, { salt })))));
  const target = mutableTarget(keys.publicKey, salt);
  const full = r(await ask(peer, at, q('get', { id, target })));
  t.deepEqual(decode(encode(full.v as Encodable)), decode(encode({ list: [1, 2] })));
  t.true(bytes(full.k).equals(keys.publicKey));
  t.is(full.seq, 3);
  t.is(bytes(full.sig).length, 64);
  t.is(full.salt, undefined, 'the salt is never echoed');
  for (const seq of [3, 4]) {
    const none = r(await ask(peer, at, q('get', { id, target, seq })));
    t.is(none.seq, 3);
    t.is(none.v, undefined);
    t.is(none.k, undefined);
    t.is(none.sig, undefined);
  }
  t.truthy(r(await ask(peer, at, q('get', { id, target, seq: 2 }))).v);
});

test('hostile puts get their BEP 44 error codes', async (t) => {
  const { node, at } = await startNode(t);
  const peer = await rawPeer(t);
  const id = randomId();
  const token = await tokenFrom(peer, at, id);
  const code = async (a: Record<string, Encodable | undefined>): Promise<number | undefined> => errorCode(await ask(peer, at, q('put', a)));

  t.is(await code({ id, token: Buffer.from('12345678'), v: 'x' }), 203, 'bad token');
  t.is(await code({ id, token, v: Buffer.alloc(997) }), 205, 'v of 1,001 bytes');
  t.is(await code({ ...mutablePut(id, token, 'x', 1), salt: Buffer.alloc(65) }), 207, 'salt of 65 bytes');
  t.is(await code({ ...mutablePut(id, token, 'x', 1), v: 'y' }), 206, 'signature of another value');
  t.is(await code({ ...mutablePut(id, token, 'x', 1), k: generateKeyPair().publicKey }), 206, 'another key');
  t.is(await code({ ...mutablePut(id, token, 'x', 1), k: Buffer.alloc(31) }), 203, 'k of 31 bytes');
  t.is(await code({ ...mutablePut(id, token, 'x', 1), seq: -1 }), 203, 'negative seq');

  t.is(await code(mutablePut(id, token, 'five', 5)), undefined, 'stored');
  t.is(await code(mutablePut(id, token, 'four', 4)), 302, 'lower seq');
  t.is(await code(mutablePut(id, token, 'other five', 5)), 302, 'same seq, other value');
  t.is(await code(mutablePut(id, token, 'five', 5)), undefined, 'same seq, same value: refreshed');
  t.is(await code(mutablePut(id, token, 'six', 6, { cas: 4 })), 301, 'cas mismatch');
  t.is(await code(mutablePut(id, token, 'six', 6, { cas: 5 })), undefined, 'cas match');
  t.is(r(await ask(peer, at, q('get', { id, target: mutableTarget(keys.publicKey) }))).seq, 6);
  t.is(node.stats().families['ipv4']!.socket.internalErrors, 0);
});

test('a v that is not canonical bencoding: unsorted keys are 203; leading zeros and huge integers do not decode at all', async (t) => {
  const { node, at } = await startNode(t);
  const peer = await rawPeer(t);
  const id = randomId();
  const token = await tokenFrom(peer, at, id);
  const raw = (v: string): Buffer => Buffer.concat([Buffer.from(`d1:ad2:id20:`), id, Buffer.from(`5:token${token.length}:`), token, Buffer.from(`1:v${v}e1:q3:put1:t2:xy1:y1:qe`)]);
  t.is(errorCode(await ask(peer, at, raw('d1:bi1e1:ai2ee'))), 203);
  t.is(node.stats().items.items, 0);
  const dropped = (): number => node.stats().families['ipv4']!.socket.dropped.undecodable;
  for (const v of ['i01e', 'li-0ee', '01:x', `i${2 ** 53}e`]) {
    const before = dropped();
    await peer.send(raw(v), at.port, at.host);
    await pollUntil(() => dropped() === before + 1, `the put with v ${v} to be dropped as undecodable`);
  }
  // A mutable put with a seq past 2^53 - 1 is dropped the same way (our decoder's integer limit).
  const before = dropped();
  const big = encode({ t: 'zz', y: 'q', q: 'put', a: mutablePut(id, token, 'x', 1) }).toString('latin1').replace('3:seqi1e', `3:seqi${2n ** 63n - 1n}e`);
  await peer.send(Buffer.from(big, 'latin1'), at.port, at.host);
  await pollUntil(() => dropped() === before + 1, 'the put with a 2^63 - 1 seq to be dropped');
  t.is(node.stats().items.items, 0);
});

/** Raw peers that answer every query with `r: { id }`, and that `node` has pinged, so they sit in its tables. */
async function answeringContacts(t: import('ava').ExecutionContext, node: import('../bep5/node.js').DhtNode, count: number, family: 4 | 6): Promise<void> {
  for (let i = 0; i < count; i++) {
    const c = family === 4 ? await rawPeer(t) : await RawPeer.bind('::1', 'udp6');
    if (family === 6) t.teardown(() => c.close());
    const id = randomId();
    c.socket.on('message', (msg, rinfo) => {
      const d = decode(msg) as BencodeDict;
      if (Buffer.isBuffer(d.y) && d.y.toString() === 'q') c.socket.send(encode({ t: d.t as Buffer, y: 'r', r: { id } }), rinfo.port, rinfo.address);
    });
    await node.ping({ host: c.host, port: c.port });
  }
}

test('a get reply with a 1,000-byte item and 8 + 8 nodes asked stays within MAX_BEP44_SEND_BYTES', async (t) => {
  const { node, at } = await startNode(t, { families: [4, 6], host6: '::1' });
  await answeringContacts(t, node, 10, 4);
  await answeringContacts(t, node, 10, 6);
  t.true((node.table(4)?.size ?? 0) >= 8);
  t.true((node.table(6)?.size ?? 0) >= 8);
  const peer = await rawPeer(t);
  const id = randomId();
  const token = await tokenFrom(peer, at, id);
  const value = Buffer.alloc(996, 0x61);
  t.is(errorCode(await ask(peer, at, q('put', mutablePut(id, token, value, Number.MAX_SAFE_INTEGER)))), undefined);
  const tid = Buffer.alloc(32, 7);
  await peer.send(q('get', { id, target: mutableTarget(keys.publicKey), want: ['n4', 'n6'] }, tid), at.port, at.host);
  const { msg } = await nextDatagramWithT(peer, tid);
  const reply = r(decode(msg) as BencodeDict);
  t.true(msg.length <= MAX_BEP44_SEND_BYTES, `${msg.length} bytes`);
  t.true(msg.length > 1232, `${msg.length} bytes: more than a BEP 5 reply may take`);
  t.is(bytes(reply.v).length, 996);
  t.is(bytes(reply.nodes).length / 26, 6, 'IPv4 nodes kept first for an IPv4 querier');
  t.is(bytes(reply.nodes6).length, 0);
  // Without the item, all 8 + 8.
  const plain = r(await ask(peer, at, q('get', { id, target: randomId(), want: ['n4', 'n6'] })));
  t.is(bytes(plain.nodes).length / 26, 8);
  t.is(bytes(plain.nodes6).length / 38, 8);
});

async function nextDatagramWithT(peer: RawPeer, tid: Buffer): Promise<{ msg: Buffer }> {
  for (;;) {
    const got = await peer.next(2_000);
    const d = decode(got.msg) as BencodeDict;
    if (Buffer.isBuffer(d.t) && d.t.equals(tid)) return got;
  }
}

test('reflection budget: an unverified source gets v until its budget is spent; a verified one always does', async (t) => {
  const { node, at } = await startNode(t, { limitPrivate: true });
  const stranger = await rawPeer(t);
  const id = randomId();
  const token = await tokenFrom(stranger, at, id);
  // A value near the limit: a reply carrying it costs more than the allowance left after one.
  const value = Buffer.alloc(990, 0x62);
  t.is(errorCode(await ask(stranger, at, q('put', { id, token, v: value }))), undefined);
  const target = immutableTarget(encode(value));

  const get = async (): Promise<{ sent: number; received: number; v: boolean }> => {
    const query = q('get', { id, target });
    const answer = await ask(stranger, at, query);
    return { sent: query.length, received: encode(answer as Encodable).length, v: r(answer).v !== undefined };
  };
  const first = await get();
  t.true(first.v, 'the first get: within the allowance');
  const second = await get();
  t.false(second.v, 'the second: past the budget');
  const answer = r(await ask(stranger, at, q('get', { id, target: randomId() })));
  t.true(Buffer.isBuffer(answer.token), 'nodes and token only');
  t.true(Buffer.isBuffer(answer.nodes));
  // Each get earns 3x its size, a reply with v spends its size: over many gets, what carried
  // v stays within the allowance plus 3x the bytes received, and some answers go without.
  let sent = first.sent + second.sent;
  let reflected = first.received;
  let withV = 0;
  for (let i = 0; i < 12; i++) {
    const g = await get();
    sent += g.sent;
    if (g.v) {
      withV++;
      reflected += g.received;
    }
  }
  t.true(withV >= 1 && withV < 12, `${withV} of 12 with v`);
  t.true(reflected <= 1452 + 3 * sent, `${reflected} bytes with v for ${sent} received`);

  // A node that answered a query of ours has proved its address.
  const { node: friend } = await startNode(t, { limitPrivate: true });
  await node.ping(friend.address()!);
  for (let i = 0; i < 10; i++) {
    const { reply } = await friend.socket()!.query(at, { method: 'get', id: friend.id, target });
    t.is(reply.vBytes?.length, 994, `get ${i}`);
  }
});

test('exempt sources: loopback without limitPrivate always gets v', async (t) => {
  const { at } = await startNode(t);
  const peer = await rawPeer(t);
  const id = randomId();
  const token = await tokenFrom(peer, at, id);
  const value = Buffer.alloc(900, 0x63);
  await ask(peer, at, q('put', { id, token, v: value }));
  for (let i = 0; i < 10; i++) t.truthy(r(await ask(peer, at, q('get', { id, target: immutableTarget(encode(value)) }))).v);
});

test('bep44: false answers get and put with 204', async (t) => {
  const { at } = await startNode(t, { bep44: false });
  const peer = await rawPeer(t);
  t.is(errorCode(await ask(peer, at, q('get', { id: randomId(), target: randomId() }))), 204);
  t.is(errorCode(await ask(peer, at, q('put', { id: randomId(), token: 'x', v: 'x' }))), 204);
});
