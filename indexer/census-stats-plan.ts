import { type BatchAggregate } from './batch-aggregate.js';
import { dayOf, type Metric, minuteOfDay, type NodeFlag } from './keys.js';

/**
 * The plan parts that lua/includes/census-stats.lua applies (both index writers share them):
 * node IDs for the census HyperLogLogs (all, per day, per version, per flag), per-minute
 * statistics with their keys' expiry, and totals. Keys are named by `names` (schema 4's
 * IndexKeys, or one schema-5 shard's) and numbered into the script's KEYS by `add`.
 */

export interface CensusStatsNames {
  nodesDay(day: string): string;
  nodesVersion(label: string): string;
  nodesFlag(flag: NodeFlag): string;
  stats(metric: Metric, day: string): string;
}

export type AddKey = (key: string, type?: 'string' | 'hash') => number;

export interface CensusStatsPlan {
  nodes: string[];
  days: Array<[number, number, string[]]>;
  ver: Array<[number, number, string, string[]]>;
  flags: Array<[number, string[]]>;
  stats: Array<[number, string, number]>;
  /** KEYS index → EXPIREAT (s) of the statistics keys; `countNew` adds the "new infohash" ones. */
  exp: Array<[number, number]>;
  totals: Array<[string, number]>;
}

export class CensusStatsPlanner {
  private readonly expiries = new Map<number, number>();
  private readonly statFields = new Map<number, Map<string, number>>();
  private lastNew: { minute: number; at: { nk: number; nf: string } } | null = null;

  constructor(
    private readonly agg: BatchAggregate,
    private readonly names: CensusStatsNames,
    private readonly add: AddKey,
  ) {
    for (const d of agg.stats.values()) {
      const ki = add(names.stats(d.metric, d.day), 'hash');
      this.expiries.set(ki, d.exp);
      this.statFields.set(ki, d.minutes);
    }
  }

  /**
   * Where a new infohash first seen at `first` is counted (`infohashes:new` of that day and
   * minute), or null when that day is past the retention: the plan entry's `nk` and `nf`.
   */
  countNew(first: number): { nk: number; nf: string } | null {
    // A batch's new infohashes fall in a minute or two: the last minute's answer is reused.
    const minute = Math.floor(first / 60_000);
    if (this.lastNew !== null && this.lastNew.minute === minute) return this.lastNew.at;
    const exp = this.agg.dayExpiry(first);
    if (exp === null) return null;
    const nk = this.add(this.names.stats('infohashes:new', dayOf(first)), 'hash');
    this.expiries.set(nk, exp);
    const at = { nk, nf: String(minuteOfDay(first)) };
    this.lastNew = { minute, at };
    return at;
  }

  /** Call after the last countNew. */
  plan(): CensusStatsPlan {
    const { agg, names, add } = this;
    return {
      nodes: [...agg.nodeIds],
      days: [...agg.byDay].map(([day, d]) => [add(names.nodesDay(day), 'string'), d.exp, [...d.ids]]),
      ver: [...agg.byVersion].map(([label, ids]) => [add(names.nodesVersion(label), 'string'), add(names.nodesVersion('other'), 'string'), label, [...ids]]),
      flags: [...agg.byFlag].map(([flag, ids]) => [add(names.nodesFlag(flag), 'string'), [...ids]]),
      stats: [...this.statFields].flatMap(([ki, fields]) => [...fields].map(([field, n]): [number, string, number] => [ki, field, n])),
      exp: [...this.expiries],
      totals: [...agg.totals],
    };
  }
}
