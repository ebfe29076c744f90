/**
 * BEP 44 on the wire (bep5/queries.ts, replies.ts, bencode.ts): get and put queries and get
 * replies parsed from real bencoded bytes, encoded back, hostile fields (wrong types and
 * lengths 203, `v` over 1,000 bytes 205, salt over 64 bytes 207, `v` with unsorted keys 203),
 * and the decoder's canonical-form check that makes a put's `v` bytes exactly the ones sent.
 */
import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import { deepStrictEqual } from 'node:assert/strict';
import { type BencodeDict, type Encodable, decode, encode, isCanonicalDecoding } from '../bep5/bencode.js';
import { FieldError } from '../bep5/errors.js';
import { encodeQueryArgs, parseQueryArgs, type PutQuery } from '../bep5/queries.js';
import { encodeReply, parseReply } from '../bep5/replies.js';
import { asArrived as args, bytes, ID_A, ID_R, TOKEN } from './helpers/bep5-wire.js';
import { EIGHT, nodeId } from './helpers/reply-bodies.js';
import { arrived, valueArb } from './helpers/bep44.js';
import { params } from './helpers/fast-check.js';

const K = bytes(32, 0x6b);
const SIG = bytes(64, 0x73);
const MUTABLE = { id: ID_A, token: TOKEN, v: 'Hello World!', k: K, sig: SIG, seq: 1 };

function fieldError(t: ExecutionContext, fn: () => unknown, code: number, mention?: RegExp): void {
  const err = t.throws(fn, { instanceOf: FieldError });
  t.is(err?.krpcCode, code, err?.reason);
  if (mention !== undefined) t.regex(err?.reason ?? '', mention);
}

/** A put's `a` dictionary as raw bencoded text (for inputs the encoder would not write). */
const rawArgs = (inner: string): BencodeDict => decode(Buffer.from(inner, 'latin1')) as BencodeDict;

// ---------------------------------------------------------------------------------------------
// get queries

test('get: target, optional seq and want', (t) => {
  t.deepEqual(parseQueryArgs('get', args({ id: ID_A, target: ID_R })), { method: 'get', id: ID_A, target: ID_R, seq: undefined, want: undefined });
  t.deepEqual(parseQueryArgs('get', args({ id: ID_A, target: ID_R, seq: 0, want: ['n4', 'n6'] })), { method: 'get', id: ID_A, target: ID_R, seq: 0, want: { n4: true, n6: true } });
  t.is(parseQueryArgs('get', args({ id: ID_A, target: ID_R, seq: Number.MAX_SAFE_INTEGER })).seq, Number.MAX_SAFE_INTEGER);
  for (const seq of [-1, '1', [1], Buffer.from('1')] as Encodable[]) fieldError(t, () => parseQueryArgs('get', args({ id: ID_A, target: ID_R, seq })), 203, /seq/);
  for (const target of [bytes(19), bytes(32), 5] as Encodable[]) fieldError(t, () => parseQueryArgs('get', args({ id: ID_A, target })), 203, /target/);
});

test('get: encodeQueryArgs writes the BEP 44 request', (t) => {
  const a = encode(encodeQueryArgs({ method: 'get', id: ID_A, target: ID_R })).toString('latin1');
  t.is(a, 'd2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz123456e');
  t.is(encode(encodeQueryArgs({ method: 'get', id: ID_A, target: ID_R, seq: 4 })).toString('latin1'), 'd2:id20:abcdefghij01234567893:seqi4e6:target20:mnopqrstuvwxyz123456e');
});

// ---------------------------------------------------------------------------------------------
// put queries

test('put: an immutable put keeps v and its bytes (a fresh buffer equal to what was sent)', (t) => {
  const a = rawArgs('d2:id20:abcdefghij01234567895:token8:aoeusnth1:vd3:bar4:spam3:fooi42eee');
  const q = parseQueryArgs('put', a);
  t.is(q.k, undefined);
  t.is(q.vBytes.toString('latin1'), 'd3:bar4:spam3:fooi42ee');
  t.true(isCanonicalDecoding(q.v));
  t.deepEqual(Object.keys(q), ['method', 'id', 'token', 'v', 'vBytes']);
});

test('put: a mutable put reads k, sig, seq, salt and cas; an empty salt is none', (t) => {
  const q = parseQueryArgs('put', args({ ...MUTABLE, salt: 'foobar', cas: 0 }));
  t.true(q.k?.equals(K));
  t.true(q.sig?.equals(SIG));
  t.is(q.seq, 1);
  t.is(q.salt?.toString(), 'foobar');
  t.is(q.cas, 0);
  t.is(q.vBytes.toString(), '12:Hello World!');
  const noSalt = parseQueryArgs('put', args({ ...MUTABLE, salt: '' }));
  t.false('salt' in noSalt);
  t.false('cas' in noSalt);
});

test('put: wrong types and lengths are 203', (t) => {
  const bad: Array<[string, Record<string, Encodable | undefined>, RegExp]> = [
    ['no v', { ...MUTABLE, v: undefined }, /missing v/],
    ['no token', { ...MUTABLE, token: undefined }, /token/],
    ['empty token', { ...MUTABLE, token: '' }, /token/],
    ['k of 31 bytes', { ...MUTABLE, k: bytes(31) }, /\bk\b/],
    ['k of 33 bytes', { ...MUTABLE, k: bytes(33) }, /\bk\b/],
    ['k an integer', { ...MUTABLE, k: 5 }, /\bk\b/],
    ['sig of 63 bytes', { ...MUTABLE, sig: bytes(63) }, /sig/],
    ['sig a list', { ...MUTABLE, sig: [SIG] }, /sig/],
    ['seq missing with k', { ...MUTABLE, seq: undefined }, /seq/],
    ['k missing with seq', { ...MUTABLE, k: undefined }, /\bk\b/],
    ['sig missing with k', { ...MUTABLE, sig: undefined }, /sig/],
    ['seq negative', { ...MUTABLE, seq: -1 }, /seq/],
    ['seq a string', { ...MUTABLE, seq: '1' }, /seq/],
    ['salt an integer', { ...MUTABLE, salt: 7 }, /salt/],
    ['cas a string', { ...MUTABLE, cas: '1' }, /cas/],
    ['cas negative', { ...MUTABLE, cas: -1 }, /cas/],
  ];
  for (const [what, a, mention] of bad) fieldError(t, () => parseQueryArgs('put', args(a)), 203, mention);
});

test('put: v over 1,000 bytes bencoded is 205; exactly 1,000 is fine', (t) => {
  const exact = Buffer.alloc(1000 - 4, 0x61); // "996:" + 996 bytes
  t.is(parseQueryArgs('put', args({ id: ID_A, token: TOKEN, v: exact })).vBytes.length, 1000);
  fieldError(t, () => parseQueryArgs('put', args({ id: ID_A, token: TOKEN, v: Buffer.alloc(997) })), 205, /v too big/);
  fieldError(t, () => parseQueryArgs('put', args({ ...MUTABLE, v: Array.from({ length: 400 }, () => 1) })), 205, /v too big/);
});

test('put: salt over 64 bytes is 207; 64 is fine', (t) => {
  t.is(parseQueryArgs('put', args({ ...MUTABLE, salt: bytes(64) })).salt?.length, 64);
  fieldError(t, () => parseQueryArgs('put', args({ ...MUTABLE, salt: bytes(65) })), 207, /salt too big/);
});

test('put: a v with unsorted keys (at any depth) is 203; a sorted one with integer-like keys is fine', (t) => {
  for (const v of ['d1:bi1e1:ai2ee', 'ld1:bi1e1:ai2eee', 'd1:ad2:zz0:2:aa0:ee', 'd1:9i1e2:10i2ee']) {
    fieldError(t, () => parseQueryArgs('put', rawArgs(`d2:id20:abcdefghij01234567895:token8:aoeusnth1:v${v}e`)), 203, /canonical/);
  }
  // "10" sorts before "9" by bytes; JavaScript would list "9" first: the check does not look at key order in the object.
  const q = parseQueryArgs('put', rawArgs('d2:id20:abcdefghij01234567895:token8:aoeusnth1:vd2:10i2e1:9i1eee'));
  t.is(q.vBytes.toString('latin1'), 'd2:10i2e1:9i1ee');
  // The put's own arguments may be unsorted (deployed clients send such dicts); only v must be canonical.
  t.notThrows(() => parseQueryArgs('put', rawArgs('d5:token8:aoeusnth2:id20:abcdefghij01234567891:v1:xe')));
});

test('put: encodeQueryArgs writes the mutable example of BEP 44 (salt only when non-empty)', (t) => {
  const { v, vBytes } = arrived('Hello World!');
  const put: PutQuery = { method: 'put', id: ID_A, token: TOKEN, v, vBytes, k: K, sig: SIG, seq: 4, salt: Buffer.from('foobar'), cas: 3 };
  const text = encode(encodeQueryArgs(put)).toString('latin1');
  t.is(text, `d3:casi3e2:id20:abcdefghij01234567891:k32:${K.toString('latin1')}4:salt6:foobar3:seqi4e3:sig64:${SIG.toString('latin1')}5:token8:aoeusnth1:v12:Hello World!e`);
  t.false(encode(encodeQueryArgs({ ...put, salt: Buffer.alloc(0) })).toString('latin1').includes('salt'));
});

// ---------------------------------------------------------------------------------------------
// the decoder's canonical check

/** A bencoded value in which dictionaries may list their keys in any order (decodable, maybe not canonical). */
const anyOrderBencode: fc.Arbitrary<string> = fc.letrec<{ value: string }>((tie) => ({
  value: fc.oneof(
    { maxDepth: 4, depthIdentifier: 'raw' },
    fc.integer({ min: -99, max: 99 }).map((n) => `i${n}e`),
    fc.string({ unit: 'binary-ascii', maxLength: 4 }).map((s) => `${s.length}:${s}`),
    fc.array(tie('value'), { maxLength: 4, depthIdentifier: 'raw' }).map((items) => `l${items.join('')}e`),
    fc
      .uniqueArray(fc.tuple(fc.constantFrom('a', 'b', 'zz', '9', '10', '0', 'A'), tie('value')), { selector: (e) => e[0], maxLength: 4, depthIdentifier: 'raw' })
      .map((entries) => `d${entries.map(([k, v]) => `${k.length}:${k}${v}`).join('')}e`),
  ),
})).value;

test('property: isCanonicalDecoding(decode(x)) exactly when encode(decode(x)) is x', (t) => {
  fc.assert(
    fc.property(anyOrderBencode, (text) => {
      const raw = Buffer.from(text, 'latin1');
      const value = decode(raw);
      if (isCanonicalDecoding(value) !== encode(value).equals(raw)) throw new Error(`disagree on ${text}`);
    }),
    params(1000),
  );
  t.pass();
});

// ---------------------------------------------------------------------------------------------
// get replies

test('get reply: an item with k, seq, sig; copies of the datagram; nodes', (t) => {
  const datagram = encode({ t: 'aa', y: 'r', r: { id: ID_R, token: TOKEN, nodes: EIGHT, k: K, seq: 9, sig: SIG, v: { a: [1, 'x'] } } });
  const reply = parseReply('get', (decode(datagram) as BencodeDict)['r'] as BencodeDict);
  datagram.fill(0xee);
  t.true(reply.token?.equals(TOKEN));
  t.is(reply.nodes.length, 8);
  t.true(reply.nodes[0]!.id.equals(nodeId(0)));
  t.true(reply.k?.equals(K));
  t.true(reply.sig?.equals(SIG));
  t.is(reply.seq, 9);
  t.is(reply.vBytes?.toString(), 'd1:ali1e1:xee');
  t.deepEqual(reply.v, decode(Buffer.from('d1:ali1e1:xee')));
});

test('get reply: a seq alone, a token alone, nodes alone are answers; nothing at all is a FieldError', (t) => {
  t.is(parseReply('get', args({ id: ID_R, seq: 3 })).seq, 3);
  t.true(parseReply('get', args({ id: ID_R, token: TOKEN })).token?.equals(TOKEN));
  t.is(parseReply('get', args({ id: ID_R, nodes: EIGHT })).vBytes, undefined);
  t.throws(() => parseReply('get', args({ id: ID_R })), { instanceOf: FieldError });
  for (const [what, extra] of [['k', { k: bytes(31) }], ['sig', { sig: bytes(65) }], ['seq', { seq: -1 }], ['seq', { seq: 'x' }]] as const) {
    t.throws(() => parseReply('get', args({ id: ID_R, token: TOKEN, ...extra })), { instanceOf: FieldError, message: new RegExp(what) });
  }
});

test('get reply: a v sent with unsorted keys is read as its canonical bytes', (t) => {
  const r = decode(Buffer.from('d2:id20:mnopqrstuvwxyz1234561:vd1:bi1e1:ai2eee', 'latin1')) as BencodeDict;
  t.is(parseReply('get', r).vBytes?.toString('latin1'), 'd1:ai2e1:bi1ee');
});

test('get reply: encodeReply writes nodes only as asked, an empty nodes list when there is nothing else', (t) => {
  t.is(encode(encodeReply('get', { id: ID_R, token: TOKEN })).toString('latin1'), `d2:id20:${ID_R.toString('latin1')}5:nodes0:5:token8:aoeusnthe`);
  const seqOnly = encode(encodeReply('get', { id: ID_R, token: TOKEN, seq: 5 })).toString('latin1');
  t.is(seqOnly, `d2:id20:${ID_R.toString('latin1')}3:seqi5e5:token8:aoeusnthe`);
  t.is(encode(encodeReply('put', { id: ID_R })).toString('latin1'), `d2:id20:${ID_R.toString('latin1')}e`);
});

const id20 = fc.uint8Array({ minLength: 20, maxLength: 20 }).map((u) => Buffer.from(u));

test('property: get replies round-trip encodeReply → the wire → parseReply', (t) => {
  fc.assert(
    fc.property(
      id20,
      fc.option(fc.uint8Array({ minLength: 1, maxLength: 20 }).map((u) => Buffer.from(u)), { nil: undefined }),
      valueArb(),
      fc.option(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), { nil: undefined }),
      (id, token, { v, vBytes }, seq) => {
        const item = seq === undefined ? { v } : { v, seq, k: K, sig: SIG };
        const datagram = encode({ t: 'aa', y: 'r', r: encodeReply('get', { id, token, ...item }) });
        const reply = parseReply('get', (decode(datagram) as BencodeDict)['r'] as BencodeDict);
        if (!reply.vBytes?.equals(vBytes)) throw new Error('vBytes differ');
        deepStrictEqual(reply.v, v);
        deepStrictEqual([reply.seq, reply.k, reply.sig, reply.token], seq === undefined ? [undefined, undefined, undefined, token] : [seq, K, SIG, token]);
      },
    ),
    params(300),
  );
  t.pass();
});
