import test from 'ava';
import fc from 'fast-check';
import { seededRandom } from '../bep5/random.js';
import { BottomK, CHURN_SKETCH_K, decodeSketch, encodeSketch, estimateChurn, nodeKeyHash, type Sketch, sketchOverlap, storedSketch, unionOfDisjoint } from '../crawler/churn-sketch.js';
import { params } from './helpers/fast-check.js';

/**
 * Bottom-k sketches of the nodes that answered (crawler/churn-sketch.ts): what a shared
 * survey's churn is estimated from. The estimates are checked against exact set differences of
 * synthetic node populations, drawn from a fixed seed so that a run is the same every time.
 */

interface Node {
  id: Buffer;
  ip: Buffer;
  port: number;
}

function nodes(n: number, seed: number): Node[] {
  const random = seededRandom(seed);
  return Array.from({ length: n }, () => {
    const b = random.bytes(26);
    return { id: b.subarray(0, 20), ip: b.subarray(20, 24), port: 1 + b.readUInt16BE(24) };
  });
}

const hashOf = (n: Node): number => nodeKeyHash(n.id, n.ip, n.port);

function sketchOf(set: readonly Node[], k = CHURN_SKETCH_K): Sketch {
  const s = new BottomK(k);
  for (const n of set) s.add(hashOf(n));
  return s.sketch();
}

/** A survey's sketch: its nodes in 16 partitions (by the ID's first byte), each sketched alone. */
function partitioned(set: readonly Node[]): Sketch {
  return unionOfDisjoint(Array.from({ length: 16 }, (_, p) => sketchOf(set.filter((n) => n.id[0]! >> 4 === p))));
}

test('a node key hash is a 48-bit integer that changes with the ID, the address and the port', (t) => {
  const [a] = nodes(1, 1) as [Node];
  const h = hashOf(a);
  t.true(Number.isSafeInteger(h) && h >= 0 && h < 2 ** 48);
  t.is(hashOf({ ...a }), h, 'the same key, the same hash');
  t.not(nodeKeyHash(a.id, a.ip, a.port + 1), h);
  const ip = Buffer.from(a.ip);
  ip[3] = ip[3]! ^ 1;
  t.not(nodeKeyHash(a.id, ip, a.port), h);
  const id = Buffer.from(a.id);
  id[19] = id[19]! ^ 0x80;
  t.not(nodeKeyHash(id, a.ip, a.port), h);
  // An IPv6 address hashes apart from an IPv4 one with the same first bytes.
  t.not(nodeKeyHash(a.id, Buffer.concat([a.ip, Buffer.alloc(12)]), a.port), h);

  // Spread: 100,000 keys fall evenly into 16 ranges of the 48-bit space (chi-square, 15 degrees
  // of freedom: 37.7 is its 0.1% tail), and none collide.
  const counts = new Array<number>(16).fill(0);
  const seen = new Set<number>();
  for (const n of nodes(100_000, 2)) {
    const x = hashOf(n);
    counts[Math.floor(x / 2 ** 44)]!++;
    seen.add(x);
  }
  const expected = 100_000 / 16;
  const chi2 = counts.reduce((sum, c) => sum + (c - expected) ** 2 / expected, 0);
  t.true(chi2 < 37.7, `chi-square ${chi2.toFixed(1)} over ${counts.join(' ')}`);
  t.is(seen.size, 100_000);
});

test('property: BottomK keeps the k smallest distinct hashes, in order, whatever the order they come in', (t) => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 2 ** 48 - 1 }), { maxLength: 400 }), fc.integer({ min: 1, max: 40 }), (hashes, k) => {
      const s = new BottomK(k);
      for (const h of hashes) s.add(h);
      const want = [...new Set(hashes)].sort((a, b) => a - b).slice(0, k);
      t.deepEqual(s.sorted(), want);
    }),
    params(200),
  );
  t.throws(() => new BottomK(0), { instanceOf: RangeError });
});

test('a sketch holds every hash of its set up to its bound; a survey\'s partitions together hold every hash up to the smallest bound', (t) => {
  const all = nodes(20_000, 3);
  const hashes = all.map(hashOf).sort((a, b) => a - b);
  const one = sketchOf(all);
  t.deepEqual(one.hashes, hashes.slice(0, CHURN_SKETCH_K));
  t.is(one.bound, hashes[CHURN_SKETCH_K - 1]!);
  t.deepEqual(sketchOf(all.slice(0, 100)), { hashes: all.slice(0, 100).map(hashOf).sort((a, b) => a - b), bound: Infinity }, 'a set smaller than k is held whole');
  t.deepEqual(storedSketch(one.hashes), one, 'the bound is known from the stored list alone');

  const survey = partitioned(all);
  t.deepEqual(survey.hashes, hashes.filter((h) => h <= survey.bound));
  t.true(survey.hashes.length > 12 * CHURN_SKETCH_K, `${survey.hashes.length} hashes from 16 partitions of about 1,250 nodes`);
  t.deepEqual(unionOfDisjoint([sketchOf(all.slice(0, 10)), sketchOf(all.slice(10, 30))]).hashes.length, 30);
  // Cut to a size: still every hash up to its (lower) bound.
  const cut = unionOfDisjoint([sketchOf(all.slice(0, 10)), sketchOf(all.slice(10, 30))], 12);
  t.deepEqual(cut, { hashes: all.slice(0, 30).map(hashOf).sort((a, b) => a - b).slice(0, 12), bound: cut.hashes[11]! });
});

test('churn from two sketches: exact below k, and within 3 standard errors of the truth at 200,000 nodes', (t) => {
  // Small surveys are held whole: the counts are exact.
  const pool = nodes(3_000, 4);
  const before = pool.slice(0, 600);
  const after = [...pool.slice(60, 600), ...pool.slice(600, 630)];
  const small = estimateChurn({ sketch: sketchOf(before), answered: before.length }, { sketch: sketchOf(after), answered: after.length });
  t.deepEqual(small, { before: 600, after: 570, left: 60, joined: 30, sample: 630 });

  // Large ones: 10% leave, 4% of the later set joined. The sample is the hashes of both up to
  // the smaller bound (about k for one partition, 16 k for 16); a share p estimated from it has
  // a standard error of sqrt(p(1 - p)/sample).
  const big = nodes(210_000, 5);
  const b = big.slice(0, 200_000);
  const a = big.slice(20_000, 210_000 - 2_500);
  const truth = { left: 20_000, joined: a.length - (200_000 - 20_000) };
  const check = (got: ReturnType<typeof estimateChurn>, what: string): void => {
    t.is(got.before - got.left, got.after - got.joined, 'the nodes that stayed, counted from either side');
    const se = (p: number): number => Math.sqrt((p * (1 - p)) / got.sample);
    const leftShare = got.left / got.before;
    const joinedShare = got.joined / got.after;
    const joinedTruth = truth.joined / a.length;
    t.log(`${what}: sample ${got.sample}, left ${leftShare.toFixed(4)} for 0.1, joined ${joinedShare.toFixed(4)} for ${joinedTruth.toFixed(4)}`);
    t.true(Math.abs(leftShare - truth.left / b.length) < 3 * se(0.1), `${what}: left ${leftShare.toFixed(4)} for 0.1`);
    t.true(Math.abs(joinedShare - joinedTruth) < 3 * se(joinedTruth) + 0.002, `${what}: joined ${joinedShare.toFixed(4)} for ${joinedTruth.toFixed(4)}`);
  };
  const got = estimateChurn({ sketch: sketchOf(b), answered: b.length }, { sketch: sketchOf(a), answered: a.length });
  t.true(got.sample >= CHURN_SKETCH_K, 'one partition: a sample of at least k');
  check(got, 'one partition');
  const wide = estimateChurn({ sketch: partitioned(b), answered: b.length }, { sketch: partitioned(a), answered: a.length });
  t.true(wide.sample >= 12 * CHURN_SKETCH_K, `16 partitions: a sample of about 16 k, got ${wide.sample}`);
  check(wide, '16 partitions');

  // The same set twice: nobody left, nobody joined.
  t.like(estimateChurn({ sketch: sketchOf(b), answered: b.length }, { sketch: sketchOf(b), answered: b.length }), { left: 0, joined: 0 });
  // Nothing in common: everyone left and everyone joined.
  t.like(estimateChurn({ sketch: sketchOf(b), answered: b.length }, { sketch: sketchOf(big.slice(200_000)), answered: 10_000 }), { left: 200_000, joined: 10_000 });
  t.deepEqual(sketchOverlap(sketchOf([]), sketchOf([])), { both: 0, firstOnly: 0, secondOnly: 0, sample: 0 });
});

test('a stored sketch reads back equal; what is not a sketch reads as null', (t) => {
  const s = sketchOf(nodes(5_000, 6)).hashes;
  const text = encodeSketch(s);
  t.is(text.length, CHURN_SKETCH_K * 8, '8 base64 characters a hash');
  t.deepEqual(decodeSketch(text), s);
  t.deepEqual(decodeSketch(''), []);
  const descending = encodeSketch([5, 3]);
  const repeated = encodeSketch([3, 3]);
  for (const bad of [42, null, undefined, 'abc', `${text}AAAAAAAA`, descending, repeated, 'AAAA AAA', 'AAAAAAA=']) t.is(decodeSketch(bad), null, String(bad).slice(0, 20));
});
