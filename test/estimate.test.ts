import test from 'ava';
import { randomId } from '../bep5/node-id.js';
import { randomInt, seededRandom } from '../bep5/random.js';
import {
  estimateFromIds,
  estimateNetworkSize,
  gammaQuantile,
  normalizedDistance,
  normalQuantile,
  type DistanceSample,
} from '../crawler/estimate.js';
import { SortedIds } from '../crawler/testnet/sorted-ids.js';

/** n uniformly random IDs from a seeded source. */
function network(n: number, seed: number): Buffer[] {
  const random = seededRandom(seed);
  return Array.from({ length: n }, () => randomId(random));
}

/** An ID whose first byte is `b0` and the rest zero: at distance b0/256 from the zero ID. */
function idWithFirstByte(b0: number, last = 0): Buffer {
  const id = Buffer.alloc(20);
  id[0] = b0;
  id[19] = last;
  return id;
}

/** Exact quantile of Gamma(K, 1) for integer K, from P(G <= x) = P(Poisson(x) >= K). */
function exactGammaQuantile(shape: number, p: number): number {
  const cdf = (x: number): number => {
    let term = Math.exp(-x);
    let below = 0;
    for (let j = 0; j < shape; j++) {
      below += term;
      term *= x / (j + 1);
    }
    return 1 - below;
  };
  let lo = 0;
  let hi = 10 * shape + 50;
  for (let i = 0; i < 200; i++) {
    const mid = (lo + hi) / 2;
    if (cdf(mid) < p) lo = mid;
    else hi = mid;
  }
  return lo;
}

test('normalizedDistance reads the XOR as a fraction of the ID space', (t) => {
  const zero = Buffer.alloc(20);
  t.is(normalizedDistance(zero, zero), 0);
  t.is(normalizedDistance(zero, idWithFirstByte(0x80)), 0.5);
  t.is(normalizedDistance(idWithFirstByte(0xff), idWithFirstByte(0x7f)), 0.5);
  t.is(normalizedDistance(zero, idWithFirstByte(0x40)), 0.25);
  // Bytes past the first 8 do not count.
  t.is(normalizedDistance(zero, idWithFirstByte(0, 0xff)), 0);
  const almostAll = Buffer.alloc(20, 0xff);
  t.true(normalizedDistance(zero, almostAll) < 1);
  t.true(normalizedDistance(zero, almostAll) > 1 - 1e-15);
});

test('normal and gamma quantiles', (t) => {
  t.true(Math.abs(normalQuantile(0.975) - 1.959963985) < 1e-8);
  t.true(Math.abs(normalQuantile(0.5)) < 1e-12);
  t.true(Math.abs(normalQuantile(0.025) + 1.959963985) < 1e-8);
  for (const shape of [10, 64, 512]) {
    for (const p of [0.025, 0.975]) {
      const rel = gammaQuantile(shape, p) / exactGammaQuantile(shape, p) - 1;
      t.true(Math.abs(rel) < 0.002, `K=${shape} p=${p}: ${rel}`);
    }
  }
});

test('known answer: (K-1)/S pooled over targets', (t) => {
  const zero = Buffer.alloc(20);
  // Target 1: 4 nodes, farthest at 1/4. Target 2: 4 nodes, farthest at 1/2.
  const samples: DistanceSample[] = [
    { target: zero, closest: [0x40, 0x10, 0x30, 0x20].map((b) => idWithFirstByte(b)) },
    { target: zero, closest: [0x80, 0x08, 0x18, 0x28].map((b) => idWithFirstByte(b)) },
  ];
  const one = estimateNetworkSize(samples.slice(0, 1), 4, seededRandom(1));
  t.is(one.estimate, 3 / 0.25);
  const two = estimateNetworkSize(samples, 4, seededRandom(1), { interval: 'gamma' });
  t.is(two.estimate, 7 / 0.75);
  t.is(two.targets, 2);
  t.is(two.k, 4);
  t.is(two.method, 'kth-distance-mle+gamma-exact');
  t.is(two.replicates, 0);
  t.true(Math.abs(two.low / (exactGammaQuantile(8, 0.025) / 0.75) - 1) < 0.01);
  t.true(Math.abs(two.high / (exactGammaQuantile(8, 0.975) / 0.75) - 1) < 0.01);
  // With more than k nodes only the k nearest count: the 0x80 node is 5th here.
  const extra = estimateNetworkSize(
    [{ target: zero, closest: [0x80, 0x40, 0x10, 0x30, 0x20].map((b) => idWithFirstByte(b)) }],
    4,
    seededRandom(1),
  );
  t.is(extra.estimate, 3 / 0.25);
});

test('duplicates count once, short samples count with their own k, empty samples are skipped', (t) => {
  const zero = Buffer.alloc(20);
  const dup = estimateNetworkSize(
    [{ target: zero, closest: [0x10, 0x10, 0x20, 0x30, 0x40].map((b) => idWithFirstByte(b)) }],
    4,
    seededRandom(1),
  );
  t.is(dup.estimate, 3 / 0.25);
  const mixed = estimateNetworkSize(
    [
      { target: zero, closest: [0x10, 0x20, 0x30, 0x40].map((b) => idWithFirstByte(b)) },
      // Only 2 found: K gains 2, S gains 0x80/256.
      { target: zero, closest: [0x40, 0x80].map((b) => idWithFirstByte(b)) },
      { target: zero, closest: [] },
    ],
    4,
    seededRandom(1),
  );
  t.is(mixed.estimate, 5 / 0.75);
  t.is(mixed.targets, 2);
});

test('argument checks', (t) => {
  const zero = Buffer.alloc(20);
  const ok: DistanceSample[] = [{ target: zero, closest: [0x10, 0x20, 0x30].map((b) => idWithFirstByte(b)) }];
  t.throws(() => estimateNetworkSize(ok, 0, seededRandom(1)), { instanceOf: RangeError });
  t.throws(() => estimateNetworkSize(ok, 2.5, seededRandom(1)), { instanceOf: RangeError });
  t.throws(() => estimateNetworkSize([], 8, seededRandom(1)), { instanceOf: RangeError });
  t.throws(() => estimateNetworkSize([{ target: zero, closest: [idWithFirstByte(1), idWithFirstByte(2)] }], 8, seededRandom(1)), {
    instanceOf: RangeError,
  });
  t.throws(() => estimateNetworkSize([{ target: Buffer.alloc(19), closest: [] }], 8, seededRandom(1)), { instanceOf: RangeError });
  t.throws(() => estimateNetworkSize(ok, 3, seededRandom(1), { confidence: 1 }), { instanceOf: RangeError });
  t.throws(() => estimateNetworkSize(ok, 3, seededRandom(1), { replicates: 0 }), { instanceOf: RangeError });
  t.throws(() => estimateFromIds([zero], 0, 8, seededRandom(1)), { instanceOf: RangeError });
  t.throws(() => estimateFromIds([Buffer.alloc(5)], 4, 8, seededRandom(1)), { instanceOf: RangeError });
  t.notThrows(() => estimateNetworkSize(ok, 3, seededRandom(1)));
});

test('the same seed gives the same interval', (t) => {
  const ids = network(2_000, 7);
  const a = estimateFromIds(ids, 64, 8, seededRandom(99));
  const b = estimateFromIds(ids, 64, 8, seededRandom(99));
  t.deepEqual(a, b);
  t.is(a.method, 'kth-distance-mle+bootstrap-percentile');
  t.is(a.replicates, 2_000);
  t.is(a.confidence, 0.95);
  t.true(a.low < a.estimate && a.estimate < a.high);
  // Repeated IDs (one node seen under two addresses) change nothing.
  t.deepEqual(estimateFromIds([...ids, ...ids.slice(0, 500)], 64, 8, seededRandom(99)), a);
});

for (const [n, targets] of [
  [500, 64],
  [2_000, 256],
  [10_000, 256],
  [100_000, 256],
] as const) {
  test(`N = ${n}: ${targets} targets, k = 8 -> within 10% and the 95% interval holds N`, (t) => {
    const ids = network(n, n);
    for (const interval of ['bootstrap', 'gamma'] as const) {
      const e = estimateFromIds(ids, targets, 8, seededRandom(n + 1), { interval });
      t.log(`${interval}: ${e.estimate.toFixed(0)} [${e.low.toFixed(0)}, ${e.high.toFixed(0)}]`);
      t.is(e.targets, targets);
      t.true(Math.abs(e.estimate / n - 1) < 0.1, `${interval}: estimate ${e.estimate}`);
      t.true(e.low <= n && n <= e.high, `${interval}: [${e.low}, ${e.high}]`);
    }
  });
}

test('100 networks of 2,000: coverage of the 95% interval and bias of the estimate', (t) => {
  const n = 2_000;
  const trials = 100;
  let covered = 0;
  let coveredGamma = 0;
  let sum = 0;
  for (let s = 0; s < trials; s++) {
    const ids = network(n, 10_000 + s);
    const e = estimateFromIds(ids, 64, 8, seededRandom(20_000 + s), { replicates: 1_000 });
    const g = estimateFromIds(ids, 64, 8, seededRandom(20_000 + s), { interval: 'gamma' });
    t.is(g.estimate, e.estimate);
    if (e.low <= n && n <= e.high) covered++;
    if (g.low <= n && n <= g.high) coveredGamma++;
    sum += e.estimate;
  }
  const mean = sum / trials / n;
  t.log(`bootstrap coverage ${covered}/${trials}, gamma coverage ${coveredGamma}/${trials}, mean estimate / N = ${mean.toFixed(4)}`);
  t.true(covered >= 85 && covered <= 99, `bootstrap coverage ${covered}`);
  t.true(coveredGamma >= 85 && coveredGamma <= 99, `gamma coverage ${coveredGamma}`);
  // Standard error of the mean is about 4.5% / sqrt(100) = 0.45%.
  t.true(Math.abs(mean - 1) < 0.02, `mean ratio ${mean}`);
});

test('a lookup that misses one of the true k closest biases the estimate by about k/(k+1)', (t) => {
  const n = 20_000;
  const k = 8;
  const ids = network(n, 3);
  const sorted = new SortedIds(ids);
  const random = seededRandom(4);
  const exact: DistanceSample[] = [];
  const missedOne: DistanceSample[] = [];
  const shortByOne: DistanceSample[] = [];
  for (let i = 0; i < 512; i++) {
    const target = randomId(random);
    const nearest = sorted.closest(target, k + 1).map((j) => ids[j]!);
    exact.push({ target, closest: nearest.slice(0, k) });
    // Drop one of the true k at random; the (k+1)-th takes its place, as in a lookup that
    // converged on k nodes but missed one.
    const dropped = randomInt(random, k);
    const without = nearest.filter((_, j) => j !== dropped);
    missedOne.push({ target, closest: without });
    // Or the lookup simply returned k-1 nodes.
    shortByOne.push({ target, closest: without.slice(0, k - 1) });
  }
  const full = estimateNetworkSize(exact, k, seededRandom(5));
  const missed = estimateNetworkSize(missedOne, k, seededRandom(5));
  const short = estimateNetworkSize(shortByOne, k, seededRandom(5));
  t.log(`exact ${(full.estimate / n).toFixed(3)}, missed one ${(missed.estimate / n).toFixed(3)}, k-1 returned ${(short.estimate / n).toFixed(3)} (x N)`);
  t.true(Math.abs(full.estimate / n - 1) < 0.1);
  for (const e of [missed, short]) {
    t.true(Math.abs(e.estimate / n - 1) < 0.15, `${e.estimate}`);
    t.true(Math.abs(e.estimate / n - k / (k + 1)) < 0.05, `${e.estimate}`);
  }
});
