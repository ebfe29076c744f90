import { type Discovery } from '../crawler/discovery.js';
import { BatchTooLargeError } from './errors.js';
import { type IndexConfig, resolveConfig } from './index-config.js';
import { dayOf, dayStartMs, type IndexKeys, type Metric, minuteOfDay, type NodeFlag, SCHEMA_VERSION } from './keys.js';

/**
 * The batch, aggregated in JS, as lua/apply-batch.lua's KEYS and ARGV: per infohash the first
 * and last time, a count, the distinct sources and the newest time per peer; per node the
 * distinct IDs per day, version and flag; stats per minute. So the script does a few commands
 * per distinct infohash, not per event. Pure (no Redis), so tests can look at a plan.
 */

export interface ApplyOptions {
  keys: IndexKeys;
  /**
   * Names the batch's applied marker: a redelivery with the same id changes nothing. Fixed when
   * the batch is sealed (newBatchId() in batch-id.ts), never derived from the events.
   */
  batchId: string;
  config?: Partial<IndexConfig>;
  /** The current time in ms (peer expiry, the `batches` series). Default Date.now(). */
  now?: number;
  /**
   * Events the caller dropped as malformed (validateDiscoveries in crawler/discovery.ts):
   * counted in totals `events:invalid` and in the batch's size. Default 0.
   */
  invalid?: number;
}

const VERSION_HEX = /^(?:[0-9a-f]{2}){1,8}$/;

/** How a node's `v` is counted: its bytes in hex (≤ 8 bytes), "none" without one, "invalid" otherwise. */
export function versionLabel(version: string | null): string {
  if (version === null) return 'none';
  const v = version.toLowerCase();
  return VERSION_HEX.test(v) ? v : 'invalid';
}

interface InfohashAgg {
  first: number;
  last: number;
  seen: number;
  sources: Set<string>;
  peers: Map<string, number>;
}

export interface BatchPlan {
  batchId: string;
  keys: string[];
  /** ARGV: one JSON document (see the script). */
  args: [string];
  /** Events the batch held as received, the dropped ones included. */
  events: number;
  invalid: number;
}

/** Redis TYPE names of what the script writes (a HyperLogLog is a string). */
type KeyType = 'hash' | 'zset' | 'set' | 'string';

class KeyTable {
  readonly list: string[] = [];
  /** The type each key must have if it exists (KEYS index → type); the markers are not checked. */
  readonly types: Array<[number, KeyType]> = [];
  private readonly index = new Map<string, number>();
  add(key: string, type?: KeyType): number {
    let i = this.index.get(key);
    if (i === undefined) {
      this.list.push(key);
      i = this.list.length;
      this.index.set(key, i);
      if (type !== undefined) this.types.push([i, type]);
    }
    return i;
  }
}

/** Pure: turns a batch into the script's keys and arguments. Exported for tests. */
export function planBatch(events: readonly Discovery[], opts: ApplyOptions): BatchPlan {
  const config = resolveConfig(opts.config);
  const invalid = opts.invalid ?? 0;
  if (!Number.isSafeInteger(invalid) || invalid < 0) throw new RangeError(`invalid must be a count of dropped events, got ${String(invalid)}`);
  // What the batch held as it came in: its dropped events count towards the limit as they did
  // when they travelled with it.
  const received = events.length + invalid;
  if (received > config.maxBatchEvents) {
    throw new BatchTooLargeError(`a batch holds at most ${config.maxBatchEvents} events, got ${received}`);
  }
  const { keys } = opts;
  const now = opts.now ?? Date.now();
  const id = opts.batchId;
  const cutoff = now - config.peerTtlMs;
  const retentionMs = config.statsRetentionDays * 86_400_000;
  /** EXPIREAT (s) of a per-day key, or null when that day is already past the retention. */
  const dayExpiry = (ms: number): number | null => {
    const end = dayStartMs(ms) + 86_400_000 + retentionMs;
    return end <= now ? null : Math.ceil(end / 1000);
  };

  // The first eight KEYS in the order lua/apply-batch.lua's header lists them.
  const kt = new KeyTable();
  kt.add(keys.applied(id));
  kt.add(keys.schemaVersion);
  kt.add(keys.recent, 'zset');
  kt.add(keys.popular, 'zset');
  kt.add(keys.infohashes, 'zset');
  kt.add(keys.nodes, 'string');
  kt.add(keys.nodeVersions, 'set');
  kt.add(keys.totals, 'hash');

  const totals = new Map<string, number>();
  const bump = (m: Map<string, number>, k: string, n: number): void => {
    m.set(k, (m.get(k) ?? 0) + n);
  };
  // stats: key index → field → increment; expiries: key index → EXPIREAT
  const stats = new Map<number, Map<string, number>>();
  const expiries = new Map<number, number>();
  const stat = (metric: Metric, at: number, n: number): void => {
    const exp = dayExpiry(at);
    if (exp === null || n === 0) return;
    const ki = kt.add(keys.stats(metric, dayOf(at)), 'hash');
    expiries.set(ki, exp);
    let fields = stats.get(ki);
    if (fields === undefined) stats.set(ki, (fields = new Map()));
    bump(fields, String(minuteOfDay(at)), n);
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
  if (invalid > 0) bump(totals, 'events:invalid', invalid);
  bump(totals, 'batches', 1);
  stat('batches', now, 1);

  // Per infohash: [hash, sources HLL, peers ZSET] key indexes, the data, and where a "new
  // infohash" is counted (the stats key of the day of its first sighting, if retained).
  const ih = [...infohashes].map(([hex, a]) => {
    let peers = [...a.peers];
    if (peers.length > config.peersCap) peers = peers.sort((x, y) => y[1] - x[1]).slice(0, config.peersCap);
    const entry: Record<string, unknown> = {
      // Types checked by the script itself (hash, string, zset): they would triple the plan's size.
      k: [kt.add(keys.infohash(hex)), kt.add(keys.infohashSources(hex)), kt.add(keys.infohashPeers(hex))],
      h: hex,
      f: String(a.first),
      l: String(a.last),
      n: a.seen,
      s: [...a.sources],
      p: peers.flatMap(([addr, at]) => [String(at), addr]),
    };
    const exp = dayExpiry(a.first);
    if (exp !== null) {
      const ki = kt.add(keys.stats('infohashes:new', dayOf(a.first)), 'hash');
      expiries.set(ki, exp);
      entry['nk'] = ki;
      entry['nf'] = String(minuteOfDay(a.first));
    }
    return entry;
  });

  const plan = {
    v: String(SCHEMA_VERSION),
    ttl: config.appliedTtlSec,
    now: String(now),
    cutoff: String(cutoff),
    peerTtl: config.peerTtlMs,
    caps: { recent: config.recentCap, popular: config.popularCap, peers: config.peersCap, versions: config.versionsCap },
    ih,
    nodes: [...nodeIds],
    days: [...byDay].map(([day, d]) => [kt.add(keys.nodesDay(day), 'string'), d.exp, [...d.ids]]),
    ver: [...byVersion].map(([label, ids]) => [kt.add(keys.nodesVersion(label), 'string'), kt.add(keys.nodesVersion('other'), 'string'), label, [...ids]]),
    flags: [...byFlag].map(([flag, ids]) => [kt.add(keys.nodesFlag(flag), 'string'), [...ids]]),
    stats: [...stats].flatMap(([ki, fields]) => [...fields].map(([field, n]) => [ki, field, n])),
    exp: [...expiries],
    totals: [...totals],
    types: kt.types,
  };
  return { batchId: id, keys: kt.list, args: [JSON.stringify(plan)], events: received, invalid };
}
