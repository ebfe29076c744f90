import test from 'ava';
import fc from 'fast-check';
import { seededRandom } from '../bep5/random.js';
import { FingerprintSet } from '../crawler/fingerprint-set.js';
import { RecentFingerprints } from '../crawler/recent-fingerprints.js';
import { keyedHash2, slotOf } from '../crawler/fmix32.js';

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
  // Seeded: among a million random infohashes two share their first 6 bytes about once in 500
  // runs (n^2 / 2^49), which a set of fingerprints rightly takes as one. These have none.
  const ids = seededRandom(1).bytes(20 * 1_000_000);
  let notNew = 0;
  for (let i = 0; i < 1_000_000; i++) if (!set.add(ids.subarray(i * 20, i * 20 + 20))) notNew++;
  t.is(notNew, 0);
  t.is(set.size, 1_000_000);
  let missing = 0;
  for (let i = 0; i < 1_000_000; i++) if (!set.has(ids.subarray(i * 20, i * 20 + 20))) missing++;
  t.is(missing, 0);
  const others = seededRandom(2).bytes(20 * 1_000_000);
  let present = 0;
  for (let i = 0; i < 1_000_000; i++) if (set.has(others.subarray(i * 20, i * 20 + 20))) present++;
  t.is(present, 0);
  t.true(set.bytes <= 12 * 1_000_000, `${set.bytes} bytes`);
  // An all-zero prefix is a fingerprint like any other.
  t.true(set.add(Buffer.alloc(20)));
  t.true(set.has('0'.repeat(40)));
});

test('RecentFingerprints: at most maxEntries held whatever is shown; what is still shown survives each generation, the rest is forgotten', (t) => {
  const max = 10_000;
  const recent = new RecentFingerprints(max);
  const ih = (n: number): Buffer => {
    const b = Buffer.alloc(20);
    b.writeUInt32BE(n, 0);
    b.writeUInt32BE(Math.imul(n, 0x9e3779b1) >>> 0, 4);
    return b;
  };
  // One infohash a hostile node shows again and again, among a million made-up ones.
  const kept = ih(0xffffffff);
  t.true(recent.add(kept));
  let maxHeld = 0;
  let notNew = 0;
  let keptNew = 0;
  for (let n = 0; n < 1_000_000; n++) {
    if (!recent.add(ih(n))) notNew++;
    if (n % 1_000 === 0 && recent.add(kept)) keptNew++;
    maxHeld = Math.max(maxHeld, recent.held);
  }
  t.is(notNew, 0, 'each made-up one is new');
  t.is(keptNew, 0, 'the one still shown is never forgotten, never new again');
  t.true(maxHeld <= max, `held at most ${maxHeld}`);
  t.true(recent.bytes <= 12 * max, `${recent.bytes} bytes`);
  t.true(recent.forgottenGenerations >= 1_000_000 / (max / 2) - 2, `${recent.forgottenGenerations} generations dropped`);
  t.true(recent.has(kept));
  t.true(recent.has(ih(999_999)), 'the newest are held');
  t.false(recent.has(ih(0)), 'the oldest are forgotten');
  t.true(recent.add(ih(0)), 'and new again when shown again');
  t.is(recent.size, 1_000_002, 'every add taken as new is counted');
  // Without a limit it is a FingerprintSet.
  const all = new RecentFingerprints();
  for (let n = 0; n < 50_000; n++) all.add(ih(n));
  t.is(all.held, 50_000);
  t.is(all.forgottenGenerations, 0);
  t.true(all.has(ih(0)));
  t.throws(() => new RecentFingerprints(1), { instanceOf: RangeError });
});

test('the fingerprint table is keyed: samples made to share their first bytes spread out under a secret key', (t) => {
  // A hostile BEP 51 node can hand out made-up samples that share their first 4 bytes (and so
  // one home slot under a fixed hash of them): 65,536 such fingerprints, one per last 2 bytes.
  const n = 1 << 17;
  const counts = new Map<number, number>();
  for (let lo = 0; lo < 65_536; lo++) {
    const slot = slotOf(keyedHash2(0xdeadbeef, lo, 0x5eed), n);
    counts.set(slot, (counts.get(slot) ?? 0) + 1);
  }
  const most = Math.max(...counts.values());
  t.true(most <= 8, `at most ${most} fingerprints share a home slot`);
  // And through the set: 65,536 such samples, each shown three times, all kept once.
  const many = new FingerprintSet();
  for (let i = 0; i < 3 * 65_536; i++) many.add(`deadbeef${(i & 0xffff).toString(16).padStart(4, '0')}${'0'.repeat(28)}`);
  t.is(many.size, 65_536, 'every distinct 2-byte tail after a shared 4-byte head is kept');
});
