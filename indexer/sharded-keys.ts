import { isCanonicalHexId } from '../bep5/node-id.js';
import { InvalidInfohashKeyError } from './errors.js';
import { DEFAULT_PREFIX, IndexKeys, validatePrefix } from './keys.js';
import { MAX_TOKEN_CHARS } from './metadata-constants.js';
import { TOKEN_RE } from './search-tokens.js';
import { SHARDS, bucketOf, clusterSlot, shardOfBucket, shardTags } from './shard.js';

/**
 * Key names of the schema-5 layout (indexer/SCHEMA.md, "Schema 5"), one shard at a time: every
 * key of a shard carries that shard's tag `{<prefix>:<ss>[.n]}` (shard.ts), so a script that
 * touches one shard touches one Redis Cluster slot. The one place that builds these names, as
 * keys.ts is for schema 4.
 */
export class ShardKeys {
  /** `{<shard tag>}` */
  readonly tag: string;
  /**
   * This shard's census, statistics and totals: schema 4's names (keys.ts) under the shard's
   * tag. Node IDs are sharded, so the shards' census counts add up; statistics and totals add.
   */
  readonly census: IndexKeys;

  /** The Redis Cluster slot of every key of this shard. */
  readonly slot: number;

  constructor(
    readonly prefix: string,
    readonly shard: number,
    tagText: string,
  ) {
    this.tag = `{${tagText}}`;
    this.census = new IndexKeys(prefix, tagText);
    this.slot = clusterSlot(tagText);
  }

  /** HASH: 20-byte infohash → 24-byte record (infohash-record.ts), for one bucket of this shard. */
  records(bucket: number): string {
    if (shardOfBucket(bucket) !== this.shard) throw new RangeError(`bucket ${bucket} is not in shard ${this.shard}`);
    return `${this.tag}:r:${bucket.toString(16)}`;
  }
  /**
   * HASH: 20-byte infohash → its peers last reported in `hour` (ms / 3,600,000), packed
   * (peer-pack.ts), for one bucket; it expires `peerTtlMs` after the hour ends.
   */
  peers(bucket: number, hour: number): string {
    if (shardOfBucket(bucket) !== this.shard) throw new RangeError(`bucket ${bucket} is not in shard ${this.shard}`);
    if (!Number.isSafeInteger(hour) || hour < 0) throw new RangeError(`hour must be a non-negative integer, got ${hour}`);
    return `${this.tag}:p:${bucket.toString(16)}:${hour}`;
  }
  /** HASH `infohashes` → the records this shard holds (the registry count, summed over shards). */
  get counts(): string {
    return `${this.tag}:count`;
  }
  /** ZSET hex → last seen (ms), capped: this shard's part of `recent`. */
  get recent(): string {
    return `${this.tag}:recent`;
  }
  /** ZSET hex → live peers, capped: this shard's part of `popular`. */
  get popular(): string {
    return `${this.tag}:popular`;
  }
  /**
   * HASH hour of last seen (ms / 3,600,000) → records of this shard last seen in that hour.
   * Retention's cap rule reads it to turn "keep the N most recently seen" into a last-seen
   * cutoff without a per-infohash registry ZSET (sharded-prune.ts).
   */
  get lastSeenHours(): string {
    return `${this.tag}:lastseen`;
  }
  /** STRING with a TTL: this shard has applied the batch (one marker per batch and shard). */
  applied(batchId: string): string {
    if (!isCanonicalHexId(batchId)) throw new Error(`bad batch id ${JSON.stringify(batchId)}`);
    return `${this.tag}:applied:${batchId}`;
  }
  /**
   * STRING with a TTL: on one Redis, where one script applies all of a batch's shards
   * (lua/apply-shards.lua), the whole batch is applied: one marker per batch, kept in the first
   * shard it touches, instead of one per shard.
   */
  appliedBatch(batchId: string): string {
    return `${this.applied(batchId)}:all`;
  }
  /**
   * HASH: 20-byte infohash → its BEP 33 scrape estimate (swarm-estimates.ts: seeders, leechers,
   * minute taken; 8 bytes), for one bucket of this shard (schema 6). Removed with the record.
   */
  swarm(bucket: number): string {
    if (shardOfBucket(bucket) !== this.shard) throw new RangeError(`bucket ${bucket} is not in shard ${this.shard}`);
    return `${this.tag}:sw:${bucket.toString(16)}`;
  }
  /** ZSET hex → seeders in its latest scrape estimate, capped: this shard's part of the seeders ranking (schema 6). */
  get seeders(): string {
    return `${this.tag}:seeders`;
  }
  /** STRING: the schema version, one copy per shard, so a shard's script checks it in its own slot. */
  get schemaVersion(): string {
    return `${this.tag}:schema:version`;
  }

  // Torrent metadata (schema 5)
  /**
   * HASH: 20-byte infohash → its metadata blob (metadata-blob.ts), for one bucket of this shard.
   * The bucket is the record's, so a torrent's record, metadata and fetch state share a slot.
   */
  meta(bucket: number): string {
    if (shardOfBucket(bucket) !== this.shard) throw new RangeError(`bucket ${bucket} is not in shard ${this.shard}`);
    return `${this.tag}:m:${bucket.toString(16)}`;
  }
  /** HASH: 20-byte infohash → its packed fetch state after a failed fetch (sharded-fetch-state.ts), for one bucket. */
  fetch(bucket: number): string {
    if (shardOfBucket(bucket) !== this.shard) throw new RangeError(`bucket ${bucket} is not in shard ${this.shard}`);
    return `${this.tag}:f:${bucket.toString(16)}`;
  }
  /** ZSET hex → when its next fetch attempt is due (ms), capped: this shard's part of schema 4's `metadata:wait`. */
  get metadataWait(): string {
    return `${this.tag}:metadata:wait`;
  }
  /** ZSET 20-byte infohash → live peers when stored, capped: this shard's posting list of a search token. */
  postings(token: string): string {
    if (!TOKEN_RE.test(token) || [...token].length > MAX_TOKEN_CHARS) throw new Error(`bad search token ${JSON.stringify(token)}`);
    return `${this.tag}:s:${token}`;
  }
}

/** The shards of one index, by number. */
export class ShardedIndexKeys {
  readonly shards: readonly ShardKeys[];

  /**
   * Schema 4's keys under the same prefix: what migration 005 moves from, and the census,
   * statistics and totals written before it, which readers add to the shards' (sharded-queries.ts).
   */
  readonly legacy: IndexKeys;

  constructor(readonly prefix: string = DEFAULT_PREFIX) {
    validatePrefix(prefix);
    this.legacy = new IndexKeys(prefix);
    const tags = shardTags(prefix);
    this.shards = Array.from({ length: SHARDS }, (_, s) => new ShardKeys(prefix, s, tags[s]!));
  }

  private static readonly byPrefix = new Map<string, ShardedIndexKeys>();

  /** The keys of the index under `prefix`, made once per prefix (64 shard objects each). */
  static of(prefix: string): ShardedIndexKeys {
    let keys = ShardedIndexKeys.byPrefix.get(prefix);
    if (keys === undefined) ShardedIndexKeys.byPrefix.set(prefix, (keys = new ShardedIndexKeys(prefix)));
    return keys;
  }

  /** The shard that holds an infohash, and its record's bucket. */
  locate(infohash: string): { shard: ShardKeys; bucket: number } {
    if (!isCanonicalHexId(infohash)) throw new InvalidInfohashKeyError(infohash);
    const bucket = bucketOf(infohash);
    return { shard: this.shards[shardOfBucket(bucket)]!, bucket };
  }
}
