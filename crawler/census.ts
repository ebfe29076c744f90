import { decodeVersion } from '../bep5/client-version.js';
import type { Discovery } from './discovery.js';
import { ipv4ToNumber } from './node-index.js';
import { findSybilRegions, type SybilRegion } from './sybil.js';

/**
 * What a crawl saw, summarized: how many nodes answered, which clients they run, how many
 * speak BEP 51 and have BEP 42 IDs, how fast they answer; and churn between two crawls.
 * Pure functions over plain records, so they work equally on a live NodeIndex dump, an NDJSON
 * file (through `fromDiscoveries`) or hand-made test data.
 */

/** One node as the census sees it. */
export interface CensusNode {
  /** 40 hex characters. */
  id: string;
  /** "ip:port". */
  address: string;
  /** The `v` value it sent, hex-encoded; null if it sent none (or never answered). */
  version: string | null;
  /** Last round-trip time in ms; 0 (or anything not positive and finite) means unknown. */
  rttMs: number;
  /** BEP 51 sample_infohashes: true = answered with samples, false = refused, null = not asked. */
  bep51: boolean | null;
  /** Its ID is BEP 42-compliant for its address (or the address is exempt). */
  bep42: boolean;
  /** It answered at least one query. */
  answered: boolean;
  /** BEP 32 (crawler/node-index.ts NODE_FEATURE): true = over IPv6 or gave IPv6 contacts, false = asked `want: n6` and gave none; null or absent = no verdict. */
  bep32?: boolean | null;
  /** BEP 33: true = a scrape for what it stores came back with filters, false = with values only; null or absent = not probed or no verdict. */
  bep33?: boolean | null;
}

/** Nodes with a verdict on an extension, and the share that support it among them (0 if none has one). */
export interface ExtensionCounts {
  supported: number;
  unsupported: number;
  /** No verdict: not asked (or no answer that could tell). */
  unknown: number;
  /** supported / (supported + unsupported). */
  share: number;
}

/** Nodes and answering nodes per address family (BEP 32): an IPv6 node's address is "[ipv6]:port". */
export interface FamilyCounts {
  ipv4: { nodes: number; answered: number };
  ipv6: { nodes: number; answered: number };
}

export interface VersionShare {
  /** The two-letter client code ("LT"), or "?" for a value that is not one. */
  client: string;
  /** Decoded where the client's scheme is known ("1.2.3"), else the version bytes in hex. */
  version: string;
  count: number;
  /** count / the number of nodes that sent a version. */
  share: number;
}

export interface Percentiles {
  /** How many RTTs went in: answered nodes with a known RTT. */
  samples: number;
  /** Nearest-rank percentiles (see `percentile`) and the arithmetic mean, in ms; null without samples. */
  p50: number | null;
  p90: number | null;
  p99: number | null;
  mean: number | null;
}

export interface Census {
  nodes: number;
  answered: number;
  /** answered / nodes (0 for no nodes). */
  responseRate: number;
  /** Nodes that sent a `v`: the denominator of the version shares. */
  withVersion: number;
  /** By (client, version), most common first; ties by client, then version. */
  versions: VersionShare[];
  bep51: {
    supported: number;
    unsupported: number;
    unknown: number;
    /** supported / (supported + unsupported): the share among nodes that were asked (0 if none were). */
    share: number;
  };
  /** Nodes with BEP 42-compliant (or exempt) IDs / nodes (0 for no nodes). */
  bep42Share: number;
  /** BEP 32: verdicts come only from crawls of both families (every query asks `want: n6`) and from IPv6 nodes. */
  bep32: ExtensionCounts;
  /** BEP 33: verdicts come from the crawl's scrape probes of BEP 51 nodes (crawler/scrape-probes.ts). */
  bep33: ExtensionCounts;
  /** `nodes` and `answered` by address family: a node on both families is one node per address. */
  families: FamilyCounts;
  rtt: Percentiles;
  /**
   * ID-space regions far denser than the network size predicts (crawler/sybil.ts), over every
   * node's ID; present only when `census` was given a network size.
   */
  sybilRegions?: SybilRegion[];
}

export interface CensusOptions {
  /** The network size estimate; when given, the census also flags Sybil regions among the IDs. */
  networkSize?: number;
}

export interface Churn {
  /** Distinct keys in each crawl. */
  before: number;
  after: number;
  /** In both. */
  stayed: number;
  /** In `before` only. */
  left: number;
  /** In `after` only. */
  joined: number;
  /** left / before: the share of the first crawl that is gone (0 if it was empty). */
  leftShare: number;
  /** joined / after: the share of the second crawl that is new (0 if it is empty). */
  joinedShare: number;
}

/** The client-version decoder lives with the protocol (bep5/client-version.ts); the census reads it. */
export { decodeVersion } from '../bep5/client-version.js';

/**
 * The nearest-rank p-th percentile of ascending `sorted`: the smallest value such that at
 * least p% of the values are less than or equal to it, i.e. sorted[ceil(p n / 100) - 1]
 * (p = 0 gives the minimum). It is always one of the observed values, never an interpolation.
 * Undefined for no values; p outside [0, 100] throws.
 */
export function percentile(sorted: readonly number[], p: number): number | undefined {
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile must be in [0, 100], got ${p}`);
  if (sorted.length === 0) return undefined;
  const rank = Math.max(1, Math.ceil((p * sorted.length) / 100));
  return sorted[Math.min(rank, sorted.length) - 1];
}

const ratio = (part: number, whole: number): number => (whole > 0 ? part / whole : 0);

export function census(nodes: Iterable<CensusNode>, options: CensusOptions = {}): Census {
  const sybilScan = options.networkSize !== undefined;
  const ids: string[] = [];
  const ipv4s: number[] = [];
  let count = 0;
  let answered = 0;
  let withVersion = 0;
  let supported = 0;
  let unsupported = 0;
  let unknown = 0;
  let bep42 = 0;
  const bep32 = new ExtensionTally();
  const bep33 = new ExtensionTally();
  const families: FamilyCounts = { ipv4: { nodes: 0, answered: 0 }, ipv6: { nodes: 0, answered: 0 } };
  const rtts: number[] = [];
  const groups = new VersionCounts();
  for (const n of nodes) {
    count++;
    const family = n.address.startsWith('[') ? families.ipv6 : families.ipv4;
    family.nodes++;
    if (n.answered) family.answered++;
    if (sybilScan) {
      ids.push(n.id);
      ipv4s.push(ipv4OfAddress(n.address));
    }
    if (n.answered) {
      answered++;
      if (Number.isFinite(n.rttMs) && n.rttMs > 0) rtts.push(n.rttMs);
    }
    if (n.bep51 === true) supported++;
    else if (n.bep51 === false) unsupported++;
    else unknown++;
    if (n.bep42) bep42++;
    bep32.add(n.bep32);
    bep33.add(n.bep33);
    if (n.version !== null) {
      withVersion++;
      groups.add(n.version);
    }
  }
  const versions: VersionShare[] = groups.sorted().map((v) => ({ ...v, share: v.count / withVersion }));
  rtts.sort((a, b) => a - b);
  let rttSum = 0;
  for (const r of rtts) rttSum += r;
  const result: Census = {
    nodes: count,
    answered,
    responseRate: ratio(answered, count),
    withVersion,
    versions,
    bep51: { supported, unsupported, unknown, share: ratio(supported, supported + unsupported) },
    bep42Share: ratio(bep42, count),
    bep32: bep32.counts(),
    bep33: bep33.counts(),
    families,
    rtt: {
      samples: rtts.length,
      p50: percentile(rtts, 50) ?? null,
      p90: percentile(rtts, 90) ?? null,
      p99: percentile(rtts, 99) ?? null,
      mean: rtts.length > 0 ? rttSum / rtts.length : null,
    },
  };
  if (sybilScan) result.sybilRegions = sybilRegionsOf(ids, ipv4s, options.networkSize!);
  return result;
}

/** Verdicts on one extension, node by node. */
export class ExtensionTally {
  supported = 0;
  unsupported = 0;
  unknown = 0;

  add(verdict: boolean | null | undefined): void {
    if (verdict === true) this.supported++;
    else if (verdict === false) this.unsupported++;
    else this.unknown++;
  }

  counts(): ExtensionCounts {
    const { supported, unsupported, unknown } = this;
    return { supported, unsupported, unknown, share: ratio(supported, supported + unsupported) };
  }
}

/** The IPv4 address of "ip:port" as a number, or 0 (unknown to the Sybil scan) for anything else. */
function ipv4OfAddress(address: string): number {
  const colon = address.lastIndexOf(':');
  return Math.max(0, ipv4ToNumber(colon >= 0 ? address.slice(0, colon) : address));
}

/** Census IDs are hex strings: packed into one buffer for the scan; IDs that are not 40 hex digits are left out. */
function sybilRegionsOf(hexIds: readonly string[], ipv4s: readonly number[], networkSize: number): SybilRegion[] {
  const ids = Buffer.alloc(20 * hexIds.length);
  const ipv4 = new Uint32Array(hexIds.length);
  let size = 0;
  for (let i = 0; i < hexIds.length; i++) {
    const hex = hexIds[i]!;
    if (!/^[0-9a-fA-F]{40}$/.test(hex)) continue;
    ids.write(hex, size * 20, 'hex');
    ipv4[size++] = ipv4s[i]!;
  }
  return findSybilRegions({ ids, size, ipv4 }, networkSize).regions;
}

/** Code-unit order, the same on every machine (localeCompare is not). */
function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Nodes per client version, grouped by what `v` decodes to (bep5/client-version.ts), so that
 * the census, a sweep's survey and a shared survey's partitions summed all count alike.
 */
export class VersionCounts {
  private readonly groups = new Map<string, { client: string; version: string; count: number }>();

  /** `count` more nodes that sent `v` (hex). */
  add(v: string, count = 1): void {
    const { client, version } = decodeVersion(v);
    const key = `${client}\u0000${version}`;
    const group = this.groups.get(key);
    if (group) group.count += count;
    else this.groups.set(key, { client, version, count });
  }

  /** Most common first; ties by client, then version. */
  sorted(): Array<{ client: string; version: string; count: number }> {
    return [...this.groups.values()].sort((a, b) => b.count - a.count || cmp(a.client, b.client) || cmp(a.version, b.version));
  }
}

/**
 * The key `churn` compares nodes by: ID and address together, so a node that restarted with
 * a new ID, or moved to a new address, counts as one leaving and one joining.
 */
export function nodeKey(node: { id: string; address: string }): string {
  return `${node.id.toLowerCase()}@${node.address}`;
}

/** Which keys stayed, left and joined between two crawls. Repeated keys count once. */
export function churn(before: Iterable<string>, after: Iterable<string>): Churn {
  const a = new Set(before);
  const b = new Set(after);
  let stayed = 0;
  for (const key of b) if (a.has(key)) stayed++;
  const left = a.size - stayed;
  const joined = b.size - stayed;
  return {
    before: a.size,
    after: b.size,
    stayed,
    left,
    joined,
    leftShare: ratio(left, a.size),
    joinedShare: ratio(joined, b.size),
  };
}

/**
 * The census input from a crawl's events (as in its NDJSON file). The crawler writes a `node`
 * event when a node first answers, so every node here has `answered: true`; nodes that were
 * only heard of never appear in the events. One entry per address, in order of first
 * appearance; a later node event for the same address replaces ID, RTT and BEP 42, and its
 * version unless it has none. BEP 51: a `sample` event from the address (before or after its
 * node event) means supported; otherwise the latest non-null `bep51` of its node events.
 * Sample events from addresses without a node event are ignored (their ID is unknown).
 */
export function fromDiscoveries(events: Iterable<Discovery>): CensusNode[] {
  const byAddress = new Map<string, CensusNode>();
  const sampled = new Set<string>();
  for (const e of events) {
    if (e.type === 'sample') {
      sampled.add(e.node);
      continue;
    }
    if (e.type !== 'node') continue;
    const prev = byAddress.get(e.address);
    byAddress.set(e.address, {
      id: e.id,
      address: e.address,
      version: e.version ?? prev?.version ?? null,
      rttMs: e.rttMs,
      bep51: e.bep51 ?? prev?.bep51 ?? null,
      bep42: e.bep42,
      answered: true,
    });
  }
  const out: CensusNode[] = [];
  for (const n of byAddress.values()) out.push(sampled.has(n.address) ? { ...n, bep51: true } : n);
  return out;
}
