import test from 'ava';
import fc from 'fast-check';
import { commonPrefixBits, compareDistance, compareIds, ID_BITS, idFromHex, idToHex, isNodeId, randomId, randomIdInRange, toNodeId, xorDistance } from '../bep5/node-id.js';
import { NodeIdError, type NodeIdFailure } from '../bep5/errors.js';
import { ID_BYTES } from '../bep5/constants.js';
import { seededRandom } from '../bep5/random.js';

const anyId = fc.uint8Array({ minLength: 20, maxLength: 20 }).map((u) => Buffer.from(u));

function throwsNodeId(t: import('ava').ExecutionContext, fn: () => unknown, reason: NodeIdFailure, note?: string): void {
  const err = t.throws(fn, { instanceOf: NodeIdError }, note);
  t.is(err?.code, 'ERR_NODE_ID', note);
  t.is(err?.reason, reason, note);
}

/** Bit `i` (0 = most significant) of an id. */
const bit = (id: Uint8Array, i: number): number => (id[i >>> 3]! >> (7 - (i & 7))) & 1;

test('constants', (t) => {
  t.is(ID_BYTES, 20);
  t.is(ID_BITS, 160);
});

test('isNodeId accepts exactly 20-byte Buffers', (t) => {
  t.true(isNodeId(Buffer.alloc(20)));
  t.true(isNodeId(Buffer.alloc(40).subarray(10, 30)));
  for (const x of [Buffer.alloc(19), Buffer.alloc(21), Buffer.alloc(0), 'abcdefghij0123456789', 20, null, undefined, [...Buffer.alloc(20)], {}]) {
    t.false(isNodeId(x), String(x));
  }
  // A plain Uint8Array lacks Buffer's methods, so the Buffer guard must not claim it.
  t.false(isNodeId(new Uint8Array(20)));
});

test('toNodeId wraps a 20-byte Uint8Array as a Buffer without copying', (t) => {
  const backing = new Uint8Array(30).fill(7);
  const view = backing.subarray(5, 25);
  const id = toNodeId(view)!;
  t.true(Buffer.isBuffer(id));
  t.is(id.length, 20);
  backing[5] = 9;
  t.is(id[0], 9);
  const buf = Buffer.alloc(20);
  t.is(toNodeId(buf), buf);
  t.is(toNodeId(new Uint8Array(19)), undefined);
  t.is(toNodeId('abcdefghij0123456789'), undefined);
});

test('randomId draws 20 bytes from the given source into a fresh Buffer', (t) => {
  t.deepEqual(randomId(seededRandom(7)), seededRandom(7).bytes(20));
  const a = randomId();
  const b = randomId();
  t.true(isNodeId(a));
  t.false(a.equals(b));
});

test('randomIdInRange keeps the first prefixBits bits, for every prefixBits 0..160', (t) => {
  fc.assert(
    fc.property(anyId, fc.integer({ min: 0, max: 160 }), fc.integer(), (prefix, bits, seed) => {
      const before = Buffer.from(prefix);
      const id = randomIdInRange(prefix, bits, seededRandom(seed));
      t.true(isNodeId(id));
      t.true(commonPrefixBits(id, prefix) >= bits);
      t.deepEqual(prefix, before, 'prefix is not modified');
    }),
    { numRuns: 500 },
  );
  // Exhaustively over prefixBits, with an all-ones prefix against an all-zero random source
  // and the other way round, so every kept bit is visibly the prefix's and every other one not.
  const zeros = { bytes: (n: number) => Buffer.alloc(n, 0) };
  const ones = { bytes: (n: number) => Buffer.alloc(n, 0xff) };
  for (let bits = 0; bits <= 160; bits++) {
    const high = randomIdInRange(Buffer.alloc(20, 0xff), bits, zeros);
    const low = randomIdInRange(Buffer.alloc(20, 0), bits, ones);
    t.is(commonPrefixBits(high, Buffer.alloc(20, 0xff)), bits);
    t.is(commonPrefixBits(low, Buffer.alloc(20, 0)), bits);
  }
});

test('randomIdInRange randomizes the bits after the prefix', (t) => {
  const random = seededRandom(42);
  const prefix = Buffer.alloc(20, 0x5a);
  for (const bits of [0, 1, 7, 8, 9, 100, 159]) {
    const seen = new Set<number>();
    for (let i = 0; i < 64; i++) seen.add(bit(randomIdInRange(prefix, bits, random), bits));
    t.is(seen.size, 2, `bit ${bits} takes both values`);
  }
  t.deepEqual(randomIdInRange(prefix, 160, random), prefix);
  t.not(randomIdInRange(prefix, 160, random), prefix, 'a new Buffer even when fully fixed');
});

test('randomIdInRange accepts a short prefix when it covers prefixBits', (t) => {
  const id = randomIdInRange(new Uint8Array([0xab, 0xc0]), 10, seededRandom(1));
  t.is(id[0], 0xab);
  t.is(id[1]! & 0xc0, 0xc0);
  t.is(randomIdInRange(new Uint8Array(0), 0).length, 20);
});

test('randomIdInRange rejects bad arguments', (t) => {
  for (const bits of [-1, 161, 1.5, Number.NaN]) throwsNodeId(t, () => randomIdInRange(Buffer.alloc(20), bits), 'bad-prefix-bits', String(bits));
  throwsNodeId(t, () => randomIdInRange(new Uint8Array(1), 9), 'bad-prefix');
  throwsNodeId(t, () => randomIdInRange(new Uint8Array(19), 160), 'bad-prefix');
});

test('xorDistance', (t) => {
  const a = Buffer.alloc(20, 0xf0);
  const b = Buffer.alloc(20, 0x0f);
  t.deepEqual(xorDistance(a, b), Buffer.alloc(20, 0xff));
  t.deepEqual(xorDistance(a, a), Buffer.alloc(20));
  throwsNodeId(t, () => xorDistance(a, Buffer.alloc(19)), 'bad-length');
  fc.assert(
    fc.property(anyId, anyId, (x, y) => {
      t.deepEqual(xorDistance(x, y), xorDistance(y, x));
      t.deepEqual(xorDistance(xorDistance(x, y), y), x);
    }),
    { numRuns: 200 },
  );
});

test('compareDistance agrees with comparing xorDistance buffers', (t) => {
  fc.assert(
    fc.property(anyId, anyId, anyId, (target, a, b) => {
      t.is(compareDistance(target, a, b), Buffer.compare(xorDistance(target, a), xorDistance(target, b)));
    }),
    { numRuns: 500 },
  );
  // Near-ties, where only a late byte differs, are where a sloppy comparison goes wrong.
  fc.assert(
    fc.property(anyId, anyId, fc.integer({ min: 0, max: 19 }), fc.integer({ min: 0, max: 255 }), (target, a, at, value) => {
      const b = Buffer.from(a);
      b[at] = value;
      t.is(compareDistance(target, a, b), Buffer.compare(xorDistance(target, a), xorDistance(target, b)));
    }),
    { numRuns: 300 },
  );
});

test('compareDistance: examples and errors', (t) => {
  const target = Buffer.alloc(20);
  const near = Buffer.alloc(20);
  near[19] = 1;
  const far = Buffer.alloc(20);
  far[0] = 0x80;
  t.is(compareDistance(target, near, far), -1);
  t.is(compareDistance(target, far, near), 1);
  t.is(compareDistance(target, far, far), 0);
  // Numerically 0x80.. > 0x01.. but XOR with target 0xff.. reverses that.
  const ones = Buffer.alloc(20, 0xff);
  t.is(compareDistance(ones, near, far), 1);
  throwsNodeId(t, () => compareDistance(Buffer.alloc(21), near, far), 'bad-length');
  throwsNodeId(t, () => compareDistance(target, near, Buffer.alloc(0)), 'bad-length');
});

test('commonPrefixBits', (t) => {
  const a = Buffer.alloc(20);
  t.is(commonPrefixBits(a, a), 160);
  for (let i = 0; i < 160; i++) {
    const b = Buffer.from(a);
    b[i >>> 3] = b[i >>> 3]! ^ (0x80 >> (i & 7));
    t.is(commonPrefixBits(a, b), i, `flip bit ${i}`);
  }
  fc.assert(
    fc.property(anyId, anyId, (x, y) => {
      const n = commonPrefixBits(x, y);
      t.is(commonPrefixBits(y, x), n);
      for (let i = 0; i < n; i++) t.is(bit(x, i), bit(y, i));
      if (n < 160) t.not(bit(x, n), bit(y, n));
    }),
    { numRuns: 300 },
  );
  throwsNodeId(t, () => commonPrefixBits(a, Buffer.alloc(19)), 'bad-length');
});

test('compareIds is numeric order', (t) => {
  const lo = Buffer.alloc(20);
  const hi = Buffer.alloc(20);
  hi[19] = 1;
  t.is(compareIds(lo, hi), -1);
  t.is(compareIds(hi, lo), 1);
  t.is(compareIds(hi, Buffer.from(hi)), 0);
  t.is(compareIds(new Uint8Array(20), lo), 0);
  throwsNodeId(t, () => compareIds(lo, Buffer.alloc(2)), 'bad-length');
  fc.assert(
    fc.property(anyId, anyId, (x, y) => {
      const [bx, by] = [BigInt('0x' + x.toString('hex')), BigInt('0x' + y.toString('hex'))];
      t.is(compareIds(x, y), bx < by ? -1 : bx > by ? 1 : 0);
    }),
    { numRuns: 200 },
  );
});

test('idToHex and idFromHex round trip', (t) => {
  const hex = '0123456789abcdef0123456789abcdef01234567';
  t.is(idToHex(idFromHex(hex)), hex);
  t.is(idToHex(idFromHex(hex.toUpperCase())), hex);
  t.deepEqual(idFromHex('ff'.repeat(20)), Buffer.alloc(20, 0xff));
  t.is(idToHex(new Uint8Array(20)), '0'.repeat(40));
  fc.assert(
    fc.property(anyId, (id) => {
      t.deepEqual(idFromHex(idToHex(id)), id);
    }),
    { numRuns: 200 },
  );
  throwsNodeId(t, () => idToHex(Buffer.alloc(19)), 'bad-length');
});

test('idFromHex is strict', (t) => {
  const good = 'ab'.repeat(20);
  for (const bad of [
    '',
    good.slice(1),
    good + 'a',
    good + 'ab',
    'g' + good.slice(1),
    ' ' + good.slice(1),
    good.slice(1) + ' ',
    good + '\n',
    '0x' + good.slice(2),
    good.slice(0, 38) + 'z!',
    'ａ'.repeat(40), // fullwidth letters
  ]) {
    throwsNodeId(t, () => idFromHex(bad), 'bad-hex', JSON.stringify(bad));
  }
});
