import test from 'ava';
import { SURVEY_SYBIL_REGIONS, SURVEY_TOP_VERSIONS } from '../crawler/survey-summary.js';
import { IndexKeyTypeError, SchemaMismatchError, SurveyEntryError } from '../indexer/errors.js';
import { IndexKeys, SCHEMA_VERSION } from '../indexer/keys.js';
import {
  MAX_SURVEY_ENTRIES,
  MAX_SURVEY_ENTRY_BYTES,
  MAX_SURVEY_SYBIL_REGIONS,
  MAX_SURVEY_VERSIONS,
  parseSurveyMember,
  readSurveys,
  recordSurvey,
  type SurveyEntry,
} from '../indexer/survey-series.js';
import { useRedisCluster } from './helpers/redis-cluster.js';
import { randomPrefix, useRedisServer } from './helpers/redis.js';

/**
 * The survey series (indexer/survey-series.ts) on a real redis-server, and on a real 3-master
 * Redis Cluster: round trip, newest first, time ranges, the bound, entries that are not the
 * writer's skipped on read, and what the writer refuses.
 */

const redis = useRedisServer(test);
const T = Date.UTC(2026, 11, 6, 12, 0);
const ID = (c: string): string => c.repeat(40);

/** A full entry: 20 versions, 2 Sybil regions, churn, a size estimate. */
function entry(at: number, sweep = 1): SurveyEntry {
  return {
    at,
    source: { kind: 'run', sweep },
    size: { estimate: 1000 + sweep, low: 950, high: 1100 + sweep },
    census: {
      nodes: 1500,
      answered: 1200,
      responseRate: 0.8,
      withVersion: 1150,
      versions: Array.from({ length: 20 }, (_, i) => ({ client: i === 0 ? 'LT' : 'U' + String.fromCharCode(65 + i), version: i === 0 ? '2.0.8' : `${i}f0a`, count: 50, share: 50 / 1150 })),
      otherVersions: { versions: 3, count: 150, share: 150 / 1150 },
      bep51: { supported: 400, unsupported: 800, unknown: 300, share: 1 / 3 },
      bep42Share: 0.512,
      rtt: { samples: 1190, p50: 151, p90: 612 },
    },
    churn: { before: 1180, after: 1200, left: 30, joined: 50, leftShare: 30 / 1180, joinedShare: 50 / 1200 },
    sybilRegions: [
      { prefix: '5a3c0f', prefixBits: 24, startId: '5a3c0f' + '0'.repeat(34), endId: '5a3c0f' + 'f'.repeat(34), nodes: 64, expected: 0.0005, log10PValue: -212.7, distinctSlash24: 1 },
      { prefix: '', prefixBits: 2, startId: ID('3'), endId: ID('4'), nodes: 9, expected: 0.2, log10PValue: -11.5, distinctSlash24: null },
    ],
    sybilRegionsFound: 2,
  };
}

test('round trip: what is recorded reads back equal, newest first, with the total; limit and time range', async (t) => {
  const { c, keys } = await redis.freshIndex(t);
  t.deepEqual(await readSurveys(c, keys, { limit: 10 }), { entries: [], total: 0, skipped: 0 }, 'an index without surveys');
  // Recorded out of order (a measure from elsewhere lands late): the series is ordered by `at`.
  const times = [T + 3_000, T, T + 1_000, T + 2_000];
  for (const [i, at] of times.entries()) t.deepEqual(await recordSurvey(c, keys, entry(at, i + 1)), { kept: i + 1, trimmed: 0 });
  const all = await readSurveys(c, keys, { limit: 10 });
  t.is(all.total, 4);
  t.is(all.skipped, 0);
  t.deepEqual(
    all.entries.map((e) => e.at),
    [T + 3_000, T + 2_000, T + 1_000, T],
  );
  t.deepEqual(all.entries[0], entry(T + 3_000, 1), 'every field, lists and nulls included');
  t.deepEqual(all.entries[3], entry(T, 2));

  t.deepEqual((await readSurveys(c, keys, { limit: 2 })).entries.map((e) => e.at), [T + 3_000, T + 2_000]);
  t.deepEqual((await readSurveys(c, keys, { limit: 10, from: T + 1_000, to: T + 2_000 })).entries.map((e) => e.at), [T + 2_000, T + 1_000], 'inclusive range');
  t.deepEqual((await readSurveys(c, keys, { limit: 10, to: T + 999 })).entries.map((e) => e.at), [T]);
  t.deepEqual((await readSurveys(c, keys, { limit: 10, from: T + 2_001 })).entries.map((e) => e.at), [T + 3_000]);

  // Recording the same entry again (a retried write) adds nothing.
  t.deepEqual(await recordSurvey(c, keys, entry(T, 2)), { kept: 4, trimmed: 0 });
  // Other sources, nulls where nothing was measured, the reserved BEP 32/33 shares.
  const measured: SurveyEntry = { ...entry(T + 5_000), source: { kind: 'measure' }, size: null, churn: null, sybilRegions: null, sybilRegionsFound: 0 };
  // A shared survey: its churn is estimated against the shared survey before it, from a sample.
  const shared: SurveyEntry = { ...entry(T + 6_000), source: { kind: 'survey', name: 'night-1.eu' }, sybilRegions: [], sybilRegionsFound: 0 };
  shared.churn = { ...shared.churn!, since: 'night-0.eu', sample: 65_536 };
  shared.census = { ...shared.census, bep32Share: 0.25, bep33Share: 0 };
  // The census per address family (BEP 32), optional in format 1.
  const dual: SurveyEntry = { ...entry(T + 7_000), census: { ...entry(T).census, families: { ipv4: { nodes: 1100, answered: 900 }, ipv6: { nodes: 400, answered: 300 } } } };
  await recordSurvey(c, keys, measured);
  await recordSurvey(c, keys, shared);
  await recordSurvey(c, keys, dual);
  t.deepEqual((await readSurveys(c, keys, { limit: 3 })).entries, [dual, shared, measured]);

  // One key under the index's own tag, a sorted set scored by `at`, JSON members.
  t.is(keys.surveys, `{${keys.prefix}}:surveys`);
  t.is(await c.type(keys.surveys), 'zset');
  const [member, score] = await c.zrange(keys.surveys, '0', '0', 'WITHSCORES');
  t.is(Number(score), T);
  t.like(JSON.parse(member!), { f: 1, at: T, source: { kind: 'run', sweep: 2 } });
});

test(`the bound: at most maxEntries, the oldest go first (${MAX_SURVEY_ENTRIES} by default), an entry older than all kept is not kept`, async (t) => {
  const { c, keys } = await redis.freshIndex(t);
  for (let i = 0; i < 12; i++) {
    const r = await recordSurvey(c, keys, entry(T + i * 1000, i + 1), 5);
    t.deepEqual(r, { kept: Math.min(5, i + 1), trimmed: i + 1 > 5 ? 1 : 0 });
  }
  t.is(await c.zcard(keys.surveys), 5);
  t.deepEqual((await readSurveys(c, keys, { limit: 100 })).entries.map((e) => e.source), [12, 11, 10, 9, 8].map((sweep) => ({ kind: 'run', sweep })));
  t.deepEqual(await recordSurvey(c, keys, entry(T - 1, 99), 5), { kept: 5, trimmed: 1 });
  t.false((await readSurveys(c, keys, { limit: 100 })).entries.some((e) => e.at === T - 1));

  // The default bound, filled through the script in bulk (a pipeline of the same calls).
  const big = new IndexKeys(randomPrefix());
  await c.set(big.schemaVersion, String(SCHEMA_VERSION));
  const n = MAX_SURVEY_ENTRIES + 25;
  for (let from = 0; from < n; from += 500) await Promise.all(Array.from({ length: Math.min(500, n - from) }, (_, i) => recordSurvey(c, big, entry(T + from + i, from + i + 1))));
  t.is(await c.zcard(big.surveys), MAX_SURVEY_ENTRIES);
  const newest = await readSurveys(c, big, { limit: 1 });
  t.is(newest.total, MAX_SURVEY_ENTRIES);
  t.is(newest.entries[0]!.at, T + n - 1);
  t.is(Number((await c.zrange(big.surveys, '0', '0', 'WITHSCORES'))[1]), T + 25, 'the 25 oldest went');
  const bytes = Number(await c.call('MEMORY', 'USAGE', big.surveys, 'SAMPLES', '0'));
  t.log(`${MAX_SURVEY_ENTRIES} full entries take ${(bytes / 1e6).toFixed(1)} MB in Redis (${Math.round(bytes / MAX_SURVEY_ENTRIES)} B each)`);
  t.true(bytes < 40e6, `${bytes} bytes`);
});

test('what is not an entry this code wrote is skipped on read, counted, and never breaks the read', async (t) => {
  const { c, keys } = await redis.freshIndex(t);
  await recordSurvey(c, keys, entry(T, 1));
  await recordSurvey(c, keys, entry(T + 10, 2));
  const good = JSON.stringify({ f: 1, ...entry(T + 5, 3) });
  const bad = (change: (e: any) => void): string => {
    const e = JSON.parse(good);
    change(e);
    return JSON.stringify(e);
  };
  const corrupt: Array<[string, number]> = [
    ['not json {', T + 1],
    ['[]', T + 1],
    [good, T + 6], // a score that is not its `at`
    [bad((e) => (e.f = 2)), T + 5],
    [bad((e) => delete e.census), T + 5],
    [bad((e) => (e.census.responseRate = 1.5)), T + 5],
    [bad((e) => (e.census.answered = 99_999)), T + 5],
    [bad((e) => (e.census.bep51.unknown = 0)), T + 5],
    [bad((e) => (e.census.bep32Share = -0.1)), T + 5],
    [bad((e) => (e.census.families = { ipv4: { nodes: 1500, answered: 1200 }, ipv6: { nodes: 1, answered: 0 } })), T + 5],
    [bad((e) => (e.census.families = { ipv4: { nodes: 1000, answered: 1200 }, ipv6: { nodes: 500, answered: 0 } })), T + 5],
    [bad((e) => (e.census.families = { ipv4: { nodes: 1500, answered: 1200 } })), T + 5],
    [bad((e) => (e.census.versions[0].client = '<script>')), T + 5],
    [bad((e) => (e.census.versions[0].version = 'a\u202eb')), T + 5],
    [bad((e) => e.census.versions.push(...e.census.versions)), T + 5],
    [bad((e) => (e.census.rtt = { samples: 3, p50: null, p90: null })), T + 5],
    [bad((e) => (e.size.low = 2_000)), T + 5],
    [bad((e) => (e.size.estimate = 'many')), T + 5],
    [bad((e) => (e.churn.left = 2_000)), T + 5],
    [bad((e) => (e.churn.since = '{x}')), T + 5],
    [bad((e) => (e.churn.since = 7)), T + 5],
    [bad((e) => (e.churn.sample = 1.5)), T + 5],
    [bad((e) => (e.churn.sample = 10_000_000)), T + 5],
    [bad((e) => (e.source = { kind: 'run', sweep: 0 })), T + 5],
    [bad((e) => (e.source = { kind: 'survey', name: '{x}' })), T + 5],
    [bad((e) => (e.source = { kind: 'other' })), T + 5],
    [bad((e) => (e.sybilRegions[0].startId = 'zz')), T + 5],
    [bad((e) => (e.sybilRegions = Array(MAX_SURVEY_SYBIL_REGIONS + 1).fill(e.sybilRegions[0]))), T + 5],
    [bad((e) => (e.sybilRegionsFound = 1)), T + 5],
    [bad((e) => (e.at = -1)), -1],
    [JSON.stringify({ ...JSON.parse(good), pad: 'x'.repeat(MAX_SURVEY_ENTRY_BYTES) }), T + 5],
  ];
  for (const [member, score] of corrupt) await c.zadd(keys.surveys, score, member);
  // Each of them alone is refused by the member check the reader uses.
  for (const [member, score] of corrupt) t.is(parseSurveyMember(member, score), null, member.slice(0, 120));
  t.deepEqual(parseSurveyMember(good, T + 5), entry(T + 5, 3), 'the unchanged member is accepted');

  const read = await readSurveys(c, keys, { limit: 100 });
  t.is(read.skipped, corrupt.length);
  t.is(read.total, 2 + corrupt.length);
  t.deepEqual(
    read.entries.map((e) => e.at),
    [T + 10, T],
  );
  // Unknown fields are dropped, known ones kept.
  await c.zadd(keys.surveys, T + 20, JSON.stringify({ ...JSON.parse(good), at: T + 20, extra: { a: 1 }, census: { ...JSON.parse(good).census, more: 1 } }));
  const [newest] = (await readSurveys(c, keys, { limit: 1 })).entries;
  t.deepEqual(newest, { ...entry(T + 20, 3) });
});

test('the writer refuses what a reader would skip, another schema version and a key of another type; nothing is written', async (t) => {
  const { c, keys } = await redis.freshIndex(t);
  const refused: SurveyEntry[] = [
    { ...entry(T), at: 1.5 },
    { ...entry(T), census: { ...entry(T).census, answered: 2_000 } },
    { ...entry(T), census: { ...entry(T).census, versions: Array(MAX_SURVEY_VERSIONS + 1).fill(entry(T).census.versions[0]) } },
    { ...entry(T), size: { estimate: Number.POSITIVE_INFINITY, low: 1, high: 2 } },
    { ...entry(T), sybilRegionsFound: 1 },
  ];
  for (const e of refused) await t.throwsAsync(recordSurvey(c, keys, e), { instanceOf: SurveyEntryError });
  t.is(await c.exists(keys.surveys), 0);

  const old = new IndexKeys(randomPrefix());
  await c.set(old.schemaVersion, '4');
  await t.throwsAsync(recordSurvey(c, old, entry(T)), { instanceOf: SchemaMismatchError });
  const none = new IndexKeys(randomPrefix());
  await t.throwsAsync(recordSurvey(c, none, entry(T)), { instanceOf: SchemaMismatchError, message: /run "dhtscope migrate"/ });
  t.is(await c.exists(old.surveys, none.surveys), 0);

  await c.set(keys.surveys, 'something else');
  await t.throwsAsync(recordSurvey(c, keys, entry(T)), { instanceOf: IndexKeyTypeError, message: /is a string/ });
  await t.throwsAsync(readSurveys(c, keys, { limit: 1 }), { instanceOf: IndexKeyTypeError });
  t.is(await c.get(keys.surveys), 'something else');
  await t.throwsAsync(readSurveys(c, keys, { limit: 0 }), { instanceOf: RangeError });
  await t.throwsAsync(recordSurvey(c, keys, entry(T), 0), { instanceOf: RangeError });
});

test('the crawler keeps what the series accepts: the same bounds on both sides', (t) => {
  t.is(SURVEY_TOP_VERSIONS, MAX_SURVEY_VERSIONS);
  t.is(SURVEY_SYBIL_REGIONS, MAX_SURVEY_SYBIL_REGIONS);
  // The largest entry the bounds allow fits the byte bound.
  const widest = entry(T, 1);
  widest.census.versions = widest.census.versions.map((v) => ({ ...v, client: '?', version: 'f'.repeat(32) + '…', count: 123_456_789, share: 0.123457 }));
  widest.sybilRegions = Array.from({ length: MAX_SURVEY_SYBIL_REGIONS }, () => ({ ...entry(T).sybilRegions![0]!, prefix: 'f'.repeat(40), prefixBits: 160, expected: 1.2345678901234567e-12, log10PValue: -1234.5678901234567, distinctSlash24: 123_456 }));
  widest.sybilRegionsFound = 1_000;
  const bytes = Buffer.byteLength(JSON.stringify({ f: 1, ...widest }));
  t.true(bytes < MAX_SURVEY_ENTRY_BYTES, `${bytes} bytes`);
  t.log(`largest entry ${bytes} B, a typical one ${Buffer.byteLength(JSON.stringify({ f: 1, ...entry(T) }))} B`);
});

test('on a real 3-master Redis Cluster: one slot, the script runs, the bound holds, reads come back in order', async (t) => {
  const { client: c } = await useRedisCluster(t);
  const keys = new IndexKeys(randomPrefix());
  await c.set(keys.schemaVersion, String(SCHEMA_VERSION));
  t.is(Number(await c.call('CLUSTER', 'KEYSLOT', keys.surveys)), Number(await c.call('CLUSTER', 'KEYSLOT', keys.schemaVersion)));
  for (let i = 0; i < 7; i++) await recordSurvey(c, keys, entry(T + i, i + 1), 4);
  const read = await readSurveys(c, keys, { limit: 10 });
  t.is(read.total, 4);
  t.deepEqual(
    read.entries.map((e) => e.at),
    [T + 6, T + 5, T + 4, T + 3],
  );
  t.deepEqual(read.entries[0], entry(T + 6, 7));
  await c.set(keys.schemaVersion, String(SCHEMA_VERSION + 1));
  await t.throwsAsync(recordSurvey(c, keys, entry(T + 9)), { instanceOf: SchemaMismatchError, message: /newer than this dhtscope/ });
});
