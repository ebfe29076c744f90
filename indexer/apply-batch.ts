import { createHash } from 'node:crypto';
import { type Discovery, validateDiscovery } from '../crawler/discovery.js';
import { dayOf, dayStartMs, type IndexKeys, type Metric, minuteOfDay, type NodeFlag, SCHEMA_VERSION } from './keys.js';
import { type RedisClient } from '../redis/client.js';
import { LuaScript } from '../redis/lua-script.js';

/**
 * Applies a batch of Discovery events to the index: atomically (one Lua script, one EVALSHA per
 * batch) and idempotently (the script's first write is `SET applied:<batchId> NX EX <ttl>`; a
 * batch delivered again finds the marker and changes nothing, so every count stays exact).
 *
 * The events are aggregated in JS first (per infohash: min first, max last, count, distinct
 * sources, newest time per peer; per node: distinct IDs per version and flag; stats per minute),
 * so the script does a few commands per distinct infohash, not per event.
 *
 * Cluster: a script may only touch keys of one hash slot. Every key starts with the hash tag
 * `{<prefix>}` (indexer/keys.ts), so all keys of the index, and so of any batch, are in one
 * slot and the script runs on Redis Cluster unchanged; every key it touches is declared in
 * KEYS. The price is that the index cannot be spread over shards. That is acceptable here: a
 * crawl produces a few thousand events per second and one Redis node applies batches of them
 * far faster than that (see SCHEMA.md). The alternative, if memory ever outgrows one node, is
 * a tag per infohash group (`{<prefix>:<first hex digit>}`) with one script per group and one
 * applied marker per (batch, slot group), giving up atomicity across groups but not
 * idempotency.
 */

export interface IndexConfig {
  /** `recent` keeps this many infohashes (the most recently seen). */
  recentCap: number;
  /** `popular` keeps this many infohashes (the most peers). */
  popularCap: number;
  /** Peers kept per infohash (the most recently seen). */
  peersCap: number;
  /** A peer not seen for this long is dropped; the peers key expires this long after its newest peer. */
  peerTtlMs: number;
  /** How long a batch's applied marker lives: longer than any redelivery (queue retention). */
  appliedTtlSec: number;
  /** Per-minute statistics and per-day node counts are kept this many days. */
  statsRetentionDays: number;
  /** Distinct client version labels counted; later ones are counted as "other". */
  versionsCap: number;
  /** Events per batch, at most (bounds the script's run time: Redis blocks while it runs). */
  maxBatchEvents: number;
}

export const DEFAULT_INDEX_CONFIG: Readonly<IndexConfig> = Object.freeze({
  recentCap: 10_000,
  popularCap: 10_000,
  peersCap: 200,
  peerTtlMs: 6 * 3600_000,
  appliedTtlSec: 7 * 86_400,
  statsRetentionDays: 30,
  versionsCap: 256,
  maxBatchEvents: 10_000,
});

export interface ApplyResult {
  batchId: string;
  /** false: the batch had been applied before (nothing changed). */
  applied: boolean;
  events: number;
  /** Events skipped because they were malformed (counted in totals `events:invalid`). */
  invalid: number;
  /** Infohashes this batch created (0 when not applied). */
  newInfohashes: number;
}

export interface ApplyOptions {
  keys: IndexKeys;
  config?: Partial<IndexConfig>;
  /** The current time in ms (peer expiry, the `batches` series). Default Date.now(). */
  now?: number;
  /** Default: batchId(events). */
  batchId?: string;
}

/** The database is not at the schema version this code writes: run `dhtscope migrate` (or upgrade). */
export class SchemaMismatchError extends Error {
  override readonly name = 'SchemaMismatchError';
  readonly code = 'ERR_SCHEMA_MISMATCH';
  constructor(
    readonly found: number,
    readonly expected: number,
  ) {
    super(
      found > expected
        ? `the index in Redis has schema version ${found}, newer than this dhtscope knows (${expected}): upgrade dhtscope`
        : `the index in Redis has schema version ${found}, this dhtscope needs ${expected}: run "dhtscope migrate"`,
    );
  }
}

/** A key the batch writes exists with another type: something else wrote under this prefix. Nothing was written. */
export class IndexKeyTypeError extends Error {
  override readonly name = 'IndexKeyTypeError';
  readonly code = 'ERR_INDEX_KEY_TYPE';
  constructor(
    readonly key: string,
    readonly found: string,
    readonly expected: string,
  ) {
    super(`Redis key ${key} is a ${found}, the index needs a ${expected} there: another program wrote under this prefix; nothing was written`);
  }
}

export class BatchTooLargeError extends Error {
  override readonly name = 'BatchTooLargeError';
  readonly code = 'ERR_BATCH_TOO_LARGE';
}

// ---------------------------------------------------------------------------------------
// Batch identity

/** JSON with object keys sorted at every level: equal content, equal text. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    const s = JSON.stringify(value);
    return s === undefined ? 'null' : s;
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const parts = Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`);
  return `{${parts.join(',')}}`;
}

/**
 * The batch id: sha1 of the canonical JSON of its events, sorted, one per line. The order of
 * events does not change what a batch does, so it does not change its id either.
 */
export function batchId(events: readonly unknown[]): string {
  const lines = events.map(canonicalJson).sort();
  return createHash('sha1').update(lines.join('\n')).digest('hex');
}

// ---------------------------------------------------------------------------------------
// Validation

const VERSION_HEX = /^(?:[0-9a-f]{2}){1,8}$/;
/** The one validator of a discovery lives with its type (crawler/discovery.ts). */
export { validateDiscovery };

/** How a node's `v` is counted: its bytes in hex (≤ 8 bytes), "none" without one, "invalid" otherwise. */
export function versionLabel(version: string | null): string {
  if (version === null) return 'none';
  const v = version.toLowerCase();
  return VERSION_HEX.test(v) ? v : 'invalid';
}

// ---------------------------------------------------------------------------------------
// Planning: the batch, aggregated, as the script's KEYS and ARGV

/** Indexes into KEYS (1-based) that the script relies on. */
const K = { applied: 1, version: 2, recent: 3, popular: 4, infohashes: 5, nodes: 6, versions: 7, totals: 8 } as const;

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

function resolveConfig(partial: Partial<IndexConfig> | undefined): IndexConfig {
  const c = { ...DEFAULT_INDEX_CONFIG, ...partial };
  for (const [k, v] of Object.entries(c)) {
    if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`index config ${k} must be a positive integer, got ${String(v)}`);
  }
  return c;
}

/** Pure: turns a batch into the script's keys and arguments. Exported for tests. */
export function planBatch(events: readonly unknown[], opts: ApplyOptions): BatchPlan {
  const config = resolveConfig(opts.config);
  if (events.length > config.maxBatchEvents) {
    throw new BatchTooLargeError(`a batch holds at most ${config.maxBatchEvents} events, got ${events.length}`);
  }
  const { keys } = opts;
  const now = opts.now ?? Date.now();
  const id = opts.batchId ?? batchId(events);
  const cutoff = now - config.peerTtlMs;
  const retentionMs = config.statsRetentionDays * 86_400_000;
  /** EXPIREAT (s) of a per-day key, or null when that day is already past the retention. */
  const dayExpiry = (ms: number): number | null => {
    const end = dayStartMs(ms) + 86_400_000 + retentionMs;
    return end <= now ? null : Math.ceil(end / 1000);
  };

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

  let invalid = 0;
  for (const raw of events) {
    const e = validateDiscovery(raw);
    if (e === null) {
      invalid++;
      continue;
    }
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
  return { batchId: id, keys: kt.list, args: [JSON.stringify(plan)], events: events.length, invalid };
}

// ---------------------------------------------------------------------------------------
// The script

const APPLY_LUA = `#!lua
-- KEYS: 1 applied marker, 2 schema version, 3 recent, 4 popular, 5 infohash registry,
-- 6 nodes HLL, 7 version labels SET, 8 totals HASH, then per-batch keys referenced by index
-- from the plan (ARGV[1], JSON). Numbers that may exceed 2^31 (times) travel as strings.
local plan = cjson.decode(ARGV[1])

-- Refuse a database at another schema version (nothing written).
local version = redis.call('GET', KEYS[${K.version}]) or '0'
if version ~= plan.v then return {-1, version} end

-- Refuse a key of the wrong type (nothing written): a command on it would fail half-way
-- through the batch, after the marker. Only another program can have written one.
for _, t in ipairs(plan.types) do
  local found = redis.call('TYPE', KEYS[t[1]]).ok
  if found ~= 'none' and found ~= t[2] then return {-2, KEYS[t[1]], found, t[2]} end
end
local infohashTypes = {'hash', 'string', 'zset'}
for _, e in ipairs(plan.ih) do
  for j = 1, 3 do
    local found = redis.call('TYPE', KEYS[e.k[j]]).ok
    if found ~= 'none' and found ~= infohashTypes[j] then return {-2, KEYS[e.k[j]], found, infohashTypes[j]} end
  end
end

-- Idempotency: the first write. A batch seen before changes nothing.
if not redis.call('SET', KEYS[${K.applied}], '1', 'NX', 'EX', plan.ttl) then return {0, 0} end

-- redis.call with a long list, in chunks (Lua's unpack limit).
local function chunked(cmd, key, opt, list, step)
  local n = #list
  local i = 1
  while i <= n do
    local j = math.min(i + step - 1, n)
    if opt then redis.call(cmd, key, opt, unpack(list, i, j)) else redis.call(cmd, key, unpack(list, i, j)) end
    i = j + 1
  end
end

local now = tonumber(plan.now)
local newCount = 0
for _, e in ipairs(plan.ih) do
  local hk, sk, pk = KEYS[e.k[1]], KEYS[e.k[2]], KEYS[e.k[3]]
  local cur = redis.call('HMGET', hk, 'first', 'last')
  local first, last = e.f, e.l
  if cur[1] then
    if tonumber(cur[1]) <= tonumber(first) then first = cur[1] end
    if cur[2] and tonumber(cur[2]) >= tonumber(last) then last = cur[2] end
  else
    newCount = newCount + 1
    if e.nk then redis.call('HINCRBY', KEYS[e.nk], e.nf, 1) end
  end
  redis.call('HINCRBY', hk, 'seen', e.n)
  if #e.s > 0 then chunked('PFADD', sk, false, e.s, 1000) end
  local sources = redis.call('PFCOUNT', sk)
  if #e.p > 0 then chunked('ZADD', pk, 'GT', e.p, 1000) end
  redis.call('ZREMRANGEBYSCORE', pk, '-inf', '(' .. plan.cutoff)
  local peers = redis.call('ZCARD', pk)
  if peers > plan.caps.peers then
    redis.call('ZREMRANGEBYRANK', pk, 0, peers - plan.caps.peers - 1)
    peers = plan.caps.peers
  end
  if peers > 0 then
    local top = redis.call('ZRANGE', pk, -1, -1, 'WITHSCORES')
    local ttl = math.max(1, math.floor(tonumber(top[2]) + plan.peerTtl - now))
    redis.call('PEXPIRE', pk, ttl)
    redis.call('ZADD', KEYS[${K.popular}], peers, e.h)
  else
    redis.call('ZREM', KEYS[${K.popular}], e.h)
  end
  redis.call('HSET', hk, 'first', first, 'last', last, 'sources', sources, 'peers', peers)
  redis.call('ZADD', KEYS[${K.recent}], 'GT', last, e.h)
  redis.call('ZADD', KEYS[${K.infohashes}], 'GT', last, e.h)
end
local function cap(key, n)
  local size = redis.call('ZCARD', key)
  if size > n then redis.call('ZREMRANGEBYRANK', key, 0, size - n - 1) end
end
cap(KEYS[${K.recent}], plan.caps.recent)
cap(KEYS[${K.popular}], plan.caps.popular)

if #plan.nodes > 0 then chunked('PFADD', KEYS[${K.nodes}], false, plan.nodes, 1000) end
for _, d in ipairs(plan.days) do
  chunked('PFADD', KEYS[d[1]], false, d[3], 1000)
  redis.call('EXPIREAT', KEYS[d[1]], d[2])
end
for _, v in ipairs(plan.ver) do
  local key, label = KEYS[v[1]], v[3]
  if redis.call('SISMEMBER', KEYS[${K.versions}], label) == 0 and redis.call('SCARD', KEYS[${K.versions}]) >= plan.caps.versions then
    key, label = KEYS[v[2]], 'other'
  end
  redis.call('SADD', KEYS[${K.versions}], label)
  chunked('PFADD', key, false, v[4], 1000)
end
for _, f in ipairs(plan.flags) do chunked('PFADD', KEYS[f[1]], false, f[2], 1000) end

for _, s in ipairs(plan.stats) do redis.call('HINCRBY', KEYS[s[1]], s[2], s[3]) end
for _, x in ipairs(plan.exp) do
  if redis.call('EXISTS', KEYS[x[1]]) == 1 then redis.call('EXPIREAT', KEYS[x[1]], x[2]) end
end
for _, t in ipairs(plan.totals) do redis.call('HINCRBY', KEYS[${K.totals}], t[1], t[2]) end
if newCount > 0 then redis.call('HINCRBY', KEYS[${K.totals}], 'infohashes:new', newCount) end
return {1, newCount}
`;

export const applyScript = new LuaScript(APPLY_LUA);

/**
 * Applies `events` (Discovery objects; malformed ones are skipped and counted) as one batch.
 * Throws SchemaMismatchError (nothing written) when the database is not at SCHEMA_VERSION, and
 * IndexKeyTypeError (nothing written) when a key it would write has another type.
 */
export async function applyBatch(redis: RedisClient, events: readonly unknown[], opts: ApplyOptions): Promise<ApplyResult> {
  const plan = planBatch(events, opts);
  const reply = (await applyScript.run(redis, plan.keys, plan.args)) as [number, number | string, string?, string?];
  const [status, detail] = reply;
  if (status === -1) throw new SchemaMismatchError(Number(detail), SCHEMA_VERSION);
  if (status === -2) throw new IndexKeyTypeError(String(detail), String(reply[2]), String(reply[3]));
  return {
    batchId: plan.batchId,
    applied: status === 1,
    events: plan.events,
    invalid: plan.invalid,
    newInfohashes: status === 1 ? Number(detail) : 0,
  };
}
