/**
 * bep5/bencode.ts's encoder: every value it cannot write is a typed error with its reason, and
 * fast (cycles included); what it writes is canonical (keys sorted by their bytes, shortest
 * integers, UTF-8 strings, latin1 keys) and decodes back byte for byte.
 */
import test from 'ava';
import { decode, encode, type BencodeDict, type Encodable } from '../bep5/bencode.js';
import { BencodeEncodeError, type BencodeEncodeFailure } from '../bep5/errors.js';
import { b, QUICK_MS } from './helpers/bencode-hostile.js';

// ---------------------------------------------------------------------------------------------
// Encoder

function encodeError(v: unknown): BencodeEncodeError {
  let thrown: unknown;
  try {
    encode(v as Encodable);
  } catch (e) {
    thrown = e;
  }
  if (!(thrown instanceof BencodeEncodeError)) {
    throw new Error(`expected BencodeEncodeError, got ${thrown === undefined ? 'a value' : String(thrown)}`);
  }
  return thrown;
}

const cyclicObject: Record<string, unknown> = { a: 1 };
cyclicObject['self'] = cyclicObject;
const cyclicList: unknown[] = [1];
cyclicList.push(cyclicList);
const cyclicWide: Record<string, unknown> = {};
for (let i = 0; i < 8; i++) cyclicWide[`k${i}`] = cyclicWide;

const encodeFailures: { name: string; value: unknown; reason: BencodeEncodeFailure }[] = [
  { name: 'float 1.5', value: 1.5, reason: 'not-a-safe-integer' },
  { name: 'float in a dict', value: { a: 0.1 }, reason: 'not-a-safe-integer' },
  { name: 'NaN', value: NaN, reason: 'not-a-safe-integer' },
  { name: 'Infinity', value: [Infinity], reason: 'not-a-safe-integer' },
  { name: '-Infinity', value: -Infinity, reason: 'not-a-safe-integer' },
  { name: '2^53', value: 2 ** 53, reason: 'not-a-safe-integer' },
  { name: '-(2^53)', value: -(2 ** 53), reason: 'not-a-safe-integer' },
  { name: '1e300', value: 1e300, reason: 'not-a-safe-integer' },
  { name: 'null', value: null, reason: 'unsupported-type' },
  { name: 'null in a dict', value: { a: null }, reason: 'unsupported-type' },
  { name: 'null in a list', value: [null], reason: 'unsupported-type' },
  { name: 'undefined at top level', value: undefined, reason: 'unsupported-type' },
  { name: 'undefined in a list', value: [1, undefined, 2], reason: 'undefined-in-list' },
  { name: 'a hole in a list', value: [1, , 2], reason: 'undefined-in-list' },
  { name: 'function', value: () => 1, reason: 'unsupported-type' },
  { name: 'function in a dict', value: { f() {} }, reason: 'unsupported-type' },
  { name: 'symbol', value: Symbol('x'), reason: 'unsupported-type' },
  { name: 'boolean', value: true, reason: 'unsupported-type' },
  { name: 'key with U+0100', value: { '\u0100': 1 }, reason: 'non-latin1-key' },
  { name: 'key with an emoji', value: { ok: 1, 'a\u{1F600}': 2 }, reason: 'non-latin1-key' },
  { name: 'cyclic object', value: cyclicObject, reason: 'unsupported-type' },
  { name: 'cyclic list', value: cyclicList, reason: 'unsupported-type' },
  { name: 'cyclic object with 8 self-references', value: cyclicWide, reason: 'unsupported-type' },
];

for (const f of encodeFailures) {
  test(`encode rejects ${f.name} → ${f.reason}`, (t) => {
    const t0 = process.hrtime.bigint();
    const err = encodeError(f.value);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    t.is(err.reason, f.reason);
    t.is(err.code, 'ERR_BENCODE_ENCODE');
    t.is(err.name, 'BencodeEncodeError');
    t.true(ms < QUICK_MS, `took ${ms.toFixed(2)} ms`);
  });
}

const enc = (v: Encodable): string => encode(v).toString('latin1');

test('encode: dict keys sorted by their bytes, not insertion or numeric order', (t) => {
  t.is(enc({ b: 1, a: 2, B: 3, '\xff': 4, '': 5 }), 'd0:i5e1:Bi3e1:ai2e1:bi1e1:\xffi4ee');
  // V8 lists integer-like keys first and numerically; bencode wants byte order.
  t.is(enc({ z: 0, 9: 1, 10: 2, 1: 3 }), 'd1:1i3e2:10i2e1:9i1e1:zi0ee');
  t.is(enc({ ab: 1, a: 2, abc: 3, b: 4 }), 'd1:ai2e2:abi1e3:abci3e1:bi4ee');
});

test('encode: -0 is i0e, integers are shortest, bigint allowed', (t) => {
  t.is(enc(-0), 'i0e');
  t.is(enc(0), 'i0e');
  t.is(enc(-42), 'i-42e');
  t.is(enc(Number.MAX_SAFE_INTEGER), 'i9007199254740991e');
  t.is(enc(-Number.MAX_SAFE_INTEGER), 'i-9007199254740991e');
  t.is(enc(2n ** 64n), 'i18446744073709551616e');
  t.is(enc(-(2n ** 70n)), 'i-1180591620717411303424e');
  t.is(enc(0n), 'i0e');
  t.is(enc([1n, { a: 2n }]), 'li1ed1:ai2eee');
});

test('encode: undefined dict values are skipped', (t) => {
  t.is(enc({ a: undefined, b: 1, c: undefined }), 'd1:bi1ee');
  t.is(enc({ a: undefined }), 'de');
  t.is(enc({}), 'de');
  t.is(enc([]), 'le');
});

test('encode: strings are UTF-8, byte strings are copied as is, keys are latin1', (t) => {
  t.true(encode('é').equals(Buffer.from([0x32, 0x3a, 0xc3, 0xa9])));
  t.true(encode('\u{1F600}').equals(Buffer.concat([b('4:'), Buffer.from('\u{1F600}', 'utf8')])));
  t.is(enc(''), '0:');
  t.is(enc('spam'), '4:spam');
  t.is(enc(new Uint8Array([0, 255, 10])), '3:\x00\xff\x0a');
  t.is(enc(Buffer.alloc(0)), '0:');
  // A view at an offset in a bigger buffer: only the view's bytes.
  const backing = b('XXspamYY');
  t.is(enc(backing.subarray(2, 6)), '4:spam');
  t.is(enc(new Uint8Array(backing.buffer, backing.byteOffset + 2, 4)), '4:spam');
  // A latin1 key is one byte per char; the same text as a value is UTF-8.
  t.is(enc({ '\xe9': '\xe9' }), 'd1:\xe92:\xc3\xa9e');
});

test('encode output grows past its initial buffer correctly', (t) => {
  const big = Buffer.alloc(100_000, 0x7a);
  const out = encode({ a: big, b: 'x'.repeat(3000), c: Array.from({ length: 2000 }, (_, i) => i) });
  const v = decode(out, { maxBytes: 1 << 20 }) as BencodeDict;
  t.true((v['a'] as Buffer).equals(big));
  t.is((v['b'] as Buffer).toString(), 'x'.repeat(3000));
  t.deepEqual(v['c'], Array.from({ length: 2000 }, (_, i) => i));
});

test('encode returns a Buffer not shared with later calls', (t) => {
  const a = encode('aaaa');
  const c = encode('cccc');
  t.true(Buffer.isBuffer(a));
  t.is(a.toString(), '4:aaaa');
  t.is(c.toString(), '4:cccc');
});

test('decode → encode is byte-exact for canonical input, including latin1 keys', (t) => {
  for (const s of ['de', 'le', 'i0e', '0:', 'd0:0:e', 'd1:\x00i1e1:\xffi2ee', 'd9:__proto__d8:pollutedi1eee', 'l4:spami-3eld1:ai1eeee']) {
    t.is(encode(decode(b(s))).toString('latin1'), s);
  }
  // Unsorted input re-encodes sorted, same length.
  t.is(encode(decode(b('d1:bi1e1:ai2ee'))).toString('latin1'), 'd1:ai2e1:bi1ee');
});

test('encode rejects objects that are not plain dictionaries instead of mis-encoding them', (t) => {
  const notPlain: unknown[] = [new Map([['a', 1]]), new Date(0), new DataView(new ArrayBuffer(2)), new Uint16Array(2), new String('x'), new Number(1)];
  for (const v of notPlain) {
    const err = t.throws(() => encode(v as never), { instanceOf: BencodeEncodeError }, String(v));
    t.is(err?.reason, 'unsupported-type');
  }
  t.is(encode(Object.assign(Object.create(null), { a: 1 })).toString(), 'd1:ai1ee', 'null-prototype dicts (what decode returns) still encode');
});
