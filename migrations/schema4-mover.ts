import { Cluster } from 'ioredis';
import { isCanonicalHexId } from '../bep5/node-id.js';
import { type IndexConfig, resolveConfig } from '../indexer/index-config.js';
import { RECORD_FLAG, SOURCE_BITS } from '../indexer/infohash-record.js';
import { type IndexKeys } from '../indexer/keys.js';
import { compactPeer } from '../indexer/peer-pack.js';
import { HOUR_MS, SHARDED_SCHEMA_VERSION, hourOf, shardCap } from '../indexer/sharded-apply.js';
import { type ShardKeys, type ShardedIndexKeys } from '../indexer/sharded-keys.js';
import { MetadataBlobError, SchemaMismatchError } from '../indexer/errors.js';
import { encodeMetadataBlob } from '../indexer/metadata-blob.js';
import { DEFAULT_RETRY_POLICY, SEARCH_POSTINGS_CAP } from '../indexer/metadata-constants.js';
import { encodeFetchState } from '../indexer/sharded-fetch-state.js';
import { tokensOfBlob } from '../indexer/sharded-metadata.js';
import { type RedisClient } from '../redis/client.js';
import { LuaScript } from '../redis/lua-script.js';
import { MigrationLockLostError } from './errors.js';

/**
 * Migration 005's data mover: moves schema-4 infohashes (one `{P}` slot: a HASH, a HyperLogLog,
 * a ZSET and their metadata and fetch state each) into schema 5's shards (indexer/SCHEMA.md, "Schema 5"), online: writers
 * write schema 5 from the start of the migration, and an infohash they write before it is moved
 * ends up as the merge of both.
 *
 * - **The cursor is the registry.** A chunk is the first CHUNK members of schema 4's `ihs`;
 *   moving a chunk ends by removing its infohashes from `ihs`, so what is left in `ihs` is what
 *   is left to do, and a mover that crashed resumes by starting again.
 * - **Exactly once per infohash.** A chunk is a script per shard (merge into the records, as a
 *   batch merges) and then one script in the `{P}` slot that drops the schema-4 keys: on a
 *   cluster they cannot be one atomic script. The shard script sets the record flag MIGRATED,
 *   and skips a record that has it; so a chunk redone after a crash between the two steps
 *   merges nothing twice. (The flag stays; it costs no byte.)
 * - **Metadata.** A torrent's schema-4 hash becomes a schema-5 blob (the raw bytes it kept; the
 *   display forms are computed again on read and come out the same) with its name's postings;
 *   a failed fetch's hash becomes schema 5's packed state with its wait entry. A blob or state
 *   schema 5's fetcher wrote meanwhile is newer and stays.
 * - **Sources.** Schema 4 kept a HyperLogLog of the reporting nodes' addresses; the addresses
 *   cannot be read back, so the record gets as many bits as linear counting needs to read the
 *   same count (infohash-record.ts); later reports OR their own bits in.
 */

/** Infohashes per chunk: their schema-4 keys are read in one pipeline and dropped in one script. */
export const MOVE_CHUNK = 200;

const moveShardScript = LuaScript.fromFile(new URL('./lua/005-move-shard.lua', import.meta.url));
const dropMovedScript = LuaScript.fromFile(new URL('./lua/005-drop-moved.lua', import.meta.url));

export interface MoveOptions {
  legacy: IndexKeys;
  keys: ShardedIndexKeys;
  /** The migration lock (runner.ts): the drop script is fenced by it. */
  lock: { key: string; token: string };
  assertLock?: () => void;
  config?: Partial<IndexConfig>;
  chunk?: number;
  now?: () => number;
  /** Stops after the chunk under way; the next run resumes. */
  signal?: AbortSignal;
  onChunk?: (progress: { moved: number; remaining: number }) => void;
}

export interface MoveResult {
  /** Infohashes moved (merged into schema 5 and dropped from schema 4) by this run. */
  moved: number;
  /** Registry members without a schema-4 hash (or not an infohash): dropped, nothing to move. */
  empty: number;
  /** Infohashes still in schema 4 (0 when done). */
  remaining: number;
}

/** The bits a record needs for linear counting to read `count` sources: the lowest k of 32. */
export function sourceBitsFor(count: number): number {
  if (!(count > 0)) return 0;
  const k = Math.min(SOURCE_BITS, Math.round(SOURCE_BITS * (1 - Math.exp(-count / SOURCE_BITS))) || 1);
  return k >= 32 ? 0xffffffff : ((1 << k) - 1) >>> 0;
}

interface Legacy {
  hex: string;
  hash: Record<string, string>;
  sources: number;
  peers: Array<[string, number]>;
  meta: Record<string, string>;
  fetch: Record<string, string>;
  wait: string | null;
}

/** Schema 4's metadata hash as a schema-5 blob; null when there is none or it does not make one (a hand edit). */
export function blobOfLegacyMetadata(h: Readonly<Record<string, string>>): Buffer | null {
  if (h['fetchedAt'] === undefined) return null;
  try {
    const files = JSON.parse(h['files'] ?? '[]') as Array<[string, string[], number, number]>;
    return encodeMetadataBlob({
      fetchedAt: Number(h['fetchedAt']),
      peer: h['peer'] ?? '',
      name: Buffer.from(h['name'] ?? '', 'base64'),
      nameTruncated: h['nameTruncated'] === '1',
      totalSize: Number(h['totalSize'] ?? 0),
      pieceLength: Number(h['pieceLength'] ?? 0),
      pieceCount: Number(h['pieceCount'] ?? 0),
      fileCount: Number(h['fileCount'] ?? 0),
      singleFile: h['singleFile'] === '1',
      private: h['private'] === '1',
      metaVersion: Number(h['metaVersion'] ?? 1),
      files: files.map(([, raw, size, truncated]) => ({ path: raw.map((e) => Buffer.from(e, 'base64')), size, truncated: truncated === 1 })),
    });
  } catch (err) {
    if (err instanceof SyntaxError || err instanceof TypeError || err instanceof MetadataBlobError) return null;
    throw err;
  }
}

/** Schema 4's fetch-state hash as schema 5's packed state; null when there is none or it is damaged. */
export function stateOfLegacyFetch(h: Readonly<Record<string, string>>, retainMs: number): Buffer | null {
  if (h['attempts'] === undefined) return null;
  const n = (f: string): number => Number(h[f] ?? 0);
  try {
    return encodeFetchState({
      attempts: n('attempts'),
      firstFailedAt: n('firstFailedAt'),
      lastAttemptAt: n('lastAttemptAt'),
      nextAttemptAt: n('nextAttemptAt'),
      expiresAt: n('nextAttemptAt') + retainMs,
      gaveUp: h['gaveUp'] === '1',
      lastError: h['lastError'] ?? 'ERR_METADATA_FETCH_FAILED',
    });
  } catch (err) {
    if (err instanceof MetadataBlobError) return null;
    throw err;
  }
}

async function readChunk(redis: RedisClient, legacy: IndexKeys, hexes: readonly string[]): Promise<Legacy[]> {
  const p = redis.pipeline();
  for (const hex of hexes) {
    p.hgetall(legacy.infohash(hex));
    p.pfcount(legacy.infohashSources(hex));
    p.zrange(legacy.infohashPeers(hex), '0', '-1', 'WITHSCORES');
    p.hgetall(legacy.infohashMetadata(hex));
    p.hgetall(legacy.infohashFetch(hex));
    p.zscore(legacy.metadataWait, hex);
  }
  const replies = (await p.exec()) ?? [];
  for (const [err] of replies) if (err) throw err;
  const PER = 6;
  return hexes.map((hex, i) => {
    const at = (k: number): unknown => replies[i * PER + k]![1];
    const flat = at(2) as string[];
    const peers: Array<[string, number]> = [];
    for (let j = 0; j + 1 < flat.length; j += 2) peers.push([flat[j]!, Number(flat[j + 1])]);
    return {
      hex,
      hash: at(0) as Record<string, string>,
      sources: Number(at(1)),
      peers,
      meta: at(3) as Record<string, string>,
      fetch: at(4) as Record<string, string>,
      wait: at(5) as string | null,
    };
  });
}

/** Moves everything (or until the signal), chunk by chunk (see the module comment). */
export async function moveSchema4(redis: RedisClient, opts: MoveOptions): Promise<MoveResult> {
  const config = resolveConfig(opts.config);
  const chunk = opts.chunk ?? MOVE_CHUNK;
  const now = opts.now ?? Date.now;
  const { legacy, keys } = opts;
  const result: MoveResult = { moved: 0, empty: 0, remaining: 0 };
  for (;;) {
    opts.assertLock?.();
    if (opts.signal?.aborted) break;
    const hexes = await redis.zrange(legacy.infohashes, '0', String(chunk - 1));
    if (hexes.length === 0) break;
    const valid = hexes.filter((h) => isCanonicalHexId(h));
    const read = await readChunk(redis, legacy, valid);
    const moving = read.filter((l) => l.hash['last'] !== undefined);
    await mergeIntoShards(redis, keys, moving, config, now());
    // Dropped: the moved ones, and registry members with nothing to move.
    const drop = [...read.map((l) => l.hex), ...hexes.filter((h) => !isCanonicalHexId(h))];
    const dropKeys = [opts.lock.key, legacy.infohashes, legacy.recent, legacy.popular, legacy.metadataFetched, legacy.metadataWait];
    const entries = drop.map((h) => {
      const k = dropKeys.length + 1;
      if (isCanonicalHexId(h)) dropKeys.push(legacy.infohash(h), legacy.infohashSources(h), legacy.infohashPeers(h), legacy.infohashMetadata(h), legacy.infohashFetch(h));
      else dropKeys.push(legacy.infohashes, legacy.infohashes, legacy.infohashes, legacy.infohashes, legacy.infohashes); // not a key of its own: ZREM only
      return { h, k, t: [] as number[] };
    });
    const n = Number(await dropMovedScript.run(redis, dropKeys, [opts.lock.token, JSON.stringify(entries)]));
    if (n === -1) throw new MigrationLockLostError(opts.lock.key);
    result.moved += moving.length;
    result.empty += drop.length - moving.length;
    opts.onChunk?.({ moved: result.moved, remaining: await redis.zcard(legacy.infohashes) });
  }
  result.remaining = await redis.zcard(legacy.infohashes);
  return result;
}

async function mergeIntoShards(redis: RedisClient, keys: ShardedIndexKeys, moving: readonly Legacy[], config: IndexConfig, now: number): Promise<void> {
  const cutoff = now - config.peerTtlMs;
  const liveHours: number[] = [];
  for (let h = hourOf(cutoff); h <= hourOf(now); h++) liveHours.push(h);
  const byShard = new Map<ShardKeys, { keys: string[]; index: Map<string, number>; ih: unknown[]; args: Buffer[] }>();
  for (const l of moving) {
    const { shard, bucket } = keys.locate(l.hex);
    let part = byShard.get(shard);
    if (part === undefined) {
      const k = [shard.schemaVersion, shard.counts, shard.recent, shard.popular, shard.lastSeenHours, shard.metadataWait];
      part = { keys: k, index: new Map(k.map((key, i) => [key, i + 1])), ih: [], args: [] };
      byShard.set(shard, part);
    }
    const p = part;
    const add = (key: string): number => {
      let i = p.index.get(key);
      if (i === undefined) {
        p.keys.push(key);
        p.index.set(key, (i = p.keys.length));
      }
      return i;
    };
    const first = Number(l.hash['first'] ?? l.hash['last']);
    const last = Number(l.hash['last']);
    const byHour = new Map<number, Array<[string, number]>>();
    for (const [address, at] of l.peers) {
      const compact = compactPeer(address);
      if (compact === null || at < cutoff) continue;
      const list = byHour.get(hourOf(at)) ?? [];
      list.push([compact.toString('hex'), Math.floor(at / 1000)]);
      byHour.set(hourOf(at), list);
    }
    // ARGV[1] is the plan; blobs and states follow it.
    const arg = (b: Buffer): number => p.args.push(b) + 1;
    const blob = blobOfLegacyMetadata(l.meta);
    const state = stateOfLegacyFetch(l.fetch, DEFAULT_RETRY_POLICY.retainMs);
    const m = blob === null ? undefined : { k: add(shard.meta(bucket)), b: arg(blob), t: tokensOfBlob(blob).map((token) => add(shard.postings(token))) };
    const x = state === null ? undefined : { k: add(shard.fetch(bucket)), b: arg(state), ...(l.wait === null ? {} : { w: l.wait }) };
    p.ih.push({
      ...(m === undefined ? {} : { m }),
      ...(x === undefined ? {} : { x }),
      k: add(shard.records(bucket)),
      h: l.hex,
      f: String(first),
      l: String(last),
      n: Number(l.hash['seen'] ?? 0),
      s: sourceBitsFor(l.sources),
      fl: RECORD_FLAG.MIGRATED,
      p: [...byHour].map(([hour, e]) => ({ k: add(shard.peers(bucket, hour)), x: String((hour + 1) * HOUR_MS + config.peerTtlMs), e })),
      w: byHour.size > 0 ? liveHours.map((hour) => add(shard.peers(bucket, hour))) : [],
    });
  }
  const caps = { recent: shardCap(config.recentCap), popular: shardCap(config.popularCap), peers: config.peersCap, postings: shardCap(SEARCH_POSTINGS_CAP), wait: shardCap(DEFAULT_RETRY_POLICY.waitCap) };
  const run = async ([, part]: [ShardKeys, { keys: string[]; ih: unknown[]; args: Buffer[] }]): Promise<void> => {
    const plan = { v: String(SHARDED_SCHEMA_VERSION), cutoff: Math.floor(cutoff / 1000), caps, ih: part.ih };
    const out = (await moveShardScript.run(redis, part.keys, [JSON.stringify(plan), ...part.args])) as [number, number | string];
    if (out[0] === -1) throw new SchemaMismatchError(Number(out[1]), SHARDED_SCHEMA_VERSION);
  };
  if (redis instanceof Cluster) await Promise.all([...byShard].map(run));
  else for (const entry of byShard) await run(entry);
}
