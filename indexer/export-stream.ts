import { isCanonicalHexId } from '../bep5/node-id.js';
import { type RedisClient } from '../redis/client.js';
import { type CursorPosition } from './cursor.js';
import { InfohashRecordError, MetadataBlobError } from './errors.js';
import { type ExportRow } from './export-format.js';
import { indexedSummaries } from './indexed-reads.js';
import { type InfohashRecord as StoredRecord, RECORD_FLAG, decodeRecord } from './infohash-record.js';
import { decodeMetadataBlob, storedMetadataOf } from './metadata-blob.js';
import { getMetadata, type StoredMetadata } from './metadata-store.js';
import { type InfohashSummary, pageSortedSet } from './queries.js';
import { BUCKET_BITS, SHARD_BITS } from './shard.js';
import { type FieldRead, readFields } from './sharded-metadata.js';
import { type ShardKeys, type ShardedIndexKeys } from './sharded-keys.js';

/**
 * The walk behind `dhtscope export` (cli/commands/export.ts; the line format is export-format.ts):
 * every infohash of the index once, in chunks, so that memory does not grow with the index.
 *
 * - **Schema 5.** Shard by shard, a run of neighbouring buckets at a time: one pipeline of
 *   HSCANs over their record hashes (one slot, so one pipeline on Redis Cluster too), each bucket
 *   read to its end before the run is emitted. Buckets are the infohash's leading bits, so a run
 *   sorted by infohash keeps the whole export sorted by infohash. A run is sized to about
 *   TARGET_ROWS records (buckets hold 8 records each at 1 M infohashes, 76 at 10 M).
 * - **What a row shows** comes from `indexedSummaries` (indexed-reads.ts), the reader the API's
 *   lists use, so the export shows what they show, scrape estimates included; the metadata from
 *   the record's bucket (one script call per run, readFields).
 * - **During migration 005's move** (schema 4's registry `ihs` still exists) schema 4's registry
 *   is walked first, then the shards. A schema-4 infohash that has a schema-5 record is left to
 *   the shards' walk, where indexedSummaries merges both. Nothing is missed: an infohash the mover
 *   takes before the registry walk reaches it is in the shards by then, and records are never
 *   removed but by retention. One that the mover takes after the registry walk wrote it can show
 *   up again in the shards' walk, with the same times and sightings (the move recounts sources
 *   and live peers; import merges the two lines into one record); `movedDuring` says whether the
 *   mover ran, so the caller can say so. The registry is paged by its score (last seen, fixed
 *   since schema 4's writers stopped), so unlike ZSCAN no member comes back twice.
 */

/** Records a chunk aims at: a few MB of rows in flight, few enough round trips (~500 at 1 M). */
export const TARGET_ROWS = 2_000;
const BUCKETS_PER_SHARD = 1 << (BUCKET_BITS - SHARD_BITS);
const HSCAN_COUNT = 1_000;
const LEGACY_PAGE = 1_000;

export interface ExportOptions {
  /** Only infohashes last seen at or after this time (ms). */
  since?: number;
  /** Stops after the chunk under way (a reader that went away). */
  signal?: AbortSignal;
  targetRows?: number;
}

export interface ExportStats {
  rows: number;
  /** Records or metadata blobs that do not decode (hand-edited values): left out, counted. */
  damaged: number;
  /** Whether migration 005's move was under way at the start. */
  moving: boolean;
  /** Schema-4 infohashes the mover took during the export (see the module comment). */
  movedDuring: number;
}

/**
 * Calls `emit` with every infohash's row, a chunk at a time; the walk waits for each call (the
 * writer's backpressure), so at most one chunk is held.
 */
export async function exportIndex(redis: RedisClient, keys: ShardedIndexKeys, opts: ExportOptions, emit: (rows: ExportRow[]) => Promise<void>): Promise<ExportStats> {
  const stats: ExportStats = { rows: 0, damaged: 0, moving: false, movedDuring: 0 };
  const legacyBefore = await redis.zcard(keys.legacy.infohashes);
  stats.moving = legacyBefore > 0;
  const out = async (rows: ExportRow[]): Promise<void> => {
    if (rows.length === 0) return;
    stats.rows += rows.length;
    await emit(rows);
  };
  if (stats.moving) await walkLegacy(redis, keys, opts, out);
  for (const shard of keys.shards) {
    if (opts.signal?.aborted) break;
    // Every writer counts the records it creates (and retention the ones it removes): a shard
    // with none costs one HGET instead of 2,048 HSCANs.
    if (Number((await redis.hget(shard.counts, 'infohashes')) ?? 0) <= 0) continue;
    await walkShard(redis, keys, shard, opts, stats, out);
  }
  if (stats.moving) stats.movedDuring = legacyBefore - (await redis.zcard(keys.legacy.infohashes));
  return stats;
}

const keep = (s: InfohashSummary, since: number | undefined): boolean => s.lastSeen > 0 && (since === undefined || s.lastSeen >= since);

function rowOf(s: InfohashSummary, metadata: StoredMetadata | null): ExportRow {
  return { infohash: s.infohash, firstSeen: s.firstSeen, lastSeen: s.lastSeen, seen: s.seen, sources: s.sources, peers: s.peerCount, swarm: s.swarm, metadata };
}

async function walkLegacy(redis: RedisClient, keys: ShardedIndexKeys, opts: ExportOptions, out: (rows: ExportRow[]) => Promise<void>): Promise<void> {
  let after: CursorPosition | null = null;
  do {
    if (opts.signal?.aborted) return;
    const page = await pageSortedSet(redis, keys.legacy.infohashes, { limit: LEGACY_PAGE, after, ...(opts.since === undefined ? {} : { scoreAbove: opts.since - 1 }) });
    after = page.next;
    const hexes = page.items.map((x) => x.member).filter((h) => isCanonicalHexId(h));
    const inShards = await Promise.all(hexes.map((h) => redis.hexists(recordKey(keys, h), Buffer.from(h, 'hex'))));
    const summaries = (await indexedSummaries(redis, keys, hexes.filter((_, i) => inShards[i] === 0))).filter((s) => keep(s, opts.since));
    const metadata = await Promise.all(summaries.map((s) => getMetadata(redis, keys.legacy, s.infohash)));
    await out(summaries.map((s, i) => rowOf(s, metadata[i]!)));
  } while (after !== null);
}

function recordKey(keys: ShardedIndexKeys, hex: string): string {
  const { shard, bucket } = keys.locate(hex);
  return shard.records(bucket);
}

interface Found {
  hex: string;
  field: Buffer;
  bucket: number;
  record: StoredRecord;
}

async function walkShard(redis: RedisClient, keys: ShardedIndexKeys, shard: ShardKeys, opts: ExportOptions, stats: ExportStats, out: (rows: ExportRow[]) => Promise<void>): Promise<void> {
  const target = opts.targetRows ?? TARGET_ROWS;
  const end = (shard.shard + 1) * BUCKETS_PER_SHARD;
  let run = 64;
  for (let bucket = shard.shard * BUCKETS_PER_SHARD; bucket < end; ) {
    if (opts.signal?.aborted) return;
    const n = Math.min(run, end - bucket);
    const found = await scanBuckets(redis, shard, bucket, n, stats);
    bucket += n;
    // The next run's length from this one's density, within bounds: buckets fill evenly.
    run = Math.max(1, Math.min(BUCKETS_PER_SHARD, Math.round((n * target) / Math.max(found.length, target / 64))));
    found.sort((a, b) => (a.hex < b.hex ? -1 : a.hex > b.hex ? 1 : 0));
    // Without a move, the record's last seen is the row's: filter before reading anything more.
    const wanted = stats.moving || opts.since === undefined ? found : found.filter((f) => f.record.lastSeen >= opts.since!);
    if (wanted.length === 0) continue;
    const summaries = await indexedSummaries(redis, keys, wanted.map((f) => f.hex));
    const rows: Array<{ f: Found; s: InfohashSummary }> = [];
    summaries.forEach((s, i) => {
      if (keep(s, opts.since)) rows.push({ f: wanted[i]!, s });
    });
    const metadata = await metadataOf(redis, keys, shard, rows.map((r) => r.f), stats);
    await out(rows.map((r, i) => rowOf(r.s, metadata[i]!)));
  }
}

/** Every record of `count` buckets from `first`, each bucket read to its end. */
async function scanBuckets(redis: RedisClient, shard: ShardKeys, first: number, count: number, stats: ExportStats): Promise<Found[]> {
  const found: Found[] = [];
  let pending = Array.from({ length: count }, (_, i) => ({ bucket: first + i, cursor: '0', seen: null as Map<string, Buffer> | null }));
  const done: Array<{ bucket: number; fields: Map<string, Buffer> | Buffer[] }> = [];
  while (pending.length > 0) {
    const p = redis.pipeline();
    for (const b of pending) p.hscanBuffer(shard.records(b.bucket), b.cursor, 'COUNT', HSCAN_COUNT);
    const replies = (await p.exec()) ?? [];
    const next: typeof pending = [];
    pending.forEach((b, i) => {
      const [err, reply] = replies[i]!;
      if (err) throw err;
      const [cursor, flat] = reply as [Buffer, Buffer[]];
      const c = cursor.toString();
      if (c === '0' && b.seen === null) {
        // The whole bucket in one reply (a listpack always comes whole): nothing to deduplicate.
        done.push({ bucket: b.bucket, fields: flat });
        return;
      }
      // A bucket too large for a listpack is read in steps, and HSCAN may repeat a field then.
      const seen = b.seen ?? new Map<string, Buffer>();
      for (let j = 0; j + 1 < flat.length; j += 2) seen.set(flat[j]!.toString('hex'), flat[j + 1]!);
      if (c === '0') done.push({ bucket: b.bucket, fields: seen });
      else next.push({ bucket: b.bucket, cursor: c, seen });
    });
    pending = next;
  }
  for (const { bucket, fields } of done) {
    const pairs: Array<[Buffer, Buffer]> = [];
    if (fields instanceof Map) for (const [hex, value] of fields) pairs.push([Buffer.from(hex, 'hex'), value]);
    else for (let j = 0; j + 1 < fields.length; j += 2) pairs.push([fields[j]!, fields[j + 1]!]);
    for (const [field, value] of pairs) {
      if (field.length !== 20) {
        stats.damaged++;
        continue;
      }
      try {
        found.push({ hex: field.toString('hex'), field, bucket, record: decodeRecord(value) });
      } catch (err) {
        if (!(err instanceof InfohashRecordError)) throw err;
        stats.damaged++;
      }
    }
  }
  return found;
}

/** The metadata of each record: its blob when the record says it has one; during a move, else schema 4's. */
async function metadataOf(redis: RedisClient, keys: ShardedIndexKeys, shard: ShardKeys, found: readonly Found[], stats: ExportStats): Promise<Array<StoredMetadata | null>> {
  const reads: FieldRead[] = [];
  const at: number[] = [];
  found.forEach((f, i) => {
    if ((f.record.flags & RECORD_FLAG.METADATA) === 0) return;
    reads.push({ shard: shard.shard, key: shard.meta(f.bucket), field: f.field });
    at.push(i);
  });
  const out: Array<StoredMetadata | null> = found.map(() => null);
  const blobs = reads.length === 0 ? [] : await readFields(redis, reads);
  blobs.forEach((blob, k) => {
    if (blob === null) return;
    try {
      out[at[k]!] = storedMetadataOf(decodeMetadataBlob(blob));
    } catch (err) {
      if (!(err instanceof MetadataBlobError)) throw err;
      stats.damaged++;
    }
  });
  if (stats.moving) {
    const missing = found.map((_, i) => i).filter((i) => out[i] === null);
    const legacy = await Promise.all(missing.map((i) => getMetadata(redis, keys.legacy, found[i]!.hex)));
    missing.forEach((i, k) => (out[i] = legacy[k]!));
  }
  return out;
}
