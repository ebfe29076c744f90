import { type Discovery } from '../crawler/discovery.js';
import { BatchTooLargeError } from './errors.js';
import { aggregateBatch } from './batch-aggregate.js';
import { CensusStatsPlanner } from './census-stats-plan.js';
import { type IndexConfig, resolveConfig } from './index-config.js';
import { type IndexKeys, SCHEMA_4_VERSION } from './keys.js';

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

  const agg = aggregateBatch(events, { config, now, invalid, countBatch: true });
  const census = new CensusStatsPlanner(agg, keys, (key, type) => kt.add(key, type));

  // Per infohash: [hash, sources HLL, peers ZSET] key indexes, the data, and where a "new
  // infohash" is counted (the stats key of the day of its first sighting, if retained).
  const ih = [...agg.infohashes].map(([hex, a]) => {
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
    const counted = census.countNew(a.first);
    if (counted !== null) Object.assign(entry, counted);
    return entry;
  });

  const plan = {
    v: String(SCHEMA_4_VERSION),
    ttl: config.appliedTtlSec,
    now: String(now),
    cutoff: String(cutoff),
    peerTtl: config.peerTtlMs,
    caps: { recent: config.recentCap, popular: config.popularCap, peers: config.peersCap, versions: config.versionsCap },
    ih,
    ...census.plan(),
    types: kt.types,
  };
  return { batchId: id, keys: kt.list, args: [JSON.stringify(plan)], events: received, invalid };
}
