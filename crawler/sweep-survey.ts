import { isBep42Compliant } from '../bep5/bep42.js';
import { cryptoRandom, type RandomSource } from '../bep5/random.js';
import { ExtensionTally, VersionCounts } from './census.js';
import { liveSizeEstimate } from './live-view.js';
import { featureVerdict, NODE_FEATURE, NODE_FLAG, type NodeIndex } from './node-index.js';
import { findSybilRegions } from './sybil.js';
import { Bitset } from './bitset.js';

export { Bitset };
import { type CensusSummary, type ChurnSummary, extensionShares, roundShare, type SurveySummary, summarizeSize, summarizeSybilRegions, summarizeVersions } from './survey-summary.js';

/**
 * A survey of each crawler sweep, for `dhtscope run` (issue 15, item 4): call `sweepDone()`
 * from the crawler's 'sweep-done' listener, synchronously, before the next sweep clears the
 * per-sweep flags. It returns
 *
 * - size: liveSizeEstimate over every node that ever answered;
 * - census: of the nodes queried in the sweep (and those that answered for the first time
 *   without a visit: the first sweep's bootstrap node), with `answered` meaning answered IN
 *   THIS SWEEP, so the response rate is the sweep's; versions, BEP 51 and BEP 42 as
 *   crawler/measure.ts censusNode reads them;
 * - churn: the nodes that answered in this sweep against those of the previous one (null after
 *   the first), by index, which is by address and ID (a NodeIndex keeps one entry per address and
 *   never changes its ID): the same sets census.ts `churn` compares by nodeKey;
 * - Sybil regions: findSybilRegions over every ID in the index, with the size estimate.
 *
 * One pass over the index's typed columns, no object per node: crawler/measure.ts's
 * censusNodes builds an object with two strings per node (about 1 KB of garbage a node, a
 * minute of GC at 10 M). What is kept between sweeps is two bits per node (which nodes had
 * answered by the end of the last sweep, and which answered in it): 2.5 MB at 10 M nodes. The
 * census pass allocates a 256 KB RTT histogram and a count per distinct version; the size
 * estimate 4 bytes per answered node and the Sybil scan 8 bytes per node, for the duration of
 * the call (crawler/live-view.ts, crawler/sybil.ts).
 */
export class SweepSurveyor {
  /** Nodes that had answered (ever) when the last sweep ended: the "before" of answeredThisSweep. */
  private answeredBefore = new Bitset(0);
  /** Nodes that answered in the last sweep; null before the first. */
  private answeredLast: Bitset | null = null;

  constructor(
    private readonly index: NodeIndex,
    private readonly random: RandomSource = cryptoRandom,
  ) {}

  /**
   * The crawler forgot nodes (Crawler 'nodes-forgotten', NodeIndex.compact): the sets kept
   * between sweeps follow the nodes to their new indexes. A forgotten node leaves them.
   */
  remap(remap: Int32Array, size: number): void {
    this.answeredBefore = this.answeredBefore.remap(remap, size);
    this.answeredLast = this.answeredLast?.remap(remap, size) ?? null;
  }

  /** The survey of the sweep that just ended; then remembers its answered set for the next one's churn. */
  sweepDone(): SurveySummary {
    const { census, churn, answeredEver, answeredNow } = sweepCensus(this.index, this.answeredBefore, this.answeredLast);
    this.answeredBefore = answeredEver;
    this.answeredLast = answeredNow;
    const size = summarizeSize(liveSizeEstimate(this.index, this.random));
    // As measure() does: without an estimate the scan takes N as the IDs it sees.
    const scan = findSybilRegions(this.index, size?.estimate ?? 1);
    return { size, census, churn, ...summarizeSybilRegions(scan.regions, scan.regionsFound) };
  }
}

/** The census of one sweep and its churn, in one pass; see SweepSurveyor. */
export function sweepCensus(
  index: NodeIndex,
  answeredBefore: Bitset,
  answeredLast: Bitset | null,
): { census: CensusSummary; churn: ChurnSummary | null; answeredEver: Bitset; answeredNow: Bitset } {
  const n = index.size;
  const answeredEver = new Bitset(n);
  const answeredNow = new Bitset(n);
  const versionCounts = new Uint32Array(index.versions.length);
  const rtts = new Uint32Array(65_536);
  const ip = Buffer.alloc(4);
  let nodes = 0;
  let answered = 0;
  let withVersion = 0;
  let supported = 0;
  let unsupported = 0;
  let unknown = 0;
  let bep42 = 0;
  const bep32 = new ExtensionTally();
  const bep33 = new ExtensionTally();
  let rttSamples = 0;
  let stayed = 0;
  const families = { ipv4: { nodes: 0, answered: 0 }, ipv6: { nodes: 0, answered: 0 } };
  for (let i = 0; i < n; i++) {
    const f = index.flags(i);
    const ever = (f & NODE_FLAG.ANSWERED) !== 0;
    const before = answeredBefore.has(i);
    const queried = (f & NODE_FLAG.QUERIED) !== 0;
    if (ever) answeredEver.set(i);
    // Answering implies being asked: a node that answered for the first time was asked in this sweep.
    if (!queried && !(ever && !before)) continue;
    nodes++;
    const family = f & NODE_FLAG.IPV6 ? families.ipv6 : families.ipv4;
    family.nodes++;
    // crawler/measure.ts answeredThisSweep: visited and not failed, or answered for the first time.
    if (ever && ((queried && !(f & NODE_FLAG.FAILED)) || !before)) {
      answeredNow.set(i);
      answered++;
      family.answered++;
      if (answeredLast?.has(i) === true) stayed++;
      const rtt = index.rttMs(i);
      if (rtt > 0) {
        rtts[rtt]!++;
        rttSamples++;
      }
    }
    if (f & NODE_FLAG.BEP51) supported++;
    else if (f & NODE_FLAG.NO_BEP51) unsupported++;
    else unknown++;
    // As censusNode: the crawler's verdict for a node that answered, else the ID others reported.
    if (ever) {
      if (f & NODE_FLAG.BEP42) bep42++;
    } else {
      if (isBep42Compliant(index.id(i), index.ipBytes(i, ip))) bep42++;
    }
    const features = index.features(i);
    bep32.add(featureVerdict(features, NODE_FEATURE.BEP32, NODE_FEATURE.NO_BEP32));
    bep33.add(featureVerdict(features, NODE_FEATURE.BEP33, NODE_FEATURE.NO_BEP33));
    const v = index.version(i);
    if (v !== 0) {
      withVersion++;
      versionCounts[v]!++;
    }
  }

  // Versions grouped by what they decode to, as census.ts does, most common first.
  const groups = new VersionCounts();
  for (let v = 1; v < versionCounts.length; v++) {
    const c = versionCounts[v]!;
    if (c !== 0) groups.add(index.versions[v]!, c);
  }
  const versions = groups.sorted();

  const ratio = (part: number, whole: number): number => roundShare(whole > 0 ? part / whole : 0);
  const census: CensusSummary = {
    nodes,
    answered,
    responseRate: ratio(answered, nodes),
    withVersion,
    ...summarizeVersions(versions, withVersion),
    bep51: { supported, unsupported, unknown, share: ratio(supported, supported + unsupported) },
    bep42Share: ratio(bep42, nodes),
    ...extensionShares(bep32, bep33),
    families,
    rtt: { samples: rttSamples, p50: histogramPercentile(rtts, rttSamples, 50), p90: histogramPercentile(rtts, rttSamples, 90) },
  };
  let churn: ChurnSummary | null = null;
  if (answeredLast !== null) {
    const before = answeredLast.count();
    const left = before - stayed;
    const joined = answered - stayed;
    churn = { before, after: answered, left, joined, leftShare: ratio(left, before), joinedShare: ratio(joined, answered) };
  }
  return { census, churn, answeredEver, answeredNow };
}

/** census.ts `percentile` (nearest rank) over a histogram of integer values: counts[v] values equal v. */
function histogramPercentile(counts: Uint32Array, total: number, p: number): number | null {
  if (total === 0) return null;
  const rank = Math.max(1, Math.ceil((p * total) / 100));
  let seen = 0;
  for (let v = 0; v < counts.length; v++) {
    seen += counts[v]!;
    if (seen >= rank) return v;
  }
  return null; // unreachable: the counts add up to total
}
