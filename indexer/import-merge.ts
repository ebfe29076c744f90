import { createHash } from 'node:crypto';
import { Cluster } from 'ioredis';
import { type RedisClient } from '../redis/client.js';
import { LuaScript } from '../redis/lua-script.js';
import { MetadataStoreConflictError, SchemaMismatchError } from './errors.js';
import { type ImportRow } from './import-parse.js';
import { DEFAULT_INDEX_CONFIG } from './index-config.js';
import { SOURCE_BITS, estimateSources } from './infohash-record.js';
import { SEARCH_POSTINGS_CAP, STORE_CONFLICT_RETRIES } from './metadata-constants.js';
import { SHARDED_SCHEMA_VERSION, shardCap } from './sharded-apply.js';
import { type ShardKeys, type ShardedIndexKeys } from './sharded-keys.js';
import { readFields, tokensOfBlob } from './sharded-metadata.js';

/**
 * The write side of `dhtscope import` (cli/commands/import.ts): checked rows (import-parse.ts)
 * merged into the index, one script per shard a chunk touches (lua/import-shard.lua; its keys
 * all carry the shard's tag, so it runs on Redis Cluster as on one Redis), which checks the
 * shard's schema version first. Rules (indexer/SCHEMA.md, "Export and import"):
 *
 * - first seen the earliest, last seen the latest;
 * - sightings the larger of the two, not the sum: a file imported twice, or an export of this
 *   index imported back, must not count the same sightings again;
 * - sources: the larger count of the two. The file has a count, not the addresses, so the
 *   record's bitmap keeps its bits and gets the lowest free ones until it reads the imported
 *   count (an export imported into an empty index reads back the same counts);
 * - metadata replaces the stored one only when fetched later (by its fetch time), or fills a
 *   record without any; an equal time keeps the stored one;
 * - no peers, scrape estimates or statistics.
 *
 * Like a metadata store, a script replacing a blob declares the old name's posting lists,
 * read before; an entry whose blob changed in between is read again and retried.
 */

const importScript = LuaScript.fromFile(new URL('./lua/import-shard.lua', import.meta.url));

export interface MergeCounts {
  /** Rows that made a new record. */
  created: number;
  /** Rows merged into an existing record that changed it. */
  changed: number;
  /** Rows merged into an existing record that already said as much. */
  unchanged: number;
  /** Metadata written (new, or fetched later than the stored one). */
  metadataStored: number;
  /** Metadata not written: the index's was fetched as late or later. */
  metadataKept: number;
}

export const emptyCounts = (): MergeCounts => ({ created: 0, changed: 0, unchanged: 0, metadataStored: 0, metadataKept: 0 });

/**
 * How many of the record's 32 source bits must be set for linear counting (infohash-record.ts
 * estimateSources, which reads only how many are set) to read at least `count`: the smallest
 * such, so that an exported count (always a value the estimator gives) reads back the same.
 */
export function sourceBitCount(count: number): number {
  let k = 0;
  while (k < SOURCE_BITS && estimateSources(k === 0 ? 0 : (2 ** k - 1) >>> 0) < count) k++;
  return k;
}

interface Pending {
  row: ImportRow;
  /** sha1 of the stored blob as read ('' for none), and its name's tokens. */
  old: { digest: string; tokens: string[] };
  tokens: string[];
  /** Retried after a metadata conflict: its record was merged (and counted) already. */
  retry: boolean;
}

/** Merges `rows` (any number; callers send chunks of a few hundred) and adds what happened to `counts`. */
export async function mergeImport(redis: RedisClient, keys: ShardedIndexKeys, rows: readonly ImportRow[], counts: MergeCounts): Promise<void> {
  let pending: Pending[] = rows.map((row) => ({ row, old: { digest: '', tokens: [] }, tokens: row.metadata === null ? [] : tokensOfBlob(row.metadata), retry: false }));
  for (let round = 1; pending.length > 0; round++) {
    if (round > STORE_CONFLICT_RETRIES) throw new MetadataStoreConflictError(pending[0]!.row.infohash, STORE_CONFLICT_RETRIES);
    await readStored(redis, keys, pending);
    const byShard = new Map<ShardKeys, Pending[]>();
    for (const p of pending) {
      const { shard } = keys.locate(p.row.infohash);
      const list = byShard.get(shard);
      if (list === undefined) byShard.set(shard, [p]);
      else list.push(p);
    }
    const conflicts: Pending[] = [];
    const run = async ([shard, list]: [ShardKeys, Pending[]]): Promise<void> => {
      const codes = await runShard(redis, keys, shard, list);
      codes.forEach((code, i) => {
        const p = list[i]!;
        const record = Math.floor(code / 4);
        const meta = code % 4;
        if (!p.retry) {
          if (record === 0) counts.created++;
          else if (record === 1) counts.changed++;
          else counts.unchanged++;
        }
        if (meta === 1) counts.metadataStored++;
        else if (meta === 2) counts.metadataKept++;
        else if (meta === 3) conflicts.push({ ...p, retry: true });
      });
    };
    // On a cluster the shards' scripts go to their masters at once; on one Redis one after another keeps each call short for other clients.
    if (redis instanceof Cluster) await Promise.all([...byShard].map(run));
    else for (const entry of byShard) await run(entry);
    pending = conflicts;
  }
}

/** The stored blob of each row that brings metadata: its digest and its name's tokens (the posting lists the script must declare). */
async function readStored(redis: RedisClient, keys: ShardedIndexKeys, pending: Pending[]): Promise<void> {
  const withMeta = pending.filter((p) => p.row.metadata !== null);
  if (withMeta.length === 0) return;
  const blobs = await readFields(
    redis,
    withMeta.map((p) => {
      const { shard, bucket } = keys.locate(p.row.infohash);
      return { shard: shard.shard, key: shard.meta(bucket), field: Buffer.from(p.row.infohash, 'hex') };
    }),
  );
  withMeta.forEach((p, i) => {
    const blob = blobs[i] ?? null;
    p.old = blob === null ? { digest: '', tokens: [] } : { digest: createHash('sha1').update(blob).digest('hex'), tokens: tokensOfBlob(blob) };
  });
}

async function runShard(redis: RedisClient, keys: ShardedIndexKeys, shard: ShardKeys, list: readonly Pending[]): Promise<number[]> {
  const scriptKeys = [shard.schemaVersion, shard.counts, shard.recent, shard.lastSeenHours, shard.metadataWait];
  const index = new Map<string, number>(scriptKeys.map((k, i) => [k, i + 1]));
  const add = (key: string): number => {
    let i = index.get(key);
    if (i === undefined) index.set(key, (i = scriptKeys.push(key)));
    return i;
  };
  const blobs: Buffer[] = [];
  const ih = list.map(({ row, old, tokens }) => {
    const { bucket } = keys.locate(row.infohash);
    const entry: Record<string, unknown> = {
      k: add(shard.records(bucket)),
      h: row.infohash,
      f: String(row.firstSeen),
      l: String(row.lastSeen),
      n: row.seen,
      s: sourceBitCount(row.sources),
    };
    if (row.metadata !== null) {
      entry['m'] = {
        k: add(shard.meta(bucket)),
        x: add(shard.fetch(bucket)),
        b: blobs.push(row.metadata) + 1,
        o: old.digest,
        t: old.tokens.map((t) => add(shard.postings(t))),
        u: tokens.map((t) => add(shard.postings(t))),
      };
    }
    return entry;
  });
  const plan = { v: String(SHARDED_SCHEMA_VERSION), caps: { recent: shardCap(DEFAULT_INDEX_CONFIG.recentCap), postings: shardCap(SEARCH_POSTINGS_CAP) }, ih };
  const out = (await importScript.run(redis, scriptKeys, [JSON.stringify(plan), ...blobs])) as number[] | [number, string];
  if (out[0] === -1) throw new SchemaMismatchError(Number(out[1]), SHARDED_SCHEMA_VERSION);
  return out as number[];
}
