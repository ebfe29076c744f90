/**
 * Sybil regions: stretches of the ID space that hold far more node IDs than the network size
 * predicts (issue 15, item 4).
 *
 * A vertical Sybil attack (Wang and Kangasharju, "Real-World Sybil Attacks in BitTorrent
 * Mainline DHT"; pubky/mainline's censorship-resistance notes) places many IDs next to one
 * key, so that they hold the K closest slots to it and can hide or censor what is stored
 * there. Honest IDs are uniform, so such a cluster stands out as a density no random network
 * produces. The test below is the k-th-closest-distance statistic the size estimator uses
 * (crawler/estimate.ts), turned around: there the distances give N; here N says which
 * distances are too small to be chance.
 *
 * ## Model and test
 *
 * With N honest IDs uniform on the ID space (read as [0, 1)), the IDs form, to a very good
 * approximation, a Poisson process of rate N. Sort the IDs. A window of k consecutive IDs
 * spans from its first to its last, across k - 1 gaps that are independent Exp(N), so
 *
 *     N * span ~ Gamma(k - 1, 1),     P(N * span <= x) = P(Poisson(x) >= k - 1).
 *
 * A window whose span is so small that this probability is below alpha / W, W being the
 * number of windows, is flagged; flagged windows that share a node are merged into a region.
 * Under the null, the expected number of flagged windows is at most W * (alpha / W) = alpha,
 * so the chance that a random network shows any region at all is at most alpha (the union
 * bound holds however strongly the overlapping windows are correlated). W counts every
 * sliding window, not only the n/k disjoint ones: disjoint windows would split a cluster that
 * straddles two of them, and the k-fold stricter threshold costs nothing measurable against a
 * real cluster, whose p-value is dozens of orders of magnitude smaller.
 *
 * The test needs one number per window: the span is compared with a critical span computed
 * once, so the scan is a sort of one double per ID plus one pass. Ten million IDs take about
 * 1.6 s and 80 MB on this project's 2-core machine (the sort dominates); no object is kept
 * per node.
 *
 * ## Why it stays quiet on an honest network
 *
 * - A crawl that misses some nodes only thins the IDs: spans grow, so fewer windows pass.
 * - N below the truth is what could raise false flags (spans look too small for the N
 *   assumed). N is therefore max(estimate, distinct IDs seen), since a crawl cannot have
 *   seen more nodes than exist, and then multiplied by SIZE_MARGIN so that an estimate up to
 *   10% low (its 95% interval is about +-5%) still leaves the false-flag rate at alpha.
 * - The same ID seen at several addresses counts once: one node that moved port is not a
 *   cluster. IDs that differ only beyond the 53 bits of the key are distinct nodes at span 0,
 *   which is exactly what a generated cluster looks like, so those are kept.
 *
 * What it is not: proof. A region is a place where the IDs are not uniform. Its addresses
 * (how many distinct /24 networks hold its nodes: a cluster run from one host sits in one)
 * are the second, independent piece of evidence.
 *
 * ## Sorting key
 *
 * Each ID becomes its first 8 bytes as a fraction of 2^64, a double (53 significant bits).
 * IDs sharing a prefix are contiguous in this order, so an XOR-close group (long common
 * prefix) is a run of consecutive keys. Rounding moves a key by at most 2^-53, below any span
 * that matters by many orders of magnitude (honest gaps are about 1/N >= 2^-24).
 */

import { commonPrefixBits } from '../bep5/node-id.js';
import { idFraction } from './estimate.js';
import { gammaLowerQuantileLog, logGammaCdf } from './gamma.js';

export { logGammaCdf } from './gamma.js';

/** IDs back to back: `size` IDs of 20 bytes in `ids` (a census, a file, a test). */
export interface PackedIds {
  ids: Buffer;
  size: number;
  /** IPv4 address of each ID as a 32-bit number; 0 means unknown (never counted as a /24). */
  ipv4?: Uint32Array;
}

/** IDs behind accessors; the crawler's NodeIndex is one. */
export interface IdSource {
  readonly size: number;
  /** Node i's 20-byte ID; a view is fine (read at once; what a region keeps is copied). */
  id(i: number): Uint8Array;
  /** Node i's IPv4 address as a 32-bit number; 0 means unknown. */
  ipv4?(i: number): number;
}

export type SybilInput = PackedIds | IdSource;

export interface SybilScanOptions {
  /** IDs per window (k); default WINDOW_NODES. */
  windowNodes?: number;
  /** Chance that a random network shows any region (alpha); default FAMILY_ERROR_RATE. */
  familyErrorRate?: number;
  /** Factor N is raised by before testing; default SIZE_MARGIN. */
  sizeMargin?: number;
}

export interface SybilRegion {
  /** The hex digits every ID in the region starts with (whole hex digits; may be ''). */
  prefix: string;
  /** How many leading bits every ID in the region shares. */
  prefixBits: number;
  /** The lowest and highest ID in the region, 40 hex characters each. */
  startId: string;
  endId: string;
  /** Distinct IDs in the region. */
  nodes: number;
  /** Nodes the size estimate predicts between startId and endId: N * span. */
  expected: number;
  /** nodes / expected. */
  ratio: number;
  /**
   * log10 of the chance that `nodes` uniform IDs (at rate N * sizeMargin) fall this close
   * together, P(Gamma(nodes - 1, 1) <= N * margin * span); not corrected for the scan.
   */
  log10PValue: number;
  /** Distinct /24 networks among the region's addresses; present when addresses were given. */
  distinctSlash24?: number;
}

export interface SybilScan {
  /** Flagged regions in ID order (at most MAX_REGIONS: the most significant ones). */
  regions: SybilRegion[];
  /** Regions found before MAX_REGIONS applied. */
  regionsFound: number;
  /** Distinct IDs scanned. */
  ids: number;
  /** The N used: max(networkSize, ids). The test runs at N * sizeMargin. */
  networkSize: number;
  sizeMargin: number;
  /** k, and the number of sliding windows W = ids - k + 1 (0 when ids < k). */
  windowNodes: number;
  windows: number;
  /** log10 of the per-window threshold alpha / W. */
  log10Threshold: number;
  /** A window is flagged when its span, as a fraction of the ID space, is below this. */
  criticalSpan: number;
  /**
   * log10 of the smallest per-window p-value seen (the tightest window). On an honest network
   * it stays above log10Threshold; the difference is the margin against a false flag.
   * 0 when there are no windows.
   */
  smallestLog10PValue: number;
}

/**
 * k = 8, BEP 5's K: the smallest cluster that can hold all K closest slots to a key, which is
 * what an eclipse needs. A larger k would notice milder crowding (at 10 M IDs a window of 8 is
 * flagged at about 60 times the expected density, one of 16 at about 11 times), but misses
 * clusters of fewer than k IDs. A small k also keeps the critical span small, so a region
 * picks up fewer honest neighbours, and keeps the test robust to an N that is too low: the
 * false-flag rate grows as (N_true / N)^(k-1), 2.1 times for an N 10% low at k = 8, 4.9 at 16.
 */
export const WINDOW_NODES = 8;

/**
 * alpha = 1e-3: at most one honest network in a thousand shows a region (with SIZE_MARGIN and
 * a correct N, half that). Real clusters are far beyond it: 64 IDs in 2^-30 of the space, as
 * the simulator places them, give windows of 8 with p ~ 1e-24 at 10 M nodes against a
 * threshold of 1e-10, and the whole cluster p ~ 1e-213. A smaller alpha would cost little;
 * this one follows the issue and already leaves the scan's own false alarms rarer than other
 * reasons to doubt a region (a client with a poor random generator, many nodes behind one IP).
 */
export const FAMILY_ERROR_RATE = 1e-3;

/** N is raised by 10% before testing: covers an estimate up to 10% low (its 95% interval is ~+-5%). */
export const SIZE_MARGIN = 1.1;

/**
 * Regions reported at most. Thousands of regions do not mean thousands of attacks; they mean
 * N is far too low or the IDs are not uniform at all, and the most significant ones say that.
 */
export const MAX_REGIONS = 1_000;

/**
 * Key resolution. A span below it (IDs sharing 53 bits or more) counts as this wide in
 * `expected` and in the p-values, which so stay finite (and are upper bounds there).
 */
const KEY_RESOLUTION = 2 ** -53;

/** Either input read the same way. */
interface Reader {
  size: number;
  key(i: number): number;
  /** A view of node i's ID, valid until the next call. */
  id(i: number): Uint8Array;
  /** Undefined when no addresses were given. */
  ipv4: ((i: number) => number) | undefined;
}

function readerOf(input: SybilInput): Reader {
  const size = input.size;
  if (!Number.isInteger(size) || size < 0) throw new RangeError(`size must be a non-negative integer, got ${size}`);
  if ('ids' in input && Buffer.isBuffer(input.ids)) {
    const { ids, ipv4 } = input;
    if (ids.length < size * 20) throw new RangeError(`${size} IDs do not fit in ${ids.length} bytes`);
    if (ipv4 !== undefined && ipv4.length < size) throw new RangeError(`${ipv4.length} addresses for ${size} IDs`);
    return {
      size,
      key: (i) => idFraction(ids, i * 20),
      id: (i) => ids.subarray(i * 20, i * 20 + 20),
      ipv4: ipv4 === undefined ? undefined : (i) => ipv4[i]!,
    };
  }
  const source = input as IdSource;
  return {
    size,
    key: (i) => idFraction(source.id(i), 0),
    id: (i) => source.id(i),
    ipv4: source.ipv4 === undefined ? undefined : (i) => source.ipv4!(i),
  };
}

/**
 * Flags regions of the ID space much denser than a network of `networkSize` uniform nodes
 * would show (see the top of this file). `networkSize` is the size estimate (liveSizeEstimate,
 * `measure`); the input is every ID to judge, with addresses if the /24 count is wanted.
 */
export function findSybilRegions(input: SybilInput, networkSize: number, options: SybilScanOptions = {}): SybilScan {
  const k = options.windowNodes ?? WINDOW_NODES;
  const alpha = options.familyErrorRate ?? FAMILY_ERROR_RATE;
  const margin = options.sizeMargin ?? SIZE_MARGIN;
  if (!Number.isInteger(k) || k < 3) throw new RangeError(`windowNodes must be an integer >= 3, got ${k}`);
  if (!(alpha > 0 && alpha < 1)) throw new RangeError(`familyErrorRate must be in (0, 1), got ${alpha}`);
  if (!(margin >= 1 && Number.isFinite(margin))) throw new RangeError(`sizeMargin must be >= 1, got ${margin}`);
  if (!(networkSize > 0 && Number.isFinite(networkSize))) throw new RangeError(`networkSize must be positive, got ${networkSize}`);
  const nodes = readerOf(input);
  const keys = new Float64Array(nodes.size);
  for (let i = 0; i < nodes.size; i++) keys[i] = nodes.key(i);
  keys.sort();
  const n = dropRepeatedIds(keys, nodes);
  const sorted = keys.subarray(0, n);

  const sizeUsed = Math.max(networkSize, n);
  const rate = sizeUsed * margin;
  const windows = Math.max(0, n - k + 1);
  const empty: SybilScan = {
    regions: [],
    regionsFound: 0,
    ids: n,
    networkSize: sizeUsed,
    sizeMargin: margin,
    windowNodes: k,
    windows,
    log10Threshold: 0,
    criticalSpan: 0,
    smallestLog10PValue: 0,
  };
  if (windows === 0) return empty;

  const logThreshold = Math.log(alpha / windows);
  const criticalSpan = gammaLowerQuantileLog(k - 1, logThreshold) / rate;

  // One pass: the tightest window, and runs of flagged windows that share a node.
  let smallestSpan = Number.POSITIVE_INFINITY;
  const runs: number[] = []; // [first, last] index pairs into `sorted`
  let runFirst = -1;
  let runLast = -1;
  for (let i = 0; i + k <= n; i++) {
    const span = sorted[i + k - 1]! - sorted[i]!;
    if (span < smallestSpan) smallestSpan = span;
    if (span >= criticalSpan) continue;
    if (runFirst >= 0 && i <= runLast) runLast = i + k - 1;
    else {
      if (runFirst >= 0) runs.push(runFirst, runLast);
      runFirst = i;
      runLast = i + k - 1;
    }
  }
  if (runFirst >= 0) runs.push(runFirst, runLast);

  const trimmed: Trimmed[] = [];
  for (let r = 0; r < runs.length; r += 2) trimmed.push(trimRun(sorted, runs[r]!, runs[r + 1]!, k, rate));
  const regionsFound = trimmed.length;
  if (trimmed.length > MAX_REGIONS) {
    trimmed.sort((a, b) => a.logP - b.logP);
    trimmed.length = MAX_REGIONS;
  }
  trimmed.sort((a, b) => a.startKey - b.startKey);

  return {
    ...empty,
    regions: describeRegions(trimmed, nodes, sizeUsed),
    regionsFound,
    log10Threshold: logThreshold / Math.LN10,
    criticalSpan,
    smallestLog10PValue: logGammaCdf(k - 1, rate * Math.max(smallestSpan, KEY_RESOLUTION)) / Math.LN10,
  };
}

/**
 * Removes repeated copies of one ID (the same node at several addresses) from the sorted
 * keys; returns how many keys remain (at the front of `keys`). Only keys that occur twice are
 * checked against the full IDs, so honest data (no ties) costs one pass.
 */
function dropRepeatedIds(keys: Float64Array, nodes: Reader): number {
  const tied = new Set<number>();
  for (let i = 1; i < keys.length; i++) if (keys[i] === keys[i - 1]) tied.add(keys[i]!);
  if (tied.size === 0) return keys.length;
  // For each tied key: how many entries carry it, and how many distinct IDs among them.
  const idsByKey = new Map<number, Set<string>>();
  for (let i = 0; i < nodes.size; i++) {
    const key = nodes.key(i);
    if (!tied.has(key)) continue;
    let set = idsByKey.get(key);
    if (set === undefined) idsByKey.set(key, (set = new Set()));
    set.add(Buffer.from(nodes.id(i)).toString('hex'));
  }
  let out = 0;
  let keptOfKey = 0;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    keptOfKey = i > 0 && key === keys[i - 1] ? keptOfKey + 1 : 1;
    const distinct = idsByKey.get(key)?.size ?? 1;
    if (keptOfKey <= distinct) keys[out++] = key;
  }
  return out;
}

/** A run of flagged windows after trimming: sorted-key bounds, distinct IDs, ln p. */
interface Trimmed {
  startKey: number;
  endKey: number;
  nodes: number;
  logP: number;
}

/**
 * A run [first, last] of flagged windows, narrowed to its most significant core. A window at
 * the edge of a cluster can hold a few honest neighbours and still be flagged (seven packed
 * IDs make any eighth within about one honest gap look unlikely), so a plain union of windows
 * would report a cluster with an honest node or two at each end, in other /24s. Dropping up
 * to k - 1 IDs from either end, the sub-run with the smallest p-value for its own size and
 * span is kept: an honest neighbour widens the span by about 1/N, far more than a packed
 * member, and costs far more significance than its count adds; members of a cluster more than
 * e times as dense as expected are worth keeping (each adds more to ln p than it takes).
 */
function trimRun(sorted: Float64Array, first: number, last: number, k: number, rate: number): Trimmed {
  let best: Trimmed | undefined;
  const count = last - first + 1;
  for (let fromStart = 0; fromStart < k && count - fromStart >= k; fromStart++) {
    for (let fromEnd = 0; fromEnd < k && count - fromStart - fromEnd >= k; fromEnd++) {
      const startKey = sorted[first + fromStart]!;
      const endKey = sorted[last - fromEnd]!;
      const nodes = count - fromStart - fromEnd;
      const logP = logGammaCdf(nodes - 1, rate * Math.max(endKey - startKey, KEY_RESOLUTION));
      // Ties go to the larger run.
      if (best === undefined || logP < best.logP) best = { startKey, endKey, nodes, logP };
    }
  }
  return best!;
}

/**
 * Turns trimmed runs (sorted by startKey, disjoint) into regions: one pass over the input
 * finds each region's IDs by key, for the lowest and highest full ID and the /24 networks.
 */
function describeRegions(runs: readonly Trimmed[], nodes: Reader, sizeUsed: number): SybilRegion[] {
  const low: (Buffer | undefined)[] = runs.map(() => undefined);
  const high: (Buffer | undefined)[] = runs.map(() => undefined);
  const slash24s = runs.map(() => new Set<number>());
  if (runs.length > 0) {
    const lowest = runs[0]!.startKey;
    const highest = runs.at(-1)!.endKey;
    for (let i = 0; i < nodes.size; i++) {
      const key = nodes.key(i);
      if (key < lowest || key > highest) continue;
      // The last run starting at or below key.
      let lo = 0;
      let hi = runs.length;
      while (hi - lo > 1) {
        const mid = (lo + hi) >>> 1;
        if (runs[mid]!.startKey <= key) lo = mid;
        else hi = mid;
      }
      if (key > runs[lo]!.endKey) continue;
      const id = nodes.id(i);
      if (low[lo] === undefined || Buffer.compare(id, low[lo]!) < 0) low[lo] = Buffer.from(id);
      if (high[lo] === undefined || Buffer.compare(id, high[lo]!) > 0) high[lo] = Buffer.from(id);
      const ip = nodes.ipv4?.(i) ?? 0;
      if (ip !== 0) slash24s[lo]!.add(ip >>> 8);
    }
  }
  return runs.map((run, r) => {
    const startId = low[r]!;
    const endId = high[r]!;
    const prefixBits = commonPrefixBits(startId, endId);
    const expected = sizeUsed * Math.max(run.endKey - run.startKey, KEY_RESOLUTION);
    const region: SybilRegion = {
      prefix: startId.toString('hex').slice(0, prefixBits >>> 2),
      prefixBits,
      startId: startId.toString('hex'),
      endId: endId.toString('hex'),
      nodes: run.nodes,
      expected,
      ratio: run.nodes / expected,
      log10PValue: run.logP / Math.LN10,
    };
    if (nodes.ipv4 !== undefined) region.distinctSlash24 = slash24s[r]!.size;
    return region;
  });
}
