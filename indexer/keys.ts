import { MAX_TOKEN_CHARS } from './metadata-constants.js';
import { TOKEN_RE } from './search-tokens.js';
import { isCanonicalHexId } from '../bep5/node-id.js';
import { InvalidPrefixError } from './errors.js';

/**
 * The Redis key layout of the dhtscope index (documented key by key in indexer/SCHEMA.md).
 *
 * Every key starts with the hash tag `{<prefix>}`, so the whole index lives in ONE hash slot.
 * That is what lets one Lua script apply a whole batch atomically on Redis Cluster too (a
 * script may only touch keys of one slot). The cost: on a cluster the index is served by one
 * shard (plus its replicas); see SCHEMA.md "Cluster" for why that is acceptable and the
 * alternative. Nothing outside indexer/ and migrations/ should build these names by hand.
 */

export const DEFAULT_PREFIX = 'dhtscope';

/** Letters, digits and `_ . : -`; no braces (they would change the hash tag), 1–64 chars. */
const PREFIX_RE = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/;
const LABEL_RE = /^[A-Za-z0-9_.-]{1,40}$/;

/** The prefix from `DHTSCOPE_REDIS_PREFIX`, else the default; validated. */
export function prefixFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  const p = env['DHTSCOPE_REDIS_PREFIX'];
  return p === undefined || p === '' ? DEFAULT_PREFIX : validatePrefix(p);
}

export function validatePrefix(prefix: string): string {
  if (!PREFIX_RE.test(prefix)) throw new InvalidPrefixError(prefix);
  return prefix;
}

/** Metrics kept as per-minute time series (`stats:<metric>:<day>`). */
export const METRICS = [
  'events:node',
  'events:infohash',
  'events:sample',
  'events:peers',
  'infohashes:new',
  'peers:reported',
  'samples:returned',
  'rtt:sum',
  'rtt:count',
  'batches',
] as const;
export type Metric = (typeof METRICS)[number];

export type NodeFlag = 'bep51:yes' | 'bep51:no' | 'bep42:yes' | 'bep42:no' | 'family:4' | 'family:6';

/** Every census flag, in the order readers count them. The family flags are schema 6's. */
export const NODE_FLAGS: readonly NodeFlag[] = Object.freeze(['bep51:yes', 'bep51:no', 'bep42:yes', 'bep42:no', 'family:4', 'family:6']);

/** The last day dayOf formatted: a batch's events nearly all fall on one day, and formatting a Date for each was a tenth of a batch plan's time. */
let lastDay: { start: number; text: string } | null = null;

/** UTC day of a time in ms as `YYYYMMDD`: the suffix of per-day keys. */
export function dayOf(ms: number): string {
  const start = dayStartMs(ms);
  if (lastDay?.start === start) return lastDay.text;
  const d = new Date(ms);
  const text = `${d.getUTCFullYear()}${String(d.getUTCMonth() + 1).padStart(2, '0')}${String(d.getUTCDate()).padStart(2, '0')}`;
  if (!Number.isNaN(start)) lastDay = { start, text };
  return text;
}

/** The start of the UTC day holding `ms`. */
export function dayStartMs(ms: number): number {
  return Math.floor(ms / 86_400_000) * 86_400_000;
}

/** Minute of the UTC day (0–1439): the field of per-day time-series hashes. */
export function minuteOfDay(ms: number): number {
  return Math.floor((ms % 86_400_000) / 60_000);
}

export class IndexKeys {
  /** `{<prefix>}`: the hash tag every key starts with. */
  readonly tag: string;

  /**
   * `tagText` puts the same names under another hash tag: schema 5's shards (sharded-keys.ts)
   * keep their census and statistics under their own tags with these names.
   */
  constructor(
    readonly prefix: string = DEFAULT_PREFIX,
    tagText?: string,
  ) {
    validatePrefix(prefix);
    this.tag = `{${tagText ?? prefix}}`;
  }

  // ---- infohashes ----
  /** HASH first, last, seen, sources, peers. */
  infohash(hex: string): string {
    return `${this.tag}:ih:${checkHex(hex)}`;
  }
  /** HYPERLOGLOG of the addresses of the DHT nodes that reported the infohash. */
  infohashSources(hex: string): string {
    return `${this.tag}:ih:${checkHex(hex)}:src`;
  }
  /** ZSET peer "ip:port" → last seen (ms); capped, trimmed by age, expiring (schema ≥ 2; a SET in schema 1). */
  infohashPeers(hex: string): string {
    return `${this.tag}:ih:${checkHex(hex)}:peers`;
  }
  /**
   * ZSET infohash → last seen (ms; first seen before schema 4): the registry of every infohash
   * (exact count, migrations iterate it, retention prunes the lowest scores).
   */
  get infohashes(): string {
    return `${this.tag}:ihs`;
  }
  /** ZSET infohash → last seen (ms), capped to the most recent. */
  get recent(): string {
    return `${this.tag}:recent`;
  }
  /** ZSET infohash → live peer count at its last update, capped to the top. */
  get popular(): string {
    return `${this.tag}:popular`;
  }

  // ---- torrent metadata and search (schema ≥ 3) ----
  /** HASH the torrent's metadata (name raw + display, sizes, first files, fetchedAt, peer, indexed tokens). */
  infohashMetadata(hex: string): string {
    return `${this.tag}:ih:${checkHex(hex)}:meta`;
  }
  /** HASH failed metadata fetches: attempts, lastAttemptAt, lastError, nextAttemptAt, gaveUp; expiring. */
  infohashFetch(hex: string): string {
    return `${this.tag}:ih:${checkHex(hex)}:fetch`;
  }
  /** ZSET infohash → fetchedAt (ms): every infohash that has metadata. */
  get metadataFetched(): string {
    return `${this.tag}:metadata:fetched`;
  }
  /** ZSET infohash → when its next fetch attempt is due (ms): infohashes whose fetch failed; capped. */
  get metadataWait(): string {
    return `${this.tag}:metadata:wait`;
  }
  /** ZSET infohash → live peers when its metadata was stored: the posting list of one name token; capped. */
  searchToken(token: string): string {
    if (!TOKEN_RE.test(token) || [...token].length > MAX_TOKEN_CHARS) throw new Error(`bad search token ${JSON.stringify(token)}`);
    return `${this.tag}:search:t:${token}`;
  }

  // ---- node census ----
  /** HYPERLOGLOG of node IDs ever seen. */
  get nodes(): string {
    return `${this.tag}:nodes:hll`;
  }
  /** HYPERLOGLOG of node IDs seen on one UTC day (`YYYYMMDD`); expires with the stats retention. */
  nodesDay(day: string): string {
    return `${this.tag}:nodes:hll:${day}`;
  }
  /** SET of version labels (capped); each has a HYPERLOGLOG `nodesVersion(label)`. */
  get nodeVersions(): string {
    return `${this.tag}:nodes:versions`;
  }
  /** HYPERLOGLOG of node IDs that sent version `label` ("none", "other", "invalid" or the `v` bytes in hex). */
  nodesVersion(label: string): string {
    if (!LABEL_RE.test(label)) throw new Error(`bad version label ${JSON.stringify(label)}`);
    return `${this.tag}:nodes:v:${label}`;
  }
  /** HYPERLOGLOG of node IDs by BEP 51 / BEP 42 observation. */
  nodesFlag(flag: NodeFlag): string {
    return `${this.tag}:nodes:${flag}`;
  }

  // ---- crawl statistics ----
  /** HASH minute-of-day (0–1439) → value for one metric and UTC day; expires after the retention. */
  stats(metric: Metric, day: string): string {
    return `${this.tag}:stats:${metric}:${day}`;
  }
  /** HASH metric → all-time total. */
  get totals(): string {
    return `${this.tag}:totals`;
  }

  // ---- surveys ----
  /**
   * ZSET survey entry (JSON) → its time (ms): the survey series (survey-series.ts), newest
   * MAX_SURVEY_ENTRIES kept. Current in schema 5 too: one key in the index's own slot, not sharded.
   */
  get surveys(): string {
    return `${this.tag}:surveys`;
  }

  // ---- bookkeeping ----
  /** STRING "1" with a TTL: the batch was applied (idempotency marker). */
  applied(batchId: string): string {
    if (!isCanonicalHexId(batchId)) throw new Error(`bad batch id ${JSON.stringify(batchId)}`);
    return `${this.tag}:applied:${batchId}`;
  }
  /** STRING integer: the schema version (absent = 0, a fresh database). */
  get schemaVersion(): string {
    return `${this.tag}:schema:version`;
  }
  /** STRING random token with a PX TTL: held while migrations run. */
  get schemaLock(): string {
    return `${this.tag}:schema:lock`;
  }
  /** HASH version → JSON {name, appliedAt, durationMs}: what `migrate --status` shows. */
  get schemaHistory(): string {
    return `${this.tag}:schema:history`;
  }
  /** HASH created_at, prefix: written by migration 001. */
  get meta(): string {
    return `${this.tag}:meta`;
  }
}

function checkHex(hex: string): string {
  if (!isCanonicalHexId(hex)) throw new Error(`bad infohash ${JSON.stringify(hex)}: want 40 lowercase hex digits`);
  return hex;
}

/**
 * The schema version this code reads and writes. migrations/ owns the schema: its latest
 * migration must have this number (checked when migrations/index.ts loads).
 */
export const SCHEMA_VERSION = 6;

/**
 * The version schema 4's writers and prune (apply-batch.ts, metadata-store.ts,
 * metadata-fetch-state.ts, prune.ts) check for. Since migration 005 the index is schema 5
 * (sharded-*.ts); they stay for the schema-4 fixture (scripts/make-schema4-fixture.ts) and the
 * tests that compare the two schemas, on indexes kept at version 4.
 */
export const SCHEMA_4_VERSION = 4;
