import { decodeVersion } from '../../bep5/client-version.js';
import { type Cursor, encodeCursor } from '../../indexer/cursor.js';
import { type IndexKeys, METRICS } from '../../indexer/keys.js';
import { type RedisClient } from '../../redis/client.js';
import { type StoredMetadata } from '../../indexer/metadata-store.js';
import { type InfohashRecord, type InfohashSummary, type PeerSeen } from '../../indexer/queries.js';
import { getIndexedInfohash, indexedInfohashCount, indexedSummaries, pageIndexedPopular, pageIndexedRecent } from '../../indexer/indexed-reads.js';
import { type SearchHit } from '../../indexer/search.js';
import { ShardedIndexKeys } from '../../indexer/sharded-keys.js';
import { getShardedMetadata } from '../../indexer/sharded-metadata.js';
import { pageShardedPeers } from '../../indexer/sharded-pages.js';
import { shardedNodeCensus, shardedNodesPerDay, shardedStatsWindow, shardedTotals } from '../../indexer/sharded-queries.js';
import { searchSharded } from '../../indexer/sharded-search.js';
import { pageIndexedSeeders } from '../../indexer/swarm-estimates.js';
import { MAX_SURVEY_ENTRIES, readSurveys, type SurveyEntry } from '../../indexer/survey-series.js';
import { CENSUS_DAYS, RECORD_PEERS } from './constants.js';
import { ApiError } from './errors.js';
import { type ListSort, type SearchQuery } from './params.js';

/**
 * The response bodies of the API, built from the index. The HTTP routes and `dhtscope query
 * --json` both call these, so the two always print the same JSON for the same query. Each
 * takes already-validated parameters (params.ts) and throws ApiError for "not found".
 *
 * Times are milliseconds since the Unix epoch; days are UTC `YYYY-MM-DD`.
 */

export interface ViewContext {
  redis: RedisClient;
  keys: IndexKeys;
  /** The time the answer is for (live peers, the stats window, the census days). */
  now: number;
  /** Peers older than this are not live; must match the writers' IndexConfig.peerTtlMs. */
  peerTtlMs?: number;
}

/** The index's shards (schema 5) under the context's prefix. */
function sharded(ctx: ViewContext): ShardedIndexKeys {
  return ShardedIndexKeys.of(ctx.keys.prefix);
}

function notFound(infohash: string): ApiError {
  return new ApiError('ERR_INFOHASH_NOT_FOUND', `infohash ${infohash} is not in the index`);
}

export interface InfohashView extends InfohashRecord {
  /** The torrent's name, size and first files once fetched (sharded-metadata.ts), else null. */
  metadata: StoredMetadata | null;
}

/** `GET /api/infohashes/:ih`: the record with its RECORD_PEERS newest live peers, and its metadata. */
export async function infohashView(ctx: ViewContext, infohash: string): Promise<InfohashView> {
  const [record, metadata] = await Promise.all([
    getIndexedInfohash(ctx.redis, sharded(ctx), infohash, { now: ctx.now, peersLimit: RECORD_PEERS, ...peerTtl(ctx) }),
    getShardedMetadata(ctx.redis, sharded(ctx), infohash),
  ]);
  if (record === null) throw notFound(infohash);
  return { ...record, metadata };
}

export interface SearchView extends SearchQuery {
  /** Infohashes whose name has every token (the posting lists are capped: see SCHEMA.md). */
  total: number;
  offset: number;
  /** Best first: most live peers, then sightings, then last seen. */
  items: SearchHit[];
  /** The `offset` of the next page, or null when this is the last one that can be reached. */
  nextOffset: number | null;
}

/** `GET /api/search?q=&limit=&offset=`: torrent names with every word of `q`. */
export async function searchView(ctx: ViewContext, query: SearchQuery, page: { limit: number; offset: number }): Promise<SearchView> {
  const res = await searchSharded(ctx.redis, sharded(ctx), query.tokens, page);
  const end = page.offset + res.items.length;
  return { q: query.q, tokens: query.tokens, total: res.total, offset: page.offset, items: res.items, nextOffset: res.items.length > 0 && end < res.ranked ? end : null };
}

export interface PeersView {
  infohash: string;
  /** Live peers, most recently seen first. */
  peers: PeerSeen[];
  nextCursor: string | null;
}

/** `GET /api/infohashes/:ih/peers`: one page of the live peers. */
export async function peersView(ctx: ViewContext, infohash: string, page: { limit: number; cursor: Cursor | null }): Promise<PeersView> {
  const res = await pageShardedPeers(ctx.redis, sharded(ctx), infohash, { limit: page.limit, after: page.cursor, now: ctx.now, ...peerTtl(ctx) });
  if (res === null) throw notFound(infohash);
  return {
    infohash,
    peers: res.items.map(({ member, score }) => ({ address: member, lastSeen: score })),
    nextCursor: res.next === null ? null : encodeCursor({ kind: 'peers', ...res.next }),
  };
}

export interface InfohashListView {
  sort: ListSort;
  items: InfohashSummary[];
  nextCursor: string | null;
}

/** `GET /api/infohashes?sort=recent|popular`: one page of summaries. */
export async function infohashListView(ctx: ViewContext, page: { sort: ListSort; limit: number; cursor: Cursor | null }): Promise<InfohashListView> {
  const read = page.sort === 'recent' ? pageIndexedRecent : page.sort === 'seeders' ? pageIndexedSeeders : pageIndexedPopular;
  const res = await read(ctx.redis, sharded(ctx), { limit: page.limit, after: page.cursor });
  const items = await indexedSummaries(ctx.redis, sharded(ctx), res.items.map((i) => i.member));
  return { sort: page.sort, items, nextCursor: res.next === null ? null : encodeCursor({ kind: page.sort, ...res.next }) };
}

export type LiveStats = Record<string, unknown>;

export interface StatsView {
  /** Exact number of infohashes in the index. */
  infohashes: number;
  /** All-time totals per metric (every METRICS entry, 0 when never counted, plus any others kept). */
  totals: Record<string, number>;
  /** Per-minute values of every metric for the `minutes` minutes ending with the current one. */
  series: { from: number; to: number; stepMs: 60_000; minutes: number; metrics: Record<string, number[]> };
  /** Figures of the process serving the API (crawler, node, queues), or null when it has none. */
  live: LiveStats | null;
}

/** `GET /api/stats?minutes=N`. `live` is awaited alongside the index reads. */
export async function statsView(ctx: ViewContext, minutes: number, live: LiveStats | null | Promise<LiveStats | null> = null): Promise<StatsView> {
  // The window depends on the current minute only, so answers within a minute agree.
  const to = Math.floor(ctx.now / 60_000) * 60_000;
  const from = to - (minutes - 1) * 60_000;
  const [count, all, metrics, liveStats] = await Promise.all([
    indexedInfohashCount(ctx.redis, sharded(ctx)),
    shardedTotals(ctx.redis, sharded(ctx)),
    shardedStatsWindow(ctx.redis, sharded(ctx), METRICS, from, minutes),
    live,
  ]);
  const zeros = Object.fromEntries(METRICS.map((m) => [m, 0]));
  return { infohashes: count, totals: { ...zeros, ...all }, series: { from, to, stepMs: 60_000, minutes, metrics }, live: liveStats };
}

export interface CensusView {
  /** Distinct node IDs ever seen (HyperLogLog, ±0.81%). */
  nodes: number;
  bep51: { yes: number; no: number };
  bep42: { yes: number; no: number };
  /** Distinct node IDs seen at IPv4 / IPv6 addresses (schema 6 on; a dual-stack node counts in both). */
  families: { ipv4: number; ipv6: number };
  /** Per version label, most nodes first; `client`/`version` decoded when the label is a `v` value. */
  versions: Array<{ label: string; nodes: number; client: string | null; version: string | null }>;
  /** Distinct nodes per UTC day, oldest first, the last CENSUS_DAYS days (today included). */
  perDay: Array<{ day: string; nodes: number }>;
}

const SPECIAL_LABELS = new Set(['none', 'other', 'invalid']);

/** `GET /api/nodes/census`. */
export async function censusView(ctx: ViewContext): Promise<CensusView> {
  const [census, days] = await Promise.all([
    shardedNodeCensus(ctx.redis, sharded(ctx)),
    shardedNodesPerDay(ctx.redis, sharded(ctx), ctx.now - (CENSUS_DAYS - 1) * 86_400_000, ctx.now),
  ]);
  return {
    nodes: census.nodes,
    bep51: census.bep51,
    bep42: census.bep42,
    families: census.families,
    versions: census.versions.map(({ label, nodes }) => ({ label, nodes, ...(SPECIAL_LABELS.has(label) ? { client: null, version: null } : decodeVersion(label)) })),
    perDay: days.map(({ day, nodes }) => ({ day: `${day.slice(0, 4)}-${day.slice(4, 6)}-${day.slice(6, 8)}`, nodes })),
  };
}

export interface SurveysView {
  /** Newest first: at most `limit`, within [from, to] when given. */
  surveys: SurveyEntry[];
  /** Entries stored in all (the series keeps the newest `capacity`). */
  total: number;
  capacity: number;
  /** Stored entries read but left out as malformed (indexer/survey-series.ts checks every one). */
  skipped: number;
}

/** `GET /api/surveys?limit=&from=&to=`: the survey series (size estimate, census, churn, Sybil regions per survey). */
export async function surveysView(ctx: ViewContext, page: { limit: number; from?: number; to?: number }): Promise<SurveysView> {
  const read = await readSurveys(ctx.redis, ctx.keys, page);
  return { surveys: read.entries, total: read.total, capacity: MAX_SURVEY_ENTRIES, skipped: read.skipped };
}

function peerTtl(ctx: ViewContext): { peerTtlMs?: number } {
  return ctx.peerTtlMs === undefined ? {} : { peerTtlMs: ctx.peerTtlMs };
}
