import { setMaxListeners } from 'node:events';
import { isBep42Compliant } from '../bep5/bep42.js';
import { KrpcAbortError } from '../bep5/errors.js';
import { type DhtNode } from '../bep5/node.js';
import { idToHex } from '../bep5/node-id.js';
import { type RandomSource, cryptoRandom } from '../bep5/random.js';
import { type Census, type CensusNode, type Churn, census, churn, nodeKey } from './census.js';
import { type Crawler } from './crawler.js';
import { type SweepSummary } from './crawler-types.js';
import { type SizeEstimate, estimateNetworkSize } from './estimate.js';
import { lookupSamples } from './lookup-samples.js';
import { featureVerdict, NODE_FEATURE, NODE_FLAG, type NodeIndex } from './node-index.js';

/**
 * One measurement of the network: its size from random lookups, and a census and churn from
 * crawler sweeps. The census is built from the crawler's NodeIndex, not from its events, so it
 * knows the nodes that were queried and never answered: the response rate is real.
 *
 * Order: the node joins (if its table is empty), then `targets` random lookups give the size
 * estimate (they need only a converging lookup, not a complete crawl), then `sweeps` sweeps.
 * With two sweeps, churn compares the nodes that answered in sweep 1 with those that answered
 * in sweep 2, keyed by ID and address (census.ts nodeKey).
 */

export interface MeasureOptions {
  /** A started node (bootstrapped, or it is bootstrapped here): the lookups run through it. */
  node: DhtNode;
  /** A crawler on the same node (its sink, rate and politeness are the caller's choice). */
  crawler: Crawler;
  /** Random lookup targets for the size estimate (default 64). */
  targets?: number;
  /** Closest nodes per target (default 8, BEP 5's K). */
  k?: number;
  /** Crawler sweeps (default 1; 2 or more also measure churn between the first two). */
  sweeps?: number;
  /** Lookup targets and the estimator's bootstrap draws; a seeded source repeats the interval. */
  random?: RandomSource;
  /** Stops everything; what was measured so far is still returned. */
  signal?: AbortSignal;
  /** Lookups at once (default 8). */
  concurrency?: number;
  /** Bounds the sweeps (together) to this many milliseconds; the rest is reported as partial. */
  crawlMs?: number;
  /** Called as the measurement moves on, for a status line. */
  onPhase?: (phase: MeasurePhase) => void;
}

export type MeasurePhase = { phase: 'joining' } | { phase: 'lookups'; targets: number } | { phase: 'sweep'; sweep: number; of: number };

export interface Measurement {
  /** Null when too few lookups converged to estimate from (see `sizeError`). */
  size: SizeEstimate | null;
  sizeError?: string;
  lookups: { targets: number; converged: number };
  /** Over every node queried in any sweep: `nodes` queried, `answered` of them. */
  census: Census;
  /** Between the answered-node sets of sweep 1 and sweep 2 (when at least 2 sweeps ran). */
  churn?: Churn;
  sweeps: SweepSummary[];
  /** Per sweep: false when it was cut short (signal or crawlMs) before visiting every node. */
  complete: boolean[];
  /** Nodes the crawler heard of (queried or not). */
  known: number;
}

/** The census record of node `i` of a crawler's index. */
export function censusNode(index: NodeIndex, i: number): CensusNode {
  const f = index.flags(i);
  const v = index.version(i);
  return {
    id: idToHex(index.id(i)),
    address: index.address(i),
    version: v === 0 ? null : (index.versions[v] ?? null),
    rttMs: index.rttMs(i),
    bep51: f & NODE_FLAG.BEP51 ? true : f & NODE_FLAG.NO_BEP51 ? false : null,
    // The crawler judges BEP 42 when a node answers (with the ID it answered with); for a node
    // that never did, the ID other nodes reported for it is all there is.
    bep42: f & NODE_FLAG.ANSWERED ? (f & NODE_FLAG.BEP42) !== 0 : isBep42Compliant(index.id(i), index.host(i)),
    answered: (f & NODE_FLAG.ANSWERED) !== 0,
    bep32: featureVerdict(index.features(i), NODE_FEATURE.BEP32, NODE_FEATURE.NO_BEP32),
    bep33: featureVerdict(index.features(i), NODE_FEATURE.BEP33, NODE_FEATURE.NO_BEP33),
  };
}

/** Census records of the nodes `include` selects (default: all). */
export function censusNodes(index: NodeIndex, include: (i: number) => boolean = () => true): CensusNode[] {
  const out: CensusNode[] = [];
  for (let i = 0; i < index.size; i++) if (include(i)) out.push(censusNode(index, i));
  return out;
}

/** Which nodes have answered at least once, as a snapshot (1 = answered). */
export function answeredSnapshot(index: NodeIndex): Uint8Array {
  const out = new Uint8Array(index.size);
  for (let i = 0; i < index.size; i++) if (index.hasFlag(i, NODE_FLAG.ANSWERED)) out[i] = 1;
  return out;
}

/**
 * Indexes of the nodes that answered in the sweep just finished, given `before`, the
 * answeredSnapshot taken before it: those queried in it that answered and did not fail (a node
 * that timed out twice is FAILED even if it answered in an earlier sweep), and those that
 * answered for the first time without being visited (the bootstrap node of the first sweep is
 * asked by a bootstrap query, not a visit). Read it after `sweep()` resolves, before the next
 * sweep clears the per-sweep flags.
 */
export function answeredThisSweep(index: NodeIndex, before: Uint8Array = new Uint8Array(0)): number[] {
  const out: number[] = [];
  for (let i = 0; i < index.size; i++) {
    const f = index.flags(i);
    if (!(f & NODE_FLAG.ANSWERED)) continue;
    const visited = (f & NODE_FLAG.QUERIED) !== 0 && !(f & NODE_FLAG.FAILED);
    if (visited || before[i] !== 1) out.push(i);
  }
  return out;
}

export async function measure(options: MeasureOptions): Promise<Measurement> {
  const { node, crawler } = options;
  // Our own signal: lookups and sweeps hang many listeners on it, not on the caller's.
  const signal = options.signal === undefined ? undefined : AbortSignal.any([options.signal]);
  if (signal !== undefined) setMaxListeners(0, signal);
  const targets = options.targets ?? 64;
  const k = options.k ?? 8;
  const sweeps = options.sweeps ?? 1;
  const random = options.random ?? cryptoRandom;
  if (!Number.isInteger(targets) || targets < 1) throw new RangeError(`targets must be a positive integer, got ${targets}`);
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`k must be a positive integer, got ${k}`);
  if (!Number.isInteger(sweeps) || sweeps < 1) throw new RangeError(`sweeps must be a positive integer, got ${sweeps}`);
  const aborted = (err: unknown): boolean => err instanceof KrpcAbortError || signal?.aborted === true;

  // 1. Size: random lookups through the node's routing table.
  let size: SizeEstimate | null = null;
  let sizeError: string | undefined;
  let converged = 0;
  try {
    if (((node.table(4) ?? node.table(6))?.size ?? 0) === 0) {
      options.onPhase?.({ phase: 'joining' });
      await node.bootstrap({ signal });
    }
    options.onPhase?.({ phase: 'lookups', targets });
    const samples = await lookupSamples(node, { targets, k, random, signal, concurrency: options.concurrency });
    converged = samples.length;
    size = estimateNetworkSize(samples, k, random);
  } catch (err) {
    if (aborted(err)) sizeError = 'interrupted before the lookups finished';
    else if (err instanceof RangeError) sizeError = `${converged} of ${targets} lookups found ${k} nodes: ${err.message}`;
    else throw err;
  }

  // 2. Sweeps: every known node queried once per sweep.
  const crawlSignals = [signal, options.crawlMs === undefined ? undefined : AbortSignal.timeout(options.crawlMs)].filter((s): s is AbortSignal => s !== undefined);
  const crawlSignal = crawlSignals.length > 0 ? AbortSignal.any(crawlSignals) : undefined;
  if (crawlSignal !== undefined) setMaxListeners(0, crawlSignal);
  // Nodes queried in any sweep: the census population (heard-of but never asked tells nothing).
  let everQueried = new Uint8Array(0);
  const summaries: SweepSummary[] = [];
  const complete: boolean[] = [];
  const answeredKeys: string[][] = [];
  for (let s = 1; s <= sweeps && !crawlSignal?.aborted; s++) {
    options.onPhase?.({ phase: 'sweep', sweep: s, of: sweeps });
    const before = answeredSnapshot(crawler.nodes);
    const summary = await crawler.sweep(crawlSignal);
    summaries.push(summary);
    complete.push(!crawlSignal?.aborted);
    const index = crawler.nodes;
    if (everQueried.length < index.size) {
      const grown = new Uint8Array(index.size);
      grown.set(everQueried);
      everQueried = grown;
    }
    // Answering implies being asked (the first sweep's bootstrap node is asked, not visited).
    for (let i = 0; i < index.size; i++) if (index.hasFlag(i, NODE_FLAG.QUERIED | NODE_FLAG.ANSWERED)) everQueried[i] = 1;
    answeredKeys.push(answeredThisSweep(index, before).map((i) => nodeKey({ id: idToHex(index.id(i)), address: index.address(i) })));
  }

  const index = crawler.nodes;
  const result: Measurement = {
    size,
    lookups: { targets, converged },
    // The Sybil scan takes N as at least the IDs it sees, so without a size estimate 1 will do.
    census: census(censusNodes(index, (i) => everQueried[i] === 1), { networkSize: size?.estimate ?? 1 }),
    sweeps: summaries,
    complete,
    known: index.size,
  };
  if (sizeError !== undefined) result.sizeError = sizeError;
  if (answeredKeys.length >= 2) result.churn = churn(answeredKeys[0]!, answeredKeys[1]!);
  return result;
}
