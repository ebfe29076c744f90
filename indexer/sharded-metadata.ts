import { Cluster } from 'ioredis';
import { type RedisClient } from '../redis/client.js';
import { LuaScript } from '../redis/lua-script.js';
import { checkInfohash, InfohashNotIndexedError, MetadataBlobError, MetadataInputError, MetadataStoreConflictError, SchemaMismatchError } from './errors.js';
import { decodeMetadataBlob, encodeMetadataBlob, metadataContent, storedMetadataOf } from './metadata-blob.js';
import { MAX_TOKENS_PER_NAME, SEARCH_POSTINGS_CAP, STORE_CONFLICT_RETRIES } from './metadata-constants.js';
import type { MetadataInput, StoredMetadata, StoreMetadataOptions, StoreResult, StoreStatus } from './metadata-store.js';
import { tokenizeName } from './search-tokens.js';
import { SHARDED_SCHEMA_VERSION, shardCap } from './sharded-apply.js';
import { type ShardedIndexKeys } from './sharded-keys.js';

/**
 * Schema 5's torrent metadata (indexer/SCHEMA.md, "Schema 5"): schema 4's storeMetadata,
 * getMetadata and metadataCount (metadata-store.ts) with the same semantics and result types,
 * over per-shard keys (sharded-keys.ts, "Torrent metadata (schema 5)"):
 *
 * - the metadata is one binary blob (metadata-blob.ts) in the bucket HASH `meta(bucket)`, the
 *   same bucket as the infohash's record, so a store touches one shard (one cluster slot);
 * - the record's flags say METADATA (set by a store) and FETCH_FAILED (set by a failure, cleared
 *   by a store); the shard's `counts` HASH counts blobs in field `metadata`, so the total is 64
 *   HGETs and no per-torrent registry is kept (schema 4's `metadata:fetched` ZSET is gone);
 * - the name's search postings are per shard, member the 20 bytes, capped at
 *   shardCap(postingsCap) (sharded-apply.ts: the global top N needs each shard's top N only
 *   while no shard holds more than 4 times its share of it);
 * - `unchanged` is byte equality with the stored blob (blobs are canonical), `stale` compares
 *   the blobs' fetch times.
 *
 * Retention (built separately) must remove a torrent's blob, fetch state, wait entry and
 * postings with its record, and decrement `metadata` in `counts` for each blob it removes.
 */

const storeScript = LuaScript.fromFile(new URL('./lua/shard-store-metadata.lua', import.meta.url));
const fieldsScript = LuaScript.fromFile(new URL('./lua/shard-fields.lua', import.meta.url));

export interface FieldRead {
  shard: number;
  key: string;
  field: Buffer;
}

/** Pairs per call on one Redis: keeps each script call short (other clients wait while it runs). */
const FIELDS_PER_CALL = 2_000;

/**
 * HGET for many (bucket, field) pairs, in order; null where there is none. One script call per
 * shard on a cluster (a call's keys must share a slot), all sent at once; on one Redis the pairs
 * of every shard together, FIELDS_PER_CALL at a time. For the 1,000 records of a search window
 * that took 3.4 ms, against 9.9 ms for 1,000 HGETs sent at once (bench/metadata-layout.ts).
 */
export async function readFields(redis: RedisClient, reads: readonly FieldRead[]): Promise<Array<Buffer | null>> {
  const out: Array<Buffer | null> = new Array<Buffer | null>(reads.length).fill(null);
  const groups: number[][] = [];
  if (redis instanceof Cluster) {
    const byShard = new Map<number, number[]>();
    reads.forEach((r, i) => {
      const g = byShard.get(r.shard);
      if (g === undefined) byShard.set(r.shard, [i]);
      else g.push(i);
    });
    groups.push(...byShard.values());
  } else {
    for (let i = 0; i < reads.length; i += FIELDS_PER_CALL) groups.push(Array.from({ length: Math.min(FIELDS_PER_CALL, reads.length - i) }, (_, k) => i + k));
  }
  await Promise.all(
    groups.map(async (g) => {
      const values = (await fieldsScript.runBuffer(redis, g.map((i) => reads[i]!.key), g.map((i) => reads[i]!.field))) as Buffer[];
      g.forEach((i, k) => {
        const v = values[k];
        out[i] = v === undefined || v.length === 0 ? null : v;
      });
    }),
  );
  return out;
}

/** The search tokens a stored blob's name is indexed under (none for a damaged value). */
export function tokensOfBlob(blob: Buffer): string[] {
  try {
    return tokenizeName(decodeMetadataBlob(blob).name, MAX_TOKENS_PER_NAME);
  } catch (err) {
    // Only a hand-edited value is not a blob. Its postings cannot be named; they leave the
    // lists as the cap trims them. The store still replaces the value.
    if (err instanceof MetadataBlobError) return [];
    throw err;
  }
}

/**
 * Stores `summary` (bep9's InfoSummary) as the metadata of `infohash` (40 lowercase hex) and
 * indexes its name, as storeMetadata does in schema 4: refuses another schema version
 * (SchemaMismatchError) and an infohash without a record (InfohashNotIndexedError), ignores an
 * older fetch (`stale`) and the same blob again (`unchanged`), clears the failed-fetch state.
 * The old name's posting lists come from the blob read first; if another writer replaced it
 * before the script ran, it reads again (MetadataStoreConflictError after
 * STORE_CONFLICT_RETRIES rounds). `postingsCap` is the global cap, as in schema 4; each shard
 * keeps shardCap(postingsCap).
 */
export async function storeShardedMetadata(
  redis: RedisClient,
  keys: ShardedIndexKeys,
  infohash: string,
  summary: MetadataInput,
  opts: StoreMetadataOptions,
): Promise<StoreResult> {
  const hex = checkInfohash(infohash);
  const content = metadataContent(summary, opts);
  const blob = encodeMetadataBlob(content);
  const tokens = tokenizeName(content.name, MAX_TOKENS_PER_NAME);
  const postingsCap = opts.postingsCap ?? SEARCH_POSTINGS_CAP;
  if (!Number.isSafeInteger(postingsCap) || postingsCap < 1) throw new MetadataInputError('postingsCap must be a positive integer');
  const { shard, bucket } = keys.locate(hex);
  const field = Buffer.from(hex, 'hex');
  const newKeys = tokens.map((t) => shard.postings(t));
  for (let attempt = 1; attempt <= STORE_CONFLICT_RETRIES; attempt++) {
    const old = await redis.hgetBuffer(shard.meta(bucket), field);
    const oldKeys = old === null ? [] : tokensOfBlob(old).map((t) => shard.postings(t));
    const scriptKeys = [shard.schemaVersion, shard.records(bucket), shard.meta(bucket), shard.fetch(bucket), shard.metadataWait, shard.counts, ...oldKeys, ...newKeys];
    const args = [String(SHARDED_SCHEMA_VERSION), field, hex, blob, old ?? '', String(shardCap(postingsCap)), String(oldKeys.length)];
    const [status, detail] = (await storeScript.run(redis, scriptKeys, args)) as [number, string];
    if (status === -1) throw new SchemaMismatchError(Number(detail), SHARDED_SCHEMA_VERSION);
    if (status === -2) throw new InfohashNotIndexedError(hex);
    if (status === -3) continue;
    return { status: status === 1 ? 'stored' : (detail as StoreStatus), tokens };
  }
  throw new MetadataStoreConflictError(hex, STORE_CONFLICT_RETRIES);
}

/** The metadata of `infohash`, or null when none was stored: one HGET, the display forms computed from the raw bytes. */
export async function getShardedMetadata(redis: RedisClient, keys: ShardedIndexKeys, infohash: string): Promise<StoredMetadata | null> {
  const hex = checkInfohash(infohash);
  const { shard, bucket } = keys.locate(hex);
  const blob = await redis.hgetBuffer(shard.meta(bucket), Buffer.from(hex, 'hex'));
  return blob === null ? null : storedMetadataOf(decodeMetadataBlob(blob));
}

/** How many infohashes have metadata (exact): the shards' counters summed. */
export async function shardedMetadataCount(redis: RedisClient, keys: ShardedIndexKeys): Promise<number> {
  const counts = await Promise.all(keys.shards.map((s) => redis.hget(s.counts, 'metadata')));
  return counts.reduce((n, c) => n + Number(c ?? 0), 0);
}
