import { createHash } from 'node:crypto';
import { BLOOM_FILTER_BYTES } from './constants.js';
import { parseIp, unmapIp } from './ip.js';
import { BloomError } from './errors.js';

/**
 * BEP 33 scrape bloom filters (BFsd / BFpe): m = 2,048 bits in 256 bytes, k = 2 bit indices
 * taken from SHA-1 of the IP's raw bytes: index1 = hash[0] | hash[1] << 8, index2 = hash[2] |
 * hash[3] << 8, each mod m; bit i is `bytes[i >> 3] & (1 << (i & 7))`.
 *
 * Only IPs go in (BEP 33: no ports, no names). An IPv4-mapped IPv6 address is inserted as its
 * IPv4 bytes: it is the same peer, and another node that saw it over IPv4 hashes 4 bytes.
 */

const M = BLOOM_FILTER_BYTES * 8;
const K = 2;

/** The two bit indices an IP sets. Callers that insert the same IP often can keep these. */
export function bloomIndices(ip: Uint8Array): [number, number] {
  if (ip.length !== 4 && ip.length !== 16) {
    throw new BloomError('bad-length', `an IP address has 4 or 16 bytes, not ${ip.length}`);
  }
  const hash = createHash('sha1').update(unmapIp(ip)).digest();
  return [(hash[0]! | (hash[1]! << 8)) % M, (hash[2]! | (hash[3]! << 8)) % M];
}

/** Set bits of each byte value. */
const POPCOUNT = Uint8Array.from({ length: 256 }, (_, b) => {
  let n = 0;
  for (let x = b; x !== 0; x >>= 1) n += x & 1;
  return n;
});

export class ScrapeBloom {
  static readonly BYTES = BLOOM_FILTER_BYTES;
  private readonly bits = Buffer.alloc(BLOOM_FILTER_BYTES);

  /** A filter from a received BFsd/BFpe (copied). Throws BloomError unless exactly 256 bytes. */
  static from(buf: Uint8Array): ScrapeBloom {
    if (buf.length !== BLOOM_FILTER_BYTES) {
      throw new BloomError('bad-length', `a scrape bloom filter has ${BLOOM_FILTER_BYTES} bytes, not ${buf.length}`);
    }
    const filter = new ScrapeBloom();
    filter.bits.set(buf);
    return filter;
  }

  /** Inserts an IP given as 4 or 16 bytes. */
  insert(ipBytes: Uint8Array): void {
    this.insertIndices(bloomIndices(ipBytes));
  }

  /** Inserts an IP given as text; throws BloomError if it is not an IP literal. */
  insertHost(host: string): void {
    const bytes = parseIp(host);
    if (bytes === undefined) throw new BloomError('bad-host', `not an IP address: ${JSON.stringify(host)}`);
    this.insert(bytes);
  }

  /** Sets the bits `bloomIndices` computed, without hashing again. */
  insertIndices(indices: readonly [number, number]): void {
    for (const i of indices) {
      if (!Number.isInteger(i) || i < 0 || i >= M) throw new BloomError('bad-index', `bit index must be 0..${M - 1}, got ${i}`);
    }
    for (const i of indices) this.bits[i >> 3]! |= 1 << (i & 7);
  }

  /** False if the IP was surely not inserted; true if it may have been. */
  mayContain(ipBytes: Uint8Array): boolean {
    return bloomIndices(ipBytes).every((i) => (this.bits[i >> 3]! & (1 << (i & 7))) !== 0);
  }

  /** ORs `other` into this filter (the union of the two sets) and returns this. */
  union(other: ScrapeBloom): this {
    for (let i = 0; i < BLOOM_FILTER_BYTES; i++) this.bits[i]! |= other.bits[i]!;
    return this;
  }

  /** The 256 bytes, as a copy. */
  toBuffer(): Buffer {
    return Buffer.from(this.bits);
  }

  /**
   * Estimated number of distinct IPs inserted, by BEP 33's formula
   * `log(c / m) / (k * log(1 - 1/m))` with c the count of zero bits, capped at m - 1.
   * Two edges the formula leaves open: an empty filter is exactly 0 (the cap would make it
   * 0.5), and c is at least 1, so a full filter (beyond ~8,000 entries, where BEP 33 says
   * the estimate breaks down) reads about 7,804 instead of Infinity.
   */
  estimate(): number {
    let zeros = 0;
    for (const byte of this.bits) zeros += 8 - POPCOUNT[byte]!;
    if (zeros === M) return 0;
    const c = Math.max(1, Math.min(M - 1, zeros));
    return Math.log(c / M) / (K * Math.log(1 - 1 / M));
  }
}
