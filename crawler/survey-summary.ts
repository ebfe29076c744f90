import { type Census, type Churn, type FamilyCounts } from './census.js';
import { type SizeEstimate } from './estimate.js';
import { type Measurement } from './measure.js';
import { type SybilRegion } from './sybil.js';

/**
 * What a survey keeps of a measurement for the long run (issue 15, item 4): the size estimate
 * with its interval, a census cut to a bounded size, churn and the flagged Sybil regions. A
 * summary is a few kilobytes whatever the network's size, so a time series of them stays
 * small (indexer/survey-series.ts stores them; its SurveyEntry is this plus `at` and
 * `source`, and its reader checks the same bounds).
 *
 * Counts are exact; shares are rounded to 6 decimal places (SHARE_DECIMALS), which is finer
 * than any census can resolve and keeps an entry compact.
 */

/** Client versions kept by count; the rest are summed as `otherVersions`. The real DHT shows hundreds. */
export const SURVEY_TOP_VERSIONS = 20;

/**
 * Sybil regions kept, the most significant first. The simulator plants three clusters; a real
 * scan that flags more than a handful says more about the size estimate than about attacks
 * (crawler/sybil.ts MAX_REGIONS), and `sybilRegionsFound` still says how many there were.
 */
export const SURVEY_SYBIL_REGIONS = 16;

const SHARE_DECIMALS = 1e6;

/** A share rounded to 6 decimal places (never outside [0, 1]). */
export function roundShare(x: number): number {
  return Math.min(1, Math.max(0, Math.round(x * SHARE_DECIMALS) / SHARE_DECIMALS));
}

export interface SizeSummary {
  estimate: number;
  /** The 95% interval. */
  low: number;
  high: number;
}

export interface VersionSummary {
  client: string;
  version: string;
  count: number;
  /** count / withVersion. */
  share: number;
}

export interface CensusSummary {
  nodes: number;
  answered: number;
  responseRate: number;
  /** Nodes that sent a `v`: the denominator of the version shares. */
  withVersion: number;
  /** The SURVEY_TOP_VERSIONS most common (client, version) pairs, most common first. */
  versions: VersionSummary[];
  /** Every other version together: how many distinct ones, their nodes and share. */
  otherVersions: { versions: number; count: number; share: number };
  bep51: { supported: number; unsupported: number; unknown: number; share: number };
  bep42Share: number;
  /**
   * BEP 32 and BEP 33 support among the nodes with a verdict (census.ts `bep32`, `bep33`);
   * absent when no node had one (an IPv4-only crawl asks nothing of BEP 32).
   */
  bep32Share?: number;
  bep33Share?: number;
  /** Nodes and answered nodes per address family (BEP 32); absent where the census was summed from parts that lack it (shared surveys). */
  families?: FamilyCounts;
  /** Round-trip times of the answered nodes (nearest-rank percentiles, ms; null without samples). */
  rtt: { samples: number; p50: number | null; p90: number | null };
}

export interface ChurnSummary {
  before: number;
  after: number;
  left: number;
  joined: number;
  leftShare: number;
  joinedShare: number;
}

export interface SybilRegionSummary {
  /** Hex digits every ID of the region starts with (may be ''). */
  prefix: string;
  prefixBits: number;
  startId: string;
  endId: string;
  nodes: number;
  /** Nodes the size estimate predicts in the region's span. */
  expected: number;
  /** log10 of the chance of so many IDs so close (crawler/sybil.ts). */
  log10PValue: number;
  /** Distinct /24 networks among the region's addresses; null when addresses were not known. */
  distinctSlash24: number | null;
}

export interface SurveySummary {
  size: SizeSummary | null;
  census: CensusSummary;
  churn: ChurnSummary | null;
  /** The SURVEY_SYBIL_REGIONS most significant regions; [] when none were flagged, null when not scanned. */
  sybilRegions: SybilRegionSummary[] | null;
  /** Regions flagged in all (the list may be cut). */
  sybilRegionsFound: number;
}

export function summarizeSize(size: SizeEstimate | null): SizeSummary | null {
  if (size === null) return null;
  const { estimate, low, high } = size;
  // A degenerate estimate (no distance at all) is infinite: nothing worth keeping.
  if (![estimate, low, high].every((x) => Number.isFinite(x) && x >= 0)) return null;
  return { estimate, low: Math.min(low, high), high: Math.max(low, high) };
}

/** Cuts a version list (most common first) to the top SURVEY_TOP_VERSIONS and the rest summed. */
export function summarizeVersions(versions: ReadonlyArray<{ client: string; version: string; count: number }>, withVersion: number): Pick<CensusSummary, 'versions' | 'otherVersions'> {
  const share = (n: number): number => roundShare(withVersion > 0 ? n / withVersion : 0);
  const top = versions.slice(0, SURVEY_TOP_VERSIONS).map((v) => ({ client: v.client, version: v.version, count: v.count, share: share(v.count) }));
  const rest = versions.slice(SURVEY_TOP_VERSIONS);
  const count = rest.reduce((sum, v) => sum + v.count, 0);
  return { versions: top, otherVersions: { versions: rest.length, count, share: share(count) } };
}

export function summarizeCensus(c: Census): CensusSummary {
  return {
    nodes: c.nodes,
    answered: c.answered,
    responseRate: roundShare(c.responseRate),
    withVersion: c.withVersion,
    ...summarizeVersions(c.versions, c.withVersion),
    bep51: { supported: c.bep51.supported, unsupported: c.bep51.unsupported, unknown: c.bep51.unknown, share: roundShare(c.bep51.share) },
    bep42Share: roundShare(c.bep42Share),
    ...extensionShares(c.bep32, c.bep33),
    families: { ipv4: { ...c.families.ipv4 }, ipv6: { ...c.families.ipv6 } },
    rtt: { samples: c.rtt.samples, p50: c.rtt.p50, p90: c.rtt.p90 },
  };
}

/** bep32Share and bep33Share, each only when some node had a verdict. */
export function extensionShares(
  bep32: { supported: number; unsupported: number },
  bep33: { supported: number; unsupported: number },
): Pick<CensusSummary, 'bep32Share' | 'bep33Share'> {
  const out: Pick<CensusSummary, 'bep32Share' | 'bep33Share'> = {};
  const judged32 = bep32.supported + bep32.unsupported;
  const judged33 = bep33.supported + bep33.unsupported;
  if (judged32 > 0) out.bep32Share = roundShare(bep32.supported / judged32);
  if (judged33 > 0) out.bep33Share = roundShare(bep33.supported / judged33);
  return out;
}

export function summarizeChurn(ch: Churn | undefined | null): ChurnSummary | null {
  if (ch === undefined || ch === null) return null;
  return { before: ch.before, after: ch.after, left: ch.left, joined: ch.joined, leftShare: roundShare(ch.leftShare), joinedShare: roundShare(ch.joinedShare) };
}

/** The most significant regions (smallest p-value first), cut to SURVEY_SYBIL_REGIONS. */
export function summarizeSybilRegions(regions: readonly SybilRegion[] | undefined, found = regions?.length ?? 0): Pick<SurveySummary, 'sybilRegions' | 'sybilRegionsFound'> {
  if (regions === undefined) return { sybilRegions: null, sybilRegionsFound: 0 };
  const kept = [...regions]
    .sort((a, b) => a.log10PValue - b.log10PValue || (a.startId < b.startId ? -1 : a.startId > b.startId ? 1 : 0))
    .slice(0, SURVEY_SYBIL_REGIONS)
    .map((r) => ({
      prefix: r.prefix,
      prefixBits: r.prefixBits,
      startId: r.startId,
      endId: r.endId,
      nodes: r.nodes,
      expected: r.expected,
      // Finite by construction (crawler/sybil.ts KEY_RESOLUTION); a floor keeps JSON honest anyway.
      log10PValue: Number.isFinite(r.log10PValue) ? r.log10PValue : -1e9,
      distinctSlash24: r.distinctSlash24 ?? null,
    }));
  return { sybilRegions: kept, sybilRegionsFound: Math.max(found, kept.length) };
}

/** A `measure` result as a survey: lookups' size estimate, the sweeps' census, churn between sweeps 1 and 2. */
export function summarizeMeasurement(m: Measurement): SurveySummary {
  return {
    size: summarizeSize(m.size),
    census: summarizeCensus(m.census),
    churn: summarizeChurn(m.churn),
    ...summarizeSybilRegions(m.census.sybilRegions),
  };
}
