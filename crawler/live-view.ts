import { cryptoRandom, type RandomSource } from '../bep5/random.js';
import { estimateFromIds, type SizeEstimate } from './estimate.js';
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
    const cell = nodes.ids.readUInt16BE(i * 20) >>> (16 - bits);
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
 */
export function liveSizeEstimate(nodes: NodeIndex, random: RandomSource = cryptoRandom): SizeEstimate | null {
  const ids: Buffer[] = [];
  for (let i = 0; i < nodes.size; i++) if (nodes.hasFlag(i, NODE_FLAG.ANSWERED)) ids.push(nodes.id(i));
  if (ids.length < 2 * LIVE_ESTIMATE_K) return null;
  return estimateFromIds(ids, LIVE_ESTIMATE_TARGETS, LIVE_ESTIMATE_K, random, { replicates: LIVE_ESTIMATE_REPLICATES });
}
