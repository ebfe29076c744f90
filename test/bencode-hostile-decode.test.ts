/**
 * Hostile and edge-case inputs for bep5/bencode.ts's decoder: every rejection names its exact
 * reason and offset and is fast; every acceptance yields the documented shape (Buffer views,
 * null-prototype dicts with latin1 keys, safe integers), up to the byte and depth limits.
 */
import test from 'ava';
import { decode, tryDecode, encode, DEFAULT_MAX_BYTES, DEFAULT_MAX_DEPTH, type BencodeValue, type BencodeDict, type DecodeOptions } from '../bep5/bencode.js';
import { BencodeDecodeError, type BencodeFailure } from '../bep5/errors.js';
import { b, QUICK_MS } from './helpers/bencode-hostile.js';

function timed<T>(fn: () => T): { result: T; ms: number } {
  const t0 = process.hrtime.bigint();
  const result = fn();
  return { result, ms: Number(process.hrtime.bigint() - t0) / 1e6 };
}

/** Decodes and returns the BencodeDecodeError, failing if it returns or throws anything else. */
function decodeError(input: Uint8Array, options?: DecodeOptions): { err: BencodeDecodeError; ms: number } {
  const t0 = process.hrtime.bigint();
  let thrown: unknown;
  try {
    decode(input, options);
  } catch (e) {
    thrown = e;
  }
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (!(thrown instanceof BencodeDecodeError)) {
    throw new Error(`expected BencodeDecodeError, got ${thrown === undefined ? 'a value' : String(thrown)}`);
  }
  return { err: thrown, ms };
}

interface Hostile {
  name: string;
  input: Uint8Array;
  reason: BencodeFailure;
  offset: number;
  options?: DecodeOptions;
}

const deepL = (n: number): Buffer => Buffer.alloc(n, 'l');

const hostile: Hostile[] = [
  // Negative lengths: bencode 2/4 hang forever or run out of memory on these.
  { name: 'l-3:e', input: b('l-3:e'), reason: 'negative-length', offset: 1 },
  { name: 'd1:x1:y1:z-10:e (bencode 4: infinite loop)', input: b('d1:x1:y1:z-10:e'), reason: 'negative-length', offset: 10 },
  { name: 'l1:x-6:e (bencode 4: OOM)', input: b('l1:x-6:e'), reason: 'negative-length', offset: 4 },
  { name: '-1:a at top level', input: b('-1:a'), reason: 'negative-length', offset: 0 },
  { name: 'minus inside a length 1-:a', input: b('1-:a'), reason: 'negative-length', offset: 1 },
  { name: 'negative length as dict key d-1:ai1ee', input: b('d-1:ai1ee'), reason: 'key-not-string', offset: 1 },
  // Lengths that can never be satisfied.
  { name: '99999999999:x', input: b('99999999999:x'), reason: 'oversized-length', offset: 0 },
  { name: '4294967296:x (2^32)', input: b('4294967296:x'), reason: 'oversized-length', offset: 0 },
  { name: '18446744073709551616:x (2^64)', input: b('18446744073709551616:x'), reason: 'oversized-length', offset: 0 },
  { name: 'oversized length inside a list', input: b('l5000:abce'), reason: 'oversized-length', offset: 1 },
  { name: '3:ab (short string)', input: b('3:ab'), reason: 'length-past-end', offset: 0 },
  { name: '1: (nothing after colon)', input: b('1:'), reason: 'length-past-end', offset: 0 },
  { name: 'l3:abe (length eats the e)', input: b('l3:abe'), reason: 'truncated', offset: 6 },
  { name: 'l4:abe (length runs past the end)', input: b('l4:abe'), reason: 'length-past-end', offset: 1 },
  // Nesting.
  { name: "100,000 nested 'l', default maxBytes", input: deepL(100_000), reason: 'too-large', offset: DEFAULT_MAX_BYTES },
  { name: "100,000 nested 'l', maxBytes 200000", input: deepL(100_000), options: { maxBytes: 200_000 }, reason: 'too-deep', offset: 32 },
  { name: "100,000 nested 'l' closed, maxBytes 200000", input: Buffer.concat([deepL(100_000), Buffer.alloc(100_000, 'e')]), options: { maxBytes: 200_000 }, reason: 'too-deep', offset: 32 },
  { name: "'d1:a' x 50,000, default maxBytes", input: b('d1:a'.repeat(50_000)), reason: 'too-large', offset: DEFAULT_MAX_BYTES },
  { name: "'d1:a' x 50,000, maxBytes 200000", input: b('d1:a'.repeat(50_000)), options: { maxBytes: 200_000 }, reason: 'too-deep', offset: 32 * 4 },
  { name: "'li1e' x 50,000, maxBytes 200000", input: b('li1e'.repeat(50_000)), options: { maxBytes: 200_000 }, reason: 'too-deep', offset: 32 * 4 },
  // Integers.
  { name: 'i-0e', input: b('i-0e'), reason: 'negative-zero', offset: 1 },
  { name: 'i-00e', input: b('i-00e'), reason: 'leading-zero', offset: 2 },
  { name: 'i007e', input: b('i007e'), reason: 'leading-zero', offset: 1 },
  { name: 'i00e', input: b('i00e'), reason: 'leading-zero', offset: 1 },
  { name: 'i1.5e', input: b('i1.5e'), reason: 'bad-integer', offset: 2 },
  { name: 'ie', input: b('ie'), reason: 'bad-integer', offset: 1 },
  { name: 'i-e', input: b('i-e'), reason: 'bad-integer', offset: 2 },
  { name: 'i--1e', input: b('i--1e'), reason: 'bad-integer', offset: 2 },
  { name: 'i+1e', input: b('i+1e'), reason: 'bad-integer', offset: 1 },
  { name: 'i 1e', input: b('i 1e'), reason: 'bad-integer', offset: 1 },
  { name: 'i1e3e (exponent)', input: b('i1e3e'), reason: 'trailing-bytes', offset: 3 },
  { name: 'i0x10e', input: b('i0x10e'), reason: 'bad-integer', offset: 2 },
  { name: 'i9007199254740992e (2^53)', input: b('i9007199254740992e'), reason: 'integer-out-of-range', offset: 1 },
  { name: 'i-9007199254740992e (-2^53)', input: b('i-9007199254740992e'), reason: 'integer-out-of-range', offset: 1 },
  { name: 'i9999999999999999e (16 digits)', input: b('i9999999999999999e'), reason: 'integer-out-of-range', offset: 1 },
  { name: 'i99999999999999999999e', input: b('i99999999999999999999e'), reason: 'integer-out-of-range', offset: 1 },
  { name: 'i followed by 60,000 digits', input: b('i' + '9'.repeat(60_000) + 'e'), reason: 'integer-out-of-range', offset: 1 },
  { name: 'i', input: b('i'), reason: 'truncated', offset: 1 },
  { name: 'i123 (no e)', input: b('i123'), reason: 'truncated', offset: 4 },
  { name: 'i- (no digits, no e)', input: b('i-'), reason: 'truncated', offset: 2 },
  // Lengths.
  { name: '05:hello', input: b('05:hello'), reason: 'leading-zero', offset: 0 },
  { name: '00:', input: b('00:'), reason: 'leading-zero', offset: 0 },
  { name: '1x:a', input: b('1x:a'), reason: 'bad-length', offset: 1 },
  { name: '1 :a', input: b('1 :a'), reason: 'bad-length', offset: 1 },
  { name: '123 (only digits: longer than the input)', input: b('123'), reason: 'oversized-length', offset: 0 },
  { name: '1 (only a digit)', input: b('1'), reason: 'truncated', offset: 1 },
  { name: '0 (only a zero)', input: b('0'), reason: 'truncated', offset: 1 },
  { name: "':' alone", input: b(':'), reason: 'unexpected-byte', offset: 0 },
  // Structure.
  { name: 'empty input', input: new Uint8Array(0), reason: 'empty', offset: 0 },
  { name: "'l' unterminated", input: b('l'), reason: 'truncated', offset: 1 },
  { name: "'d' unterminated", input: b('d'), reason: 'truncated', offset: 1 },
  { name: 'li1e unterminated', input: b('li1e'), reason: 'truncated', offset: 4 },
  { name: 'd1:a (key, no value)', input: b('d1:a'), reason: 'truncated', offset: 4 },
  { name: 'd1:ai1e unterminated', input: b('d1:ai1e'), reason: 'truncated', offset: 7 },
  { name: 'd1:ae (value missing)', input: b('d1:ae'), reason: 'unexpected-byte', offset: 4 },
  { name: "'e' alone", input: b('e'), reason: 'unexpected-byte', offset: 0 },
  { name: "'x' alone", input: b('x'), reason: 'unexpected-byte', offset: 0 },
  { name: 'high byte 0xff', input: b('\xff'), reason: 'unexpected-byte', offset: 0 },
  { name: 'NUL byte', input: b('\x00'), reason: 'unexpected-byte', offset: 0 },
  { name: 'list holding a bad byte', input: b('lxe'), reason: 'unexpected-byte', offset: 1 },
  { name: '4:spam + x (trailing)', input: b('4:spamx'), reason: 'trailing-bytes', offset: 6 },
  { name: 'i1ei2e (two values)', input: b('i1ei2e'), reason: 'trailing-bytes', offset: 3 },
  { name: 'lee (extra e)', input: b('lee'), reason: 'trailing-bytes', offset: 2 },
  { name: 'de + NUL', input: b('de\x00'), reason: 'trailing-bytes', offset: 2 },
  // Dictionaries.
  { name: 'd1:ai1e1:ai2ee (duplicate key)', input: b('d1:ai1e1:ai2ee'), reason: 'duplicate-key', offset: 7 },
  { name: 'duplicate key, not adjacent', input: b('d1:ai1e1:bi2e1:ai3ee'), reason: 'duplicate-key', offset: 13 },
  { name: 'duplicate __proto__ key', input: b('d9:__proto__i1e9:__proto__i2ee'), reason: 'duplicate-key', offset: 15 },
  { name: 'duplicate integer-like key', input: b('d1:0i1e1:0i2ee'), reason: 'duplicate-key', offset: 7 },
  { name: 'di1ei2ee (integer key)', input: b('di1ei2ee'), reason: 'key-not-string', offset: 1 },
  { name: 'dlei1ee (list key)', input: b('dlei1ee'), reason: 'key-not-string', offset: 1 },
  { name: 'ddei1ee (dict key)', input: b('ddei1ee'), reason: 'key-not-string', offset: 1 },
  { name: 'key with leading-zero length', input: b('d01:ai1ee'), reason: 'leading-zero', offset: 1 },
  // Option bounds.
  { name: 'one byte over maxBytes', input: b('9:abcdefghi'), options: { maxBytes: 10 }, reason: 'too-large', offset: 10 },
  { name: 'one level over maxDepth (lists)', input: b('l'.repeat(5) + 'e'.repeat(5)), options: { maxDepth: 4 }, reason: 'too-deep', offset: 4 },
  { name: 'one level over maxDepth (dicts)', input: b('d1:a'.repeat(5) + 'de' + 'e'.repeat(5)), options: { maxDepth: 5 }, reason: 'too-deep', offset: 20 },
  { name: 'maxDepth 0 rejects an empty list', input: b('le'), options: { maxDepth: 0 }, reason: 'too-deep', offset: 0 },
];

for (const h of hostile) {
  test(`rejects ${h.name} → ${h.reason}`, (t) => {
    const { err, ms } = decodeError(h.input, h.options);
    t.is(err.reason, h.reason);
    t.is(err.offset, h.offset);
    t.is(err.code, 'ERR_BENCODE_DECODE');
    t.is(err.name, 'BencodeDecodeError');
    t.true(err instanceof Error);
    t.true(ms < QUICK_MS, `took ${ms.toFixed(2)} ms`);
    // tryDecode hands back the same failure instead of throwing.
    const r = tryDecode(h.input, h.options);
    t.true(r instanceof BencodeDecodeError);
    t.is((r as BencodeDecodeError).reason, h.reason);
  });
}

test('default limits are 65536 bytes and 32 levels', (t) => {
  t.is(DEFAULT_MAX_BYTES, 65_536);
  t.is(DEFAULT_MAX_DEPTH, 32);
});

// ---------------------------------------------------------------------------------------------
// Accepted inputs

/** Every dict in v has a null prototype and every byte string is a Buffer. */
function assertShape(t: { true(v: boolean, m?: string): void }, v: BencodeValue): void {
  if (typeof v === 'number') return;
  if (Buffer.isBuffer(v)) return;
  if (Array.isArray(v)) {
    for (const x of v) assertShape(t, x);
    return;
  }
  t.true(v !== null && typeof v === 'object', 'unexpected value kind');
  t.true(Object.getPrototypeOf(v) === null, 'dict prototype is not null');
  for (const x of Object.values(v as BencodeDict)) assertShape(t, x);
}

/** Plain, comparable form: Buffers as {hex}, dicts as plain objects with sorted keys. */
type Plain = number | { hex: string } | Plain[] | { dict: [string, Plain][] };
function plain(v: BencodeValue): Plain {
  if (typeof v === 'number') return v;
  if (Buffer.isBuffer(v)) return { hex: v.toString('hex') };
  if (Array.isArray(v)) return v.map(plain);
  const d = v as BencodeDict;
  return { dict: Object.keys(d).sort().map((k): [string, Plain] => [k, plain(d[k] as BencodeValue)]) };
}
const hex = (s: string): { hex: string } => ({ hex: Buffer.from(s, 'latin1').toString('hex') });

test('de decodes to an empty null-prototype dict', (t) => {
  const v = decode(b('de'));
  t.deepEqual(Object.keys(v as object), []);
  t.is(Object.getPrototypeOf(v), null);
});

test('le, 0:, i0e, i-1e, and the safe-integer extremes decode', (t) => {
  t.deepEqual(decode(b('le')), []);
  const empty = decode(b('0:'));
  t.true(Buffer.isBuffer(empty));
  t.is((empty as Buffer).length, 0);
  t.is(decode(b('i0e')), 0);
  t.is(decode(b('i-1e')), -1);
  t.is(decode(b('i9007199254740991e')), Number.MAX_SAFE_INTEGER);
  t.is(decode(b('i-9007199254740991e')), -Number.MAX_SAFE_INTEGER);
  t.is(decode(b('i1000000000000000e')), 1e15);
});

test('unsorted dict keys are accepted', (t) => {
  const v = decode(b('d1:bi1e1:ai2ee')) as BencodeDict;
  t.is(v['a'], 2);
  t.is(v['b'], 1);
  t.is(Object.getPrototypeOf(v), null);
});

test('d9:__proto__i1ee is a plain own key; nothing is polluted', (t) => {
  const v = decode(b('d9:__proto__i1ee')) as BencodeDict;
  t.is(Object.getPrototypeOf(v), null);
  t.true(Object.hasOwn(v, '__proto__'));
  t.is(v['__proto__'], 1);
  t.deepEqual(Object.keys(v), ['__proto__']);
  t.is(Object.getPrototypeOf({}), Object.prototype);
  // A dict under __proto__ does not leak into other objects either.
  const w = decode(b('d9:__proto__d8:pollutedi1eee')) as BencodeDict;
  t.is(Object.getPrototypeOf(w), null);
  t.is(Object.getPrototypeOf(w['__proto__'] as object), null);
  t.is(({} as Record<string, unknown>)['polluted'], undefined);
  t.false('polluted' in Object.prototype);
});

test('d11:constructori1ee and other Object.prototype names are ordinary keys', (t) => {
  const v = decode(b('d11:constructori1ee')) as BencodeDict;
  t.is(Object.getPrototypeOf(v), null);
  t.true(Object.hasOwn(v, 'constructor'));
  t.is(v['constructor'], 1);
  t.is(({}).constructor, Object);
  // With an ordinary {} these would be reported as duplicates (`in` sees the inherited names).
  const w = decode(b('d11:constructori1e14:hasOwnPropertyi2e8:toStringi3e7:valueOfi4ee')) as BencodeDict;
  t.deepEqual(plain(w), { dict: [['constructor', 1], ['hasOwnProperty', 2], ['toString', 3], ['valueOf', 4]] });
});

test('dict keys are latin1: every key byte is kept, including non-UTF-8 bytes', (t) => {
  const v = decode(b('d2:\xff\xfei1e2:\xc3\xa9i2e0:i3ee')) as BencodeDict;
  t.is(v['\xff\xfe'], 1);
  t.is(v['\xc3\xa9'], 2); // UTF-8 "é" stays two latin1 chars
  t.is(v[''], 3);
  t.deepEqual(Object.keys(v).sort(), ['', '\xc3\xa9', '\xff\xfe']);
});

test('a canonical KRPC query decodes to the expected structure', (t) => {
  const id = 'abcdefghij0123456789';
  const msg = b(`d1:ad2:id20:${id}6:target20:mnopqrstuvwxyz123456e1:q9:find_node1:t2:aa1:v4:UT\x01\x021:y1:qe`);
  const v = decode(msg);
  assertShape(t, v);
  t.deepEqual(plain(v), {
    dict: [
      ['a', { dict: [['id', hex(id)], ['target', hex('mnopqrstuvwxyz123456')]] }],
      ['q', hex('find_node')],
      ['t', hex('aa')],
      ['v', hex('UT\x01\x02')],
      ['y', hex('q')],
    ],
  });
  // And it re-encodes to the same bytes.
  t.true(encode(v).equals(msg));
});

test('a canonical get_peers reply with values and an error message decode', (t) => {
  const peers = ['\x7f\x00\x00\x01\x1a\xe1', '\x0a\x00\x00\x02\x00\x50'];
  const msg = b(`d1:rd2:id20:${'x'.repeat(20)}5:token8:tok\x00\xff\x01\x02\x036:valuesl6:${peers[0]}6:${peers[1]}ee1:t2:\x00\x011:y1:re`);
  const v = decode(msg);
  assertShape(t, v);
  t.deepEqual(plain(v), {
    dict: [
      ['r', { dict: [['id', hex('x'.repeat(20))], ['token', hex('tok\x00\xff\x01\x02\x03')], ['values', [hex(peers[0]!), hex(peers[1]!)]]] }],
      ['t', hex('\x00\x01')],
      ['y', hex('r')],
    ],
  });
  const err = decode(b('d1:eli201e23:A Generic Error Ocurrede1:t2:aa1:y1:ee'));
  t.deepEqual(plain(err), { dict: [['e', [201, hex('A Generic Error Ocurred')]], ['t', hex('aa')], ['y', hex('e')]] });
});

test('byte strings are Buffers that view the input without copying', (t) => {
  const input = b('l4:spami42ed3:cow3:mooee');
  const v = decode(input) as BencodeValue[];
  const spam = v[0] as Buffer;
  t.true(Buffer.isBuffer(spam));
  t.is(spam.toString(), 'spam');
  t.is(spam.buffer, input.buffer);
  const moo = (v[2] as BencodeDict)['cow'] as Buffer;
  t.true(Buffer.isBuffer(moo));
  t.is(moo.toString(), 'moo');
  t.is(v[1], 42);
});

test('a plain Uint8Array (not a Buffer), also one at an offset, decodes to Buffers', (t) => {
  const u = new Uint8Array(b('d3:bar4:spam3:fooi42ee'));
  t.false(Buffer.isBuffer(u));
  const v = decode(u) as BencodeDict;
  t.true(Buffer.isBuffer(v['bar']));
  t.is((v['bar'] as Buffer).toString(), 'spam');
  t.is(v['foo'], 42);
  t.is(Object.getPrototypeOf(v), null);
  // A view in the middle of a larger ArrayBuffer: only the view's bytes count.
  const backing = new Uint8Array(b('XXXX4:spamYYYY'));
  const view = backing.subarray(4, 10);
  const s = decode(view) as Buffer;
  t.true(Buffer.isBuffer(s));
  t.is(s.toString(), 'spam');
  t.is(s.buffer, backing.buffer);
  t.is(s.byteOffset, 6);
  // The bytes after the view are not trailing bytes, and the bytes before are not read.
  t.is(tryDecode(backing.subarray(0, 10)) instanceof BencodeDecodeError, true);
});

test('input of exactly maxBytes is accepted, one more byte is rejected', (t) => {
  t.is((decode(b('8:abcdefgh'), { maxBytes: 10 }) as Buffer).toString(), 'abcdefgh');
  t.is(decodeError(b('9:abcdefghi'), { maxBytes: 10 }).err.reason, 'too-large');
  // Default: a 65,536-byte string message passes, 65,537 does not.
  const exact = Buffer.concat([b('65530:'), Buffer.alloc(65_530, 0x61)]);
  t.is(exact.length, DEFAULT_MAX_BYTES);
  t.is((decode(exact) as Buffer).length, 65_530);
  const over = Buffer.concat([b('65531:'), Buffer.alloc(65_531, 0x61)]);
  t.is(over.length, DEFAULT_MAX_BYTES + 1);
  t.is(decodeError(over).err.reason, 'too-large');
});

test('nesting of exactly maxDepth is accepted, one more level is rejected', (t) => {
  const lists = (n: number): Buffer => b('l'.repeat(n) + 'e'.repeat(n));
  const dicts = (n: number): Buffer => b('d1:a'.repeat(n - 1) + 'de' + 'e'.repeat(n - 1));
  const mixed = (n: number): Buffer => b('ld1:a'.repeat(n / 2) + 'i1e' + 'ee'.repeat(n / 2));
  for (const make of [lists, dicts, mixed]) {
    assertShape(t, decode(make(DEFAULT_MAX_DEPTH)));
    t.is(decodeError(make(DEFAULT_MAX_DEPTH + 2)).err.reason, 'too-deep');
    assertShape(t, decode(make(4), { maxDepth: 4 }));
    t.is(decodeError(make(6), { maxDepth: 5 }).err.reason, 'too-deep');
  }
  t.is(decodeError(lists(DEFAULT_MAX_DEPTH + 1)).err.reason, 'too-deep');
  t.is(decodeError(dicts(DEFAULT_MAX_DEPTH + 1)).err.reason, 'too-deep');
  t.is(decodeError(lists(5), { maxDepth: 4 }).err.reason, 'too-deep');
  // Scalars have depth 0.
  t.is(decode(b('i1e'), { maxDepth: 0 }), 1);
  t.is(decode(lists(100), { maxDepth: 100 }) instanceof Array, true);
});

test('deep nesting with a raised maxBytes fails fast and never overflows the stack', (t) => {
  for (const input of [deepL(100_000), b('d1:a'.repeat(50_000)), b('l'.repeat(199_999) + 'e')]) {
    const { result, ms } = timed(() => tryDecode(input, { maxBytes: 200_000 }));
    t.true(result instanceof BencodeDecodeError);
    t.is((result as BencodeDecodeError).reason, 'too-deep');
    t.true(ms < QUICK_MS, `took ${ms.toFixed(2)} ms`);
  }
});

test('a wide but shallow 64 KiB message decodes quickly', (t) => {
  const wide = b('l' + 'i1e'.repeat(21_000) + 'e');
  t.true(wide.length <= DEFAULT_MAX_BYTES);
  const { result, ms } = timed(() => decode(wide));
  t.is((result as number[]).length, 21_000);
  t.true(ms < QUICK_MS, `took ${ms.toFixed(2)} ms`);
  const keys = ['d'];
  for (let i = 0; i < 4_000; i++) keys.push(`${String(i).length}:${i}i${i}e`);
  keys.push('e');
  const many = b(keys.join(''));
  const r = timed(() => decode(many));
  t.is(Object.keys(r.result as object).length, 4_000);
  t.true(r.ms < QUICK_MS, `took ${r.ms.toFixed(2)} ms`);
});

test('tryDecode returns the value on success', (t) => {
  t.deepEqual(plain(tryDecode(b('li1e1:ae')) as BencodeValue), [1, hex('a')]);
});

test('maxDepth is capped, so deep input is a BencodeDecodeError even when a caller asks for more', (t) => {
  const deep = Buffer.from('l'.repeat(20_000) + 'e'.repeat(20_000));
  const err = t.throws(() => decode(deep, { maxBytes: 1_000_000, maxDepth: 1e9 }), { instanceOf: BencodeDecodeError });
  t.is(err?.reason, 'too-deep');
});
