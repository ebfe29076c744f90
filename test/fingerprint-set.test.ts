import test from 'ava';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { FingerprintSet } from '../crawler/fingerprint-set.js';

/** crawler/fingerprint-set.ts against a JS Set of the same infohashes. */

test('any sequence of adds and lookups answers as a Set of the infohashes does, through growth; hex and bytes are the same key', (t) => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ minLength: 20, maxLength: 20 }), { maxLength: 300 }), fc.array(fc.nat(299), { maxLength: 100 }), (ids, again) => {
      const set = new FingerprintSet(1);
      const reference = new Set<string>();
      for (const id of [...ids, ...again.filter((i) => i < ids.length).map((i) => ids[i]!)]) {
        const hex = Buffer.from(id).toString('hex');
        if (set.add(id) !== !reference.has(hex)) return false;
        reference.add(hex);
        if (!set.has(hex.toUpperCase()) || !set.has(id)) return false;
      }
      return set.size === reference.size;
    }),
  );
  t.pass();
});

test('a million random infohashes: all found, none of another million, at most 12 bytes each', (t) => {
  const set = new FingerprintSet();
  const ids = randomBytes(20 * 1_000_000);
  let notNew = 0;
  for (let i = 0; i < 1_000_000; i++) if (!set.add(ids.subarray(i * 20, i * 20 + 20))) notNew++;
  t.is(notNew, 0);
  t.is(set.size, 1_000_000);
  let missing = 0;
  for (let i = 0; i < 1_000_000; i++) if (!set.has(ids.subarray(i * 20, i * 20 + 20))) missing++;
  t.is(missing, 0);
  const others = randomBytes(20 * 1_000_000);
  let present = 0;
  for (let i = 0; i < 1_000_000; i++) if (set.has(others.subarray(i * 20, i * 20 + 20))) present++;
  t.is(present, 0);
  t.true(set.bytes <= 12 * 1_000_000, `${set.bytes} bytes`);
  // An all-zero prefix is a fingerprint like any other.
  t.true(set.add(Buffer.alloc(20)));
  t.true(set.has('0'.repeat(40)));
});
