import { LuaScript } from '../redis/lua-script.js';
import { type RedisClient } from '../redis/client.js';
import { IndexKeyTypeError, SchemaMismatchError, SurveyEntryError } from './errors.js';
import { type IndexKeys, SCHEMA_VERSION } from './keys.js';

/**
 * The survey series (issue 15, item 4): one entry per survey (a `run` sweep, a `measure`, a
 * shared survey) with its network size estimate and 95% interval, a bounded census, churn and
 * the flagged Sybil regions, kept in Redis so that measurements outlast the process that made
 * them. Layout and bounds: indexer/SCHEMA.md, "Survey series".
 *
 * Encoding: ONE sorted set, `{P}:surveys`, member = the entry as JSON, score = its `at` (ms).
 * - A sorted set, not a stream: the order is the survey's own time, whoever records it and
 *   whenever (`measure --redis-url` from another machine, a shared survey recorded at its end),
 *   where a stream orders by arrival and refuses an ID below its last; a time range is one
 *   ZRANGE BYSCORE; and recording the same entry again (a retried write) changes nothing, where
 *   XADD would add it twice.
 * - One key under the index's own tag `{P}`, in the same slot as `{P}:schema:version`: the
 *   write is one script that checks the schema version, adds and trims, on one Redis and on a
 *   Redis Cluster alike. Surveys are rare (one per sweep, minutes to hours apart), so one slot
 *   carries them easily.
 * - Bounded: MAX_SURVEY_ENTRIES entries (the oldest go first) of at most MAX_SURVEY_ENTRY_BYTES.
 *
 * Nothing in Redis is trusted blindly: the reader skips (and counts) members that are too long,
 * are not JSON, do not have this shape and these bounds, or whose score is not their `at`.
 * The writer checks an entry with the same rules, so it never stores what the reader would skip.
 *
 * The entry's shape is the crawler's SurveySummary (crawler/survey-summary.ts) plus `at` and
 * `source`; it is repeated here because the data layer imports nothing of the crawler but its
 * discovery events, and the caller's assignment makes TypeScript check the two agree.
 */

/**
 * Entries kept. 10,000 is years of a public crawl (a sweep of the real DHT takes hours) and
 * about a day of a loopback demo that sweeps every few seconds. An entry with 20 client versions
 * and two Sybil regions is 2.5 KB of JSON, and 10,000 of them took 26.6 MB in Redis (measured,
 * test/survey-series.test.ts); fewer versions make it smaller. MAX_SURVEY_ENTRY_BYTES caps the
 * worst case near 80 MB, and one read returns at most MAX_SURVEY_READ entries.
 */
export const MAX_SURVEY_ENTRIES = 10_000;

/**
 * The longest entry stored or read (bytes of JSON). The largest the bounds below allow is about
 * 7 KB (20 versions with 33-character version strings, 16 Sybil regions with their IDs).
 */
export const MAX_SURVEY_ENTRY_BYTES = 8_192;

/** Most entries one read returns (the API's largest `limit`). */
export const MAX_SURVEY_READ = 1_000;

/** Bounds of an entry's lists: the same as crawler/survey-summary.ts SURVEY_TOP_VERSIONS and SURVEY_SYBIL_REGIONS. */
export const MAX_SURVEY_VERSIONS = 20;
export const MAX_SURVEY_SYBIL_REGIONS = 16;

/** The stored format (`f` in the JSON). Readers skip other formats; new optional fields keep it. */
export const SURVEY_FORMAT = 1;

/** A shared survey's NAME, as `crawl --survey NAME` accepts it (workers/survey/survey-keys.ts SURVEY_NAME_PATTERN). */
const SURVEY_NAME_RE = /^[A-Za-z0-9._-]{1,64}$/;
const HEX_ID_RE = /^[0-9a-f]{40}$/;
const HEX_PREFIX_RE = /^[0-9a-f]{0,40}$/;
/** A client code as bep5/client-version.ts decodes it: two ASCII letters or digits, or "?". */
const CLIENT_RE = /^(?:[A-Za-z0-9]{2}|\?)$/;
/** A decoded version: digits and dots, or hex, cut with "…" (bep5/client-version.ts); never a control character. */
const VERSION_RE = /^[0-9A-Za-z.]{0,40}…?$/;

export type SurveySource = { kind: 'run'; sweep: number } | { kind: 'measure' } | { kind: 'survey'; name: string };

export interface SurveyEntry {
  /** When the survey ended (ms since the epoch): the entry's place in the series. */
  at: number;
  source: SurveySource;
  /** Network size estimate with its 95% interval; null when there was none. */
  size: { estimate: number; low: number; high: number } | null;
  census: SurveyCensus;
  /** Against the previous sweep (run) or between sweeps 1 and 2 (measure); null when there was no second set. */
  churn: SurveyChurn | null;
  /** Flagged ID-space regions, most significant first; [] for none, null when not scanned. */
  sybilRegions: SurveySybilRegion[] | null;
  /** Regions flagged in all (sybilRegions may be cut to MAX_SURVEY_SYBIL_REGIONS). */
  sybilRegionsFound: number;
}

export interface SurveyCensus {
  nodes: number;
  answered: number;
  responseRate: number;
  withVersion: number;
  versions: Array<{ client: string; version: string; count: number; share: number }>;
  otherVersions: { versions: number; count: number; share: number };
  bep51: { supported: number; unsupported: number; unknown: number; share: number };
  bep42Share: number;
  /**
   * BEP 32 (IPv6) and BEP 33 (scrape) support shares among the nodes with a verdict
   * (crawler/census.ts); absent when none had one, and in entries from before they were measured.
   */
  bep32Share?: number;
  bep33Share?: number;
  /**
   * Nodes and answered nodes per address family (BEP 32; an IPv6 node counts under ipv6). An
   * optional field of format 1: entries from before the IPv6 crawl, and summed shared-survey
   * censuses, have none.
   */
  families?: { ipv4: { nodes: number; answered: number }; ipv6: { nodes: number; answered: number } };
  rtt: { samples: number; p50: number | null; p90: number | null };
}

export interface SurveyChurn {
  before: number;
  after: number;
  left: number;
  joined: number;
  leftShare: number;
  joinedShare: number;
  /**
   * A shared survey's churn is against the shared survey recorded before it (`since`, its name)
   * and estimated from a sample of `sample` node keys (crawler/churn-sketch.ts). Both are absent
   * where the counts are exact (a `run` sweep against the one before, `measure`'s two sweeps).
   */
  since?: string;
  sample?: number;
}

/** The largest `sample` a churn may carry: crawler/churn-sketch.ts CHURN_SKETCH_K, with room. */
const MAX_CHURN_SAMPLE = 1_000_000;

export interface SurveySybilRegion {
  prefix: string;
  prefixBits: number;
  startId: string;
  endId: string;
  nodes: number;
  expected: number;
  log10PValue: number;
  distinctSlash24: number | null;
}

export interface SurveyRead {
  /** Newest first. */
  entries: SurveyEntry[];
  /** Entries stored in all (valid or not). */
  total: number;
  /** Members read but skipped as malformed. */
  skipped: number;
}

export interface SurveyReadOptions {
  /** At most this many members are read (1..MAX_SURVEY_READ). */
  limit: number;
  /** Only entries with `at` in [from, to] (ms, inclusive; either may be left out). */
  from?: number;
  to?: number;
}

/** KEYS: schema version, series. ARGV: version, at, JSON, bound. */
const recordScript = LuaScript.fromFile(new URL('./lua/survey-record.lua', import.meta.url));

/**
 * Adds one entry (checked first: SurveyEntryError) and trims the series to `maxEntries`.
 * Throws SchemaMismatchError on another schema version and IndexKeyTypeError when the key
 * holds something else; nothing is written then. `trimmed` counts the oldest entries removed
 * (the new one itself, when it is older than all MAX_SURVEY_ENTRIES kept).
 */
export async function recordSurvey(redis: RedisClient, keys: IndexKeys, entry: SurveyEntry, maxEntries = MAX_SURVEY_ENTRIES): Promise<{ kept: number; trimmed: number }> {
  if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) throw new RangeError(`maxEntries must be a positive integer, got ${maxEntries}`);
  const checked = checkEntry(entry);
  if (typeof checked === 'string') throw new SurveyEntryError(checked);
  const json = JSON.stringify({ f: SURVEY_FORMAT, ...checked });
  const bytes = Buffer.byteLength(json);
  if (bytes > MAX_SURVEY_ENTRY_BYTES) throw new SurveyEntryError(`the entry is ${bytes} bytes of JSON, more than ${MAX_SURVEY_ENTRY_BYTES}`);
  const [a, b] = (await recordScript.run(redis, [keys.schemaVersion, keys.surveys], [String(SCHEMA_VERSION), String(checked.at), json, String(maxEntries)])) as [number, number | string];
  if (a === -1) throw new SchemaMismatchError(Number(b), SCHEMA_VERSION);
  if (a === -2) throw new IndexKeyTypeError(keys.surveys, String(b), 'zset');
  return { kept: a, trimmed: Number(b) };
}

/** The newest entries first (at most `limit` members read), each checked; see SurveyRead. */
export async function readSurveys(redis: RedisClient, keys: IndexKeys, options: SurveyReadOptions): Promise<SurveyRead> {
  const { limit } = options;
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_SURVEY_READ) throw new RangeError(`limit must be an integer from 1 to ${MAX_SURVEY_READ}, got ${limit}`);
  for (const bound of [options.from, options.to]) if (bound !== undefined && !Number.isFinite(bound)) throw new RangeError(`from and to must be finite numbers, got ${bound}`);
  const max = options.to === undefined ? '+inf' : String(options.to);
  const min = options.from === undefined ? '-inf' : String(options.from);
  let flat: string[];
  let total: number;
  try {
    [flat, total] = await Promise.all([redis.zrange(keys.surveys, max, min, 'BYSCORE', 'REV', 'LIMIT', 0, limit, 'WITHSCORES'), redis.zcard(keys.surveys)]);
  } catch (err) {
    if (err instanceof Error && err.message.startsWith('WRONGTYPE')) throw new IndexKeyTypeError(keys.surveys, await redis.type(keys.surveys), 'zset');
    throw err;
  }
  const entries: SurveyEntry[] = [];
  let skipped = 0;
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const entry = parseSurveyMember(flat[i]!, Number(flat[i + 1]));
    if (entry === null) skipped++;
    else entries.push(entry);
  }
  return { entries, total, skipped };
}

/** A stored member (and its score) as an entry, or null when it is not one this code wrote. */
export function parseSurveyMember(member: string, score: number): SurveyEntry | null {
  if (member.length > MAX_SURVEY_ENTRY_BYTES || Buffer.byteLength(member) > MAX_SURVEY_ENTRY_BYTES) return null;
  let raw: unknown;
  try {
    raw = JSON.parse(member);
  } catch {
    return null;
  }
  if (!isObject(raw) || raw['f'] !== SURVEY_FORMAT) return null;
  const entry = checkEntry(raw);
  if (typeof entry === 'string' || entry.at !== score) return null;
  return entry;
}

// ---- checking an entry: a fresh copy of the known fields, or why it is not one ----

type Obj = Record<string, unknown>;

function isObject(x: unknown): x is Obj {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Thrown inside checkEntry, caught at its top: the path and the rule that failed. */
class Bad extends Error {}

function fail(path: string, rule: string): never {
  throw new Bad(`${path} ${rule}`);
}

function obj(x: unknown, path: string): Obj {
  if (!isObject(x)) fail(path, 'must be an object');
  return x;
}

function count(x: unknown, path: string): number {
  if (!Number.isSafeInteger(x) || (x as number) < 0) fail(path, 'must be a non-negative integer');
  return x as number;
}

function share(x: unknown, path: string): number {
  if (typeof x !== 'number' || !(x >= 0 && x <= 1)) fail(path, 'must be a share in [0, 1]');
  return x;
}

function finite(x: unknown, path: string, min = Number.NEGATIVE_INFINITY): number {
  if (typeof x !== 'number' || !Number.isFinite(x) || x < min) fail(path, `must be a finite number${min === 0 ? ' >= 0' : ''}`);
  return x;
}

function text(x: unknown, path: string, re: RegExp): string {
  if (typeof x !== 'string' || !re.test(x)) fail(path, `must match ${re.source}`);
  return x;
}

function list(x: unknown, path: string, max: number): unknown[] {
  if (!Array.isArray(x)) fail(path, 'must be an array');
  if (x.length > max) fail(path, `must hold at most ${max} items`);
  return x;
}

function nullable<T>(x: unknown, read: (x: unknown) => T): T | null {
  return x === null ? null : read(x);
}

function checkEntry(raw: unknown): SurveyEntry | string {
  try {
    return entryOf(obj(raw, 'entry'));
  } catch (err) {
    if (err instanceof Bad) return err.message;
    throw err;
  }
}

function entryOf(e: Obj): SurveyEntry {
  const at = count(e['at'], 'at');
  return {
    at,
    source: sourceOf(obj(e['source'], 'source')),
    size: nullable(e['size'], (s) => sizeOf(obj(s, 'size'))),
    census: censusOf(obj(e['census'], 'census')),
    churn: nullable(e['churn'], (c) => churnOf(obj(c, 'churn'))),
    ...sybilOf(e),
  };
}

function sourceOf(s: Obj): SurveySource {
  switch (s['kind']) {
    case 'run': {
      const sweep = count(s['sweep'], 'source.sweep');
      if (sweep < 1) fail('source.sweep', 'must be at least 1');
      return { kind: 'run', sweep };
    }
    case 'measure':
      return { kind: 'measure' };
    case 'survey':
      return { kind: 'survey', name: text(s['name'], 'source.name', SURVEY_NAME_RE) };
    default:
      return fail('source.kind', 'must be run, measure or survey');
  }
}

function sizeOf(s: Obj): NonNullable<SurveyEntry['size']> {
  const estimate = finite(s['estimate'], 'size.estimate', 0);
  const low = finite(s['low'], 'size.low', 0);
  const high = finite(s['high'], 'size.high', 0);
  if (low > high) fail('size', 'must have low <= high');
  return { estimate, low, high };
}

function censusOf(c: Obj): SurveyCensus {
  const nodes = count(c['nodes'], 'census.nodes');
  const answered = count(c['answered'], 'census.answered');
  if (answered > nodes) fail('census.answered', 'must not exceed census.nodes');
  const withVersion = count(c['withVersion'], 'census.withVersion');
  if (withVersion > nodes) fail('census.withVersion', 'must not exceed census.nodes');
  const versions = list(c['versions'], 'census.versions', MAX_SURVEY_VERSIONS).map((raw, i) => {
    const v = obj(raw, `census.versions[${i}]`);
    return {
      client: text(v['client'], `census.versions[${i}].client`, CLIENT_RE),
      version: text(v['version'], `census.versions[${i}].version`, VERSION_RE),
      count: count(v['count'], `census.versions[${i}].count`),
      share: share(v['share'], `census.versions[${i}].share`),
    };
  });
  const o = obj(c['otherVersions'], 'census.otherVersions');
  const otherVersions = { versions: count(o['versions'], 'census.otherVersions.versions'), count: count(o['count'], 'census.otherVersions.count'), share: share(o['share'], 'census.otherVersions.share') };
  if (versions.reduce((sum, v) => sum + v.count, otherVersions.count) > withVersion) fail('census.versions', 'must not count more nodes than census.withVersion');
  const b = obj(c['bep51'], 'census.bep51');
  const bep51 = {
    supported: count(b['supported'], 'census.bep51.supported'),
    unsupported: count(b['unsupported'], 'census.bep51.unsupported'),
    unknown: count(b['unknown'], 'census.bep51.unknown'),
    share: share(b['share'], 'census.bep51.share'),
  };
  if (bep51.supported + bep51.unsupported + bep51.unknown !== nodes) fail('census.bep51', 'must add up to census.nodes');
  const r = obj(c['rtt'], 'census.rtt');
  const rtt = {
    samples: count(r['samples'], 'census.rtt.samples'),
    p50: nullable(r['p50'], (x) => finite(x, 'census.rtt.p50', 0)),
    p90: nullable(r['p90'], (x) => finite(x, 'census.rtt.p90', 0)),
  };
  if (rtt.samples > answered) fail('census.rtt.samples', 'must not exceed census.answered');
  if ((rtt.samples === 0) !== (rtt.p50 === null) || (rtt.p50 === null) !== (rtt.p90 === null)) fail('census.rtt', 'must have percentiles exactly when it has samples');
  if (rtt.p50 !== null && rtt.p90 !== null && rtt.p50 > rtt.p90) fail('census.rtt', 'must have p50 <= p90');
  const out: SurveyCensus = {
    nodes,
    answered,
    responseRate: share(c['responseRate'], 'census.responseRate'),
    withVersion,
    versions,
    otherVersions,
    bep51,
    bep42Share: share(c['bep42Share'], 'census.bep42Share'),
    rtt,
  };
  // Reserved for when the census measures them; kept only when present and well-formed.
  if (c['bep32Share'] !== undefined) out.bep32Share = share(c['bep32Share'], 'census.bep32Share');
  if (c['bep33Share'] !== undefined) out.bep33Share = share(c['bep33Share'], 'census.bep33Share');
  if (c['families'] !== undefined) out.families = familiesOf(obj(c['families'], 'census.families'), nodes, answered);
  return out;
}

/** census.families: each family's nodes and answered, adding up to the census's own. */
function familiesOf(f: Obj, nodes: number, answered: number): NonNullable<SurveyCensus['families']> {
  const family = (name: 'ipv4' | 'ipv6'): { nodes: number; answered: number } => {
    const o = obj(f[name], `census.families.${name}`);
    const counts = { nodes: count(o['nodes'], `census.families.${name}.nodes`), answered: count(o['answered'], `census.families.${name}.answered`) };
    if (counts.answered > counts.nodes) fail(`census.families.${name}.answered`, `must not exceed census.families.${name}.nodes`);
    return counts;
  };
  const out = { ipv4: family('ipv4'), ipv6: family('ipv6') };
  if (out.ipv4.nodes + out.ipv6.nodes !== nodes || out.ipv4.answered + out.ipv6.answered !== answered) fail('census.families', 'must add up to census.nodes and census.answered');
  return out;
}

function churnOf(c: Obj): SurveyChurn {
  const before = count(c['before'], 'churn.before');
  const after = count(c['after'], 'churn.after');
  const left = count(c['left'], 'churn.left');
  const joined = count(c['joined'], 'churn.joined');
  if (left > before || joined > after || before - left !== after - joined) fail('churn', 'must have before - left = after - joined (the nodes that stayed)');
  const out: SurveyChurn = { before, after, left, joined, leftShare: share(c['leftShare'], 'churn.leftShare'), joinedShare: share(c['joinedShare'], 'churn.joinedShare') };
  if (c['since'] !== undefined) {
    if (typeof c['since'] !== 'string' || !SURVEY_NAME_RE.test(c['since'])) fail('churn.since', 'must be a survey name');
    out.since = c['since'] as string;
  }
  if (c['sample'] !== undefined) {
    const sample = count(c['sample'], 'churn.sample');
    if (sample > MAX_CHURN_SAMPLE) fail('churn.sample', `must be at most ${MAX_CHURN_SAMPLE}`);
    out.sample = sample;
  }
  return out;
}

function sybilOf(e: Obj): Pick<SurveyEntry, 'sybilRegions' | 'sybilRegionsFound'> {
  const sybilRegions = nullable(e['sybilRegions'], (x) =>
    list(x, 'sybilRegions', MAX_SURVEY_SYBIL_REGIONS).map((raw, i): SurveySybilRegion => {
      const r = obj(raw, `sybilRegions[${i}]`);
      const p = `sybilRegions[${i}]`;
      const prefixBits = count(r['prefixBits'], `${p}.prefixBits`);
      if (prefixBits > 160) fail(`${p}.prefixBits`, 'must be at most 160');
      const nodes = count(r['nodes'], `${p}.nodes`);
      if (nodes < 1) fail(`${p}.nodes`, 'must be at least 1');
      return {
        prefix: text(r['prefix'], `${p}.prefix`, HEX_PREFIX_RE),
        prefixBits,
        startId: text(r['startId'], `${p}.startId`, HEX_ID_RE),
        endId: text(r['endId'], `${p}.endId`, HEX_ID_RE),
        nodes,
        expected: finite(r['expected'], `${p}.expected`, 0),
        log10PValue: finite(r['log10PValue'], `${p}.log10PValue`),
        distinctSlash24: nullable(r['distinctSlash24'], (x) => count(x, `${p}.distinctSlash24`)),
      };
    }),
  );
  const sybilRegionsFound = count(e['sybilRegionsFound'], 'sybilRegionsFound');
  if (sybilRegionsFound < (sybilRegions?.length ?? 0)) fail('sybilRegionsFound', 'must be at least the regions listed');
  return { sybilRegions, sybilRegionsFound };
}
