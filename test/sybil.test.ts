import test, { type ExecutionContext } from 'ava';
import { seededRandom } from '../bep5/random.js';
import { census, type CensusNode } from '../crawler/census.js';
import { estimateFromIds } from '../crawler/estimate.js';
import { NodeIndex } from '../crawler/node-index.js';
import { mix32, Population } from '../crawler/simnet/population.js';
import { findSybilRegions, logGammaCdf, type PackedIds, type SybilScan } from '../crawler/sybil.js';

/**
 * The Sybil scan against the simulator's populations (crawler/simnet/population.ts): uniform
 * honest IDs plus, from 10,000 nodes up, 3 clusters of 64 IDs packed into 2^-30 of the space,
 * each from one /24 (12.0.c.x). The simulator says which nodes are Sybils; the scan does not
 * know, and must find exactly those clusters, and nothing on populations without them.
 */

/** A population's IDs and addresses packed as the scan reads them, optionally leaving some out. */
function pack(p: Population, keep: (i: number) => boolean = () => true): PackedIds {
  const ids = Buffer.alloc(20 * p.size);
  const ipv4 = new Uint32Array(p.size);
  let size = 0;
  for (let i = 0; i < p.size; i++) {
    if (!keep(i)) continue;
    p.id(i, ids, 20 * size);
    ipv4[size++] = p.address(i).ip;
  }
  return { ids, size, ipv4 };
}

/** Drops about 1% of the nodes, chosen by hash: a crawl's ~99% coverage. */
const missingOnePercent = (p: Population) => (i: number): boolean => mix32(p.seed, i, 4_242) % 100 !== 0;

interface Cluster {
  slash24: number;
  /** Lowest and highest member ID, hex (IDs compare as hex strings in ID order). */
  low: string;
  high: string;
  members: number;
}

/** The simulator's Sybil clusters, by /24, among the nodes `keep` lets through. */
function sybilClusters(p: Population, keep: (i: number) => boolean = () => true): Cluster[] {
  const clusters = new Map<number, Cluster>();
  for (let i = 0; i < p.size; i++) {
    if (!p.isSybil(i) || !keep(i)) continue;
    const slash24 = p.address(i).ip >>> 8;
    const id = p.id(i).toString('hex');
    const c = clusters.get(slash24);
    if (c === undefined) clusters.set(slash24, { slash24, low: id, high: id, members: 1 });
    else {
      if (id < c.low) c.low = id;
      if (id > c.high) c.high = id;
      c.members++;
    }
  }
  return [...clusters.values()];
}

const overlaps = (a: { low: string; high: string }, startId: string, endId: string): boolean => a.low <= endId && startId <= a.high;

/** Every cluster is one region of about its size in one /24, and no region lies outside a cluster. */
function assertFlagsExactlyTheClusters(t: ExecutionContext, scan: SybilScan, clusters: readonly Cluster[], label: string): void {
  t.is(clusters.length, 3, `${label}: the simulator made 3 clusters`);
  for (const c of clusters) {
    const hits = scan.regions.filter((r) => overlaps(c, r.startId, r.endId));
    t.is(hits.length, 1, `${label}: cluster ${c.low.slice(0, 8)} is one region`);
    const r = hits[0];
    if (r === undefined) continue;
    // Trimming keeps a cluster's members and leaves out its honest neighbours.
    t.true(r.nodes >= c.members - 2 && r.nodes <= c.members + 2, `${label}: ${r.nodes} nodes in the region, ${c.members} in the cluster`);
    t.true(r.startId <= c.low && r.endId >= c.high, `${label}: the region covers the cluster`);
    t.is(r.distinctSlash24, 1, `${label}: one /24`);
    t.true(r.ratio > 1_000, `${label}: ratio ${r.ratio}`);
    t.true(r.log10PValue < scan.log10Threshold - 50, `${label}: log10 p ${r.log10PValue}`);
    t.true(r.startId.startsWith(r.prefix) && r.endId.startsWith(r.prefix) && r.prefix.length === r.prefixBits >>> 2);
  }
  for (const r of scan.regions) t.true(clusters.some((c) => overlaps(c, r.startId, r.endId)), `${label}: region ${r.startId} is not a Sybil cluster`);
}

/** The size estimator on the same IDs (pooled k-th distance, 128 random targets), as the crawler would use it. */
function estimatedSize(packed: PackedIds, seed: number): number {
  const ids: Buffer[] = [];
  for (let i = 0; i < packed.size; i++) ids.push(packed.ids.subarray(20 * i, 20 * i + 20));
  return estimateFromIds(ids, 128, 8, seededRandom(seed), { replicates: 10 }).estimate;
}

test('logGammaCdf matches the Poisson tail P(Poisson(x) >= a) summed term by term', (t) => {
  const poissonTail = (a: number, x: number): number => {
    let term = Math.exp(-x + a * Math.log(x) - Array.from({ length: a }, (_, j) => Math.log(j + 1)).reduce((s, v) => s + v, 0));
    let sum = 0;
    for (let j = a; j < a + 3_000; j++) {
      sum += term;
      term *= x / (j + 1);
    }
    return sum;
  };
  for (const a of [1, 2, 7, 15, 63]) {
    for (const x of [1e-4, 0.01, 0.5, 1, 3, 7, 20, 70]) {
      const exact = poissonTail(a, x);
      if (exact < 1e-300) continue;
      const got = Math.exp(logGammaCdf(a, x));
      t.true(Math.abs(got / exact - 1) < 1e-10, `a=${a} x=${x}: ${got} vs ${exact}`);
    }
  }
  t.is(logGammaCdf(7, 0), Number.NEGATIVE_INFINITY);
});

test('the simulator\'s Sybil clusters are flagged, each as one region in one /24, and nothing else (20,000 and 200,000 nodes, N from the estimator)', (t) => {
  for (const [nodes, seed] of [
    [20_000, 1],
    [200_000, 2],
  ] as const) {
    const p = new Population({ nodes, seed });
    const packed = pack(p);
    const estimate = estimatedSize(packed, seed);
    t.true(Math.abs(estimate / nodes - 1) < 0.15, `estimate ${estimate} for ${nodes}`);
    const scan = findSybilRegions(packed, estimate);
    t.is(scan.ids, nodes);
    t.is(scan.windows, nodes - 7);
    assertFlagsExactlyTheClusters(t, scan, sybilClusters(p), `${nodes}/${seed}`);
  }
});

test('the crawler\'s NodeIndex is scanned as it is: the same regions, addresses from the index', (t) => {
  const p = new Population({ nodes: 20_000, seed: 3 });
  const index = new NodeIndex(p.size);
  for (let i = 0; i < p.size; i++) {
    const a = p.address(i);
    index.add(p.id(i), a.ip, a.port);
  }
  const fromIndex = findSybilRegions(index, p.size);
  assertFlagsExactlyTheClusters(t, fromIndex, sybilClusters(p), 'NodeIndex');
  t.deepEqual(fromIndex, findSybilRegions(pack(p), p.size));
});

test('no region on populations without Sybils (5 seeds at 100,000 nodes), and the margin to the threshold', (t) => {
  const margins: number[] = [];
  let threshold = 0;
  for (let seed = 1; seed <= 5; seed++) {
    const p = new Population({ nodes: 100_000, seed, sybilClusters: 0 });
    const scan = findSybilRegions(pack(p), p.size);
    t.deepEqual(scan.regions, [], `seed ${seed}`);
    t.is(scan.regionsFound, 0);
    // The tightest window of 8 is still more likely than the threshold allows.
    t.true(scan.smallestLog10PValue > scan.log10Threshold, `seed ${seed}: ${scan.smallestLog10PValue} vs ${scan.log10Threshold}`);
    margins.push(scan.smallestLog10PValue - scan.log10Threshold);
    threshold = scan.log10Threshold;
  }
  t.log(`smallest window p-value above the threshold (10^${threshold.toFixed(2)} per window) by ${margins.map((m) => m.toFixed(2)).join(', ')} decades`);
});

test('a crawl missing 1% of the nodes, with N 10% low or high: still no false region, still every cluster', (t) => {
  for (let seed = 11; seed <= 13; seed++) {
    for (const sybils of [0, 3]) {
      const p = new Population({ nodes: 100_000, seed, sybilClusters: sybils });
      const keep = missingOnePercent(p);
      const packed = pack(p, keep);
      t.true(packed.size < p.size * 0.995 && packed.size > p.size * 0.985, `${packed.size} kept`);
      for (const factor of [0.9, 1.1]) {
        const scan = findSybilRegions(packed, p.size * factor);
        const label = `seed ${seed}, ${sybils} clusters, N x ${factor}`;
        if (sybils === 0) t.deepEqual(scan.regions, [], label);
        else assertFlagsExactlyTheClusters(t, scan, sybilClusters(p, keep), label);
      }
    }
  }
});

test('the same ID at many addresses counts once; IDs differing only past 8 bytes are a cluster', (t) => {
  const p = new Population({ nodes: 20_000, seed: 5, sybilClusters: 0 });
  const honest = pack(p);
  const extra = 20;
  const ids = Buffer.alloc(20 * (honest.size + extra));
  honest.ids.copy(ids, 0, 0, 20 * honest.size);
  const ipv4 = new Uint32Array(honest.size + extra);
  ipv4.set(honest.ipv4!.subarray(0, honest.size));
  // One honest node seen at 20 more addresses: one node, no cluster.
  for (let c = 0; c < extra; c++) {
    honest.ids.copy(ids, 20 * (honest.size + c), 20 * 777, 20 * 778);
    ipv4[honest.size + c] = 0x0d000000 + c * 256;
  }
  const repeated = findSybilRegions({ ids, size: honest.size + extra, ipv4 }, p.size);
  t.is(repeated.ids, honest.size);
  t.deepEqual(repeated.regions, []);

  // 20 IDs sharing their first 10 bytes (what a generator aiming at one key makes): a region.
  for (let c = 0; c < extra; c++) {
    const at = 20 * (honest.size + c);
    ids.fill(0xab, at, at + 10);
    ids.fill(c, at + 10, at + 20);
    ipv4[honest.size + c] = 0x0d000001 + c;
  }
  const forged = findSybilRegions({ ids, size: honest.size + extra, ipv4 }, p.size);
  t.is(forged.regions.length, 1);
  const r = forged.regions[0]!;
  t.is(r.nodes, extra);
  t.is(r.distinctSlash24, 1);
  t.true(r.prefixBits >= 80 && r.prefix.startsWith('abababababababababab'), r.prefix);
  t.true(Number.isFinite(r.log10PValue) && Number.isFinite(r.ratio));
});

test('the census reports the regions when given a network size, and is unchanged without one', (t) => {
  const p = new Population({ nodes: 20_000, seed: 7 });
  const nodes: CensusNode[] = [];
  for (let i = 0; i < p.size; i++) {
    const a = p.address(i);
    nodes.push({ id: p.id(i).toString('hex'), address: `${Population.dotted(a.ip)}:${a.port}`, version: null, rttMs: 0, bep51: null, bep42: false, answered: true });
  }
  t.false('sybilRegions' in census(nodes));
  const withRegions = census(nodes, { networkSize: p.size });
  t.is(withRegions.sybilRegions?.length, 3);
  t.deepEqual(withRegions.sybilRegions, findSybilRegions(pack(p), p.size).regions);
});

test('1,000,000 IDs run (the time bound is for the bench): the clusters and nothing else', (t) => {
  const p = new Population({ nodes: 1_000_000, seed: 4 });
  const scan = findSybilRegions(pack(p), p.size);
  assertFlagsExactlyTheClusters(t, scan, sybilClusters(p), '1 M');
});
