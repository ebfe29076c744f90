import { isCanonicalHexId } from '../bep5/node-id.js';
import { InvalidInfohashKeyError } from './errors.js';

/**
 * Where an infohash lives in the schema-5 layout (indexer/SCHEMA.md, "Schema 5"): its shard
 * (the hash tag `{<prefix>:<shard>}`, one Redis Cluster slot each) and its bucket (the HASH that
 * holds its record). Both come from the infohash's leading bits, so they are uniform over
 * infohashes and need no lookup.
 *
 * - 64 shards: enough slots to spread over tens of masters, few enough that a view merged on
 *   read (recent, popular, counts) costs 64 small reads.
 * - 2^17 buckets: 76 records each at 10 million infohashes, so a bucket stays in listpack
 *   encoding under upstream Redis's default `hash-max-listpack-entries` of 128 (bench/layout.ts
 *   measured 52-57 bytes per record that way, against 602 for schema 4's keys per infohash).
 *   Every bucket belongs to one shard: its top 6 bits are the shard.
 */

export const SHARD_BITS = 6;
export const SHARDS = 1 << SHARD_BITS;
export const BUCKET_BITS = 17;
export const BUCKETS = 1 << BUCKET_BITS;

/** The shard's tag text: two lowercase hex digits, `00` to `3f`. */
export function shardTag(shard: number): string {
  if (!Number.isInteger(shard) || shard < 0 || shard >= SHARDS) throw new RangeError(`shard must be an integer in [0, ${SHARDS}), got ${shard}`);
  return shard.toString(16).padStart(2, '0');
}

/** The leading 32 bits of an infohash given as 40 hex digits or 20 bytes. */
function leading32(infohash: string | Uint8Array): number {
  if (typeof infohash === 'string') {
    if (!isCanonicalHexId(infohash)) throw new InvalidInfohashKeyError(infohash);
    return Number.parseInt(infohash.slice(0, 8), 16);
  }
  if (infohash.length !== 20) throw new InvalidInfohashKeyError(`${infohash.length} bytes`);
  return ((infohash[0]! << 24) | (infohash[1]! << 16) | (infohash[2]! << 8) | infohash[3]!) >>> 0;
}

/** The infohash's shard, 0 to SHARDS - 1. */
export function shardOf(infohash: string | Uint8Array): number {
  return leading32(infohash) >>> (32 - SHARD_BITS);
}

/** The infohash's bucket, 0 to BUCKETS - 1; `bucket >>> (BUCKET_BITS - SHARD_BITS)` is its shard. */
export function bucketOf(infohash: string | Uint8Array): number {
  return leading32(infohash) >>> (32 - BUCKET_BITS);
}

/** The shard that holds a bucket. */
export function shardOfBucket(bucket: number): number {
  return bucket >>> (BUCKET_BITS - SHARD_BITS);
}

const SLOTS = 16_384;
const SLOTS_PER_SHARD = SLOTS / SHARDS;
const tagCache = new Map<string, readonly string[]>();

/**
 * The hash tags of an index's shards: `<prefix>:<shard>` with a suffix (`.n`) chosen so that
 * shard s hashes into Redis Cluster slots [s × 256, (s + 1) × 256). `redis-cli --cluster create`
 * gives each master a contiguous, equal range of slots, so evenly spaced shards land evenly on
 * the masters whatever the prefix and the number of masters: 20 to 22 of the 64 on each of 3.
 * Plain `<prefix>:<shard>` tags leave it to CRC16, which spreads them fairly but not evenly: 18
 * to 25 per master over 2,000 random prefixes. About 64 CRC16s per shard, once per prefix.
 */
export function shardTags(prefix: string): readonly string[] {
  let tags = tagCache.get(prefix);
  if (tags === undefined) {
    tags = Array.from({ length: SHARDS }, (_, s) => {
      const base = `${prefix}:${shardTag(s)}`;
      for (let n = 0; ; n++) {
        const tag = n === 0 ? base : `${base}.${n}`;
        if (Math.floor(clusterSlot(tag) / SLOTS_PER_SHARD) === s) return tag;
      }
    });
    tagCache.set(prefix, tags);
  }
  return tags;
}

/** Redis Cluster's slot of a key (or of a tag's text): CRC16-XMODEM of the hash tag, mod 16384. */
export function clusterSlot(key: string): number {
  const open = key.indexOf('{');
  if (open >= 0) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) key = key.slice(open + 1, close);
  }
  return crc16(Buffer.from(key, 'utf8')) % SLOTS;
}

function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const byte of bytes) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/**
 * The group of a shard when shards are split into `groups` runs of neighbours (64 / groups
 * shards each). Neighbouring shards sit in neighbouring slots (shardTags), which Redis Cluster
 * hands out in ranges, so a group mostly lives on one master.
 */
export function shardGroupOf(shard: number, groups: number): number {
  if (!Number.isInteger(groups) || groups < 1 || groups > SHARDS || SHARDS % groups !== 0) throw new RangeError(`groups must divide ${SHARDS}, got ${groups}`);
  return Math.floor((shard * groups) / SHARDS);
}
