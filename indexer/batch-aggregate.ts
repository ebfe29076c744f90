import { type Discovery } from '../crawler/discovery.js';
import { type IndexConfig } from './index-config.js';
import { dayOf, dayStartMs, type Metric, minuteOfDay, type NodeFlag } from './keys.js';

/**
 * A batch of discoveries summed up, the part both index writers share (schema 4's
 * batch-plan.ts, schema 5's sharded-apply.ts): per infohash the first and last time, a count,
 * the distinct sources and the newest time per peer; per node the distinct IDs per day, version
 * and flag; totals; per-minute statistics of the days still retained. Pure.
 */

const VERSION_HEX = /^(?:[0-9a-f]{2}){1,8}$/;

/** How a node's `v` is counted: its bytes in hex (≤ 8 bytes), "none" without one, "invalid" otherwise. */
export function versionLabel(version: string | null): string {
  if (version === null) return 'none';
  const v = version.toLowerCase();
  return VERSION_HEX.test(v) ? v : 'invalid';
}

export interface InfohashAgg {
  first: number;
  last: number;
  seen: number;
  sources: Set<string>;
  /** address → newest report (ms), live ones only */
  peers: Map<string, number>;
}

/** One metric's increments on one day: minute of the day → count; `exp` is the key's EXPIREAT (s). */
export interface StatDay {
  metric: Metric;
  day: string;
  exp: number;
  minutes: Map<string, number>;
}

export interface BatchAggregate {
  totals: Map<string, number>;
  /** By `<metric> <day>`. */
  stats: Map<string, StatDay>;
  infohashes: Map<string, InfohashAgg>;
  nodeIds: Set<string>;
  byDay: Map<string, { exp: number; ids: Set<string> }>;
  byVersion: Map<string, Set<string>>;
  byFlag: Map<NodeFlag, Set<string>>;
  /** EXPIREAT (s) of a per-day key, or null when that day is already past the retention. */
  dayExpiry: (ms: number) => number | null;
}

export interface AggregateOptions {
  config: IndexConfig;
  now: number;
  /** Events dropped as malformed before the batch came here: counted in `events:invalid`. */
  invalid: number;
  /** Count the batch itself (`batches`); a batch split over shards counts once. */
  countBatch: boolean;
}

export function aggregateBatch(events: readonly Discovery[], opts: AggregateOptions): BatchAggregate {
  const { config, now } = opts;
  const cutoff = now - config.peerTtlMs;
  const retentionMs = config.statsRetentionDays * 86_400_000;
  const dayExpiry = (ms: number): number | null => {
    const end = dayStartMs(ms) + 86_400_000 + retentionMs;
    return end <= now ? null : Math.ceil(end / 1000);
  };
  const totals = new Map<string, number>();
  const bump = (m: Map<string, number>, k: string, n: number): void => {
    m.set(k, (m.get(k) ?? 0) + n);
  };
  const stats = new Map<string, StatDay>();
  const stat = (metric: Metric, at: number, n: number): void => {
    const exp = dayExpiry(at);
    if (exp === null || n === 0) return;
    const day = dayOf(at);
    let s = stats.get(`${metric} ${day}`);
    if (s === undefined) stats.set(`${metric} ${day}`, (s = { metric, day, exp, minutes: new Map() }));
    bump(s.minutes, String(minuteOfDay(at)), n);
  };

  const infohashes = new Map<string, InfohashAgg>();
  const agg = (hex: string, at: number): InfohashAgg => {
    let a = infohashes.get(hex);
    if (a === undefined) infohashes.set(hex, (a = { first: at, last: at, seen: 0, sources: new Set(), peers: new Map() }));
    if (at < a.first) a.first = at;
    if (at > a.last) a.last = at;
    return a;
  };
  const nodeIds = new Set<string>();
  const byDay = new Map<string, { exp: number; ids: Set<string> }>();
  const byVersion = new Map<string, Set<string>>();
  const byFlag = new Map<NodeFlag, Set<string>>();
  const addTo = <K>(m: Map<K, Set<string>>, k: K, id: string): void => {
    let s = m.get(k);
    if (s === undefined) m.set(k, (s = new Set()));
    s.add(id);
  };

  for (const e of events) {
    const metric: Metric = `events:${e.type}`;
    bump(totals, metric, 1);
    stat(metric, e.at, 1);
    switch (e.type) {
      case 'infohash': {
        const a = agg(e.infohash, e.at);
        a.seen++;
        a.sources.add(e.node);
        break;
      }
      case 'peers': {
        const a = agg(e.infohash, e.at);
        bump(totals, 'peers:reported', e.peers.length);
        stat('peers:reported', e.at, e.peers.length);
        if (e.at < cutoff) break; // already expired: the script would trim it at once
        for (const p of e.peers) if ((a.peers.get(p) ?? -1) < e.at) a.peers.set(p, e.at);
        break;
      }
      case 'node': {
        nodeIds.add(e.id);
        const exp = dayExpiry(e.at);
        if (exp !== null) {
          const day = dayOf(e.at);
          let d = byDay.get(day);
          if (d === undefined) byDay.set(day, (d = { exp, ids: new Set() }));
          d.ids.add(e.id);
        }
        addTo(byVersion, versionLabel(e.version), e.id);
        if (e.bep51 !== null) addTo(byFlag, e.bep51 ? 'bep51:yes' : 'bep51:no', e.id);
        addTo(byFlag, e.bep42 ? 'bep42:yes' : 'bep42:no', e.id);
        // discovery.ts writes IPv6 addresses, and only those, in brackets.
        addTo(byFlag, e.address.startsWith('[') ? 'family:6' : 'family:4', e.id);
        const rtt = Math.round(e.rttMs);
        bump(totals, 'rtt:sum', rtt);
        bump(totals, 'rtt:count', 1);
        stat('rtt:sum', e.at, rtt);
        stat('rtt:count', e.at, 1);
        break;
      }
      case 'sample': {
        bump(totals, 'samples:returned', e.samples);
        stat('samples:returned', e.at, e.samples);
        break;
      }
    }
  }
  if (opts.invalid > 0) bump(totals, 'events:invalid', opts.invalid);
  if (opts.countBatch) {
    bump(totals, 'batches', 1);
    stat('batches', now, 1);
  }
  return { totals, stats, infohashes, nodeIds, byDay, byVersion, byFlag, dayExpiry };

}
