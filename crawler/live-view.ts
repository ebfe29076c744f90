import { cryptoRandom, type RandomSource } from '../bep5/random.js';
import { compareDistance, randomId } from '../bep5/node-id.js';
import { type DistanceSample, estimateNetworkSize, type SizeEstimate } from './estimate.js';
import { NODE_FLAG, type NodeIndex } from './node-index.js';

/**
 * What a dashboard shows of a running crawl beyond its counters: how the known nodes spread
 * over the ID space, and the network size they imply. Both read the crawler's NodeIndex.
 */

export interface PrefixCoverage {
  /** Prefix length: 2^bits cells, cell i holds the IDs whose first `bits` bits equal i. */
  bits: number;
  known: number[];
  answered: number[];
}

/** Known and answered nodes per ID prefix of `bits` bits (1-16). */
export function prefixCoverage(nodes: NodeIndex, bits = 8): PrefixCoverage {
  if (!Number.isInteger(bits) || bits < 1 || bits > 16) throw new RangeError(`bits must be 1-16, got ${bits}`);
  const cells = 1 << bits;
  const known = new Array<number>(cells).fill(0);
  const answered = new Array<number>(cells).fill(0);
  for (let i = 0; i < nodes.size; i++) {
    const cell = nodes.idPrefix32(i) >>> (32 - bits);
    known[cell]!++;
    if (nodes.hasFlag(i, NODE_FLAG.ANSWERED)) answered[cell]!++;
  }
  return { bits, known, answered };
}

/** Targets and bootstrap replicates for a live estimate: a few ms of CPU for 100k nodes. */
const LIVE_ESTIMATE_TARGETS = 128;
const LIVE_ESTIMATE_REPLICATES = 300;
const LIVE_ESTIMATE_K = 8;

/**
 * The network size the answered nodes imply (pooled k-th distance maximum likelihood with a
 * bootstrap 95% interval; crawler/estimate.ts), or null with fewer than 2K answered nodes.
 *
 * It reads the index in place: the first 32 bits of every answered ID in one sorted
 * Uint32Array (4 bytes a node, 0.5 s for 5 M), the K closest to each target found from there,
 * and only their full IDs looked up. Collecting a Buffer per answered node and a Set of their
 * hex to drop repeats (what estimateFromIds does) took over a gigabyte at 10 M nodes.
 */
export function liveSizeEstimate(nodes: NodeIndex, random: RandomSource = cryptoRandom): SizeEstimate | null {
  let answered = 0;
  for (let i = 0; i < nodes.size; i++) if (nodes.hasFlag(i, NODE_FLAG.ANSWERED)) answered++;
  if (answered < 2 * LIVE_ESTIMATE_K) return null;
  const prefixes = new Uint32Array(answered);
  for (let i = 0, j = 0; i < nodes.size; i++) if (nodes.hasFlag(i, NODE_FLAG.ANSWERED)) prefixes[j++] = nodes.idPrefix32(i);
  prefixes.sort();

  // Per target, the prefixes of its K closest (by XOR of the first 32 bits, ties at the K-th
  // included): a node outside them is farther than all of them, whatever its other bits.
  const targets: Buffer[] = [];
  const wanted = new Map<number, number[]>();
  for (let t = 0; t < LIVE_ESTIMATE_TARGETS; t++) {
    const target = randomId(random);
    targets.push(target);
    for (const prefix of closestPrefixes(prefixes, target.readUInt32BE(0), LIVE_ESTIMATE_K)) {
      const list = wanted.get(prefix);
      if (list === undefined) wanted.set(prefix, [t]);
      else if (list.at(-1) !== t) list.push(t);
    }
  }
  const candidates = targets.map(() => new Map<string, Buffer>());
  for (let i = 0; i < nodes.size; i++) {
    const list = wanted.get(nodes.idPrefix32(i));
    if (list === undefined || !nodes.hasFlag(i, NODE_FLAG.ANSWERED)) continue;
    const id = Buffer.from(nodes.id(i));
    // One node per ID: an ID heard at two addresses is one node.
    for (const t of list) candidates[t]!.set(id.toString('hex'), id);
  }
  const samples: DistanceSample[] = targets.map((target, t) => ({
    target,
    closest: [...candidates[t]!.values()].sort((a, b) => compareDistance(target, a, b)).slice(0, LIVE_ESTIMATE_K),
  }));
  return estimateNetworkSize(samples, LIVE_ESTIMATE_K, random, { replicates: LIVE_ESTIMATE_REPLICATES });
}

/** The distinct values among the k entries of sorted `prefixes` closest to `target` by XOR, with ties at the k-th. */
function closestPrefixes(prefixes: Uint32Array, target: number, k: number): number[] {
  // The k closest share the longest prefix with the target that k entries share: a contiguous range.
  let start = 0;
  let end = prefixes.length;
  for (let bits = 32; bits >= 0; bits--) {
    const mask = bits === 0 ? 0 : (0xffff_ffff << (32 - bits)) >>> 0;
    const low = (target & mask) >>> 0;
    const high = (low | ~mask) >>> 0;
    const s = lowerBound(prefixes, low);
    const e = lowerBound(prefixes, high + 1);
    if (e - s >= k || bits === 0) {
      start = s;
      end = e;
      break;
    }
  }
  const distances: number[] = [];
  for (let p = start; p < end; p++) distances.push((prefixes[p]! ^ target) >>> 0);
  distances.sort((a, b) => a - b);
  const kth = distances[Math.min(k, distances.length) - 1]!;
  const out = new Set<number>();
  for (const d of distances) if (d <= kth) out.add((d ^ target) >>> 0);
  return [...out];
}

/** First position in sorted `values` holding a value >= x (x up to 2^32). */
function lowerBound(values: Uint32Array, x: number): number {
  let lo = 0;
  let hi = values.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (values[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
