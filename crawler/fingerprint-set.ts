import { keyedHash2, slotOf, tableKey } from './fmix32.js';

/**
 * The set of infohashes a crawl has seen, as 48-bit fingerprints (the first 6 bytes of each
 * infohash) in an open-addressing table of typed memory: 6 bytes a slot, 8–12 bytes an entry.
 * A JS Set of 40-character hex strings costs about 82 bytes an entry and V8 refuses more than
 * 2^24 entries, which a long crawl of the real DHT passes (it would throw inside a reply
 * handler). Infohashes are uniformly random, so a new one is taken for seen only when it shares
 * its first 6 bytes with one already there: about n^2 / 2^49 infohashes over a crawl, 2 of
 * 30 million (far below what a crawl misses anyway), for a third less memory than 8 bytes.
 */
export class FingerprintSet {
  /** Slot i holds bytes 0-3 in hi[i] and bytes 4-5 in lo[i]; (0, 0) is empty (an all-zero prefix is stored as (0, 1)). */
  private hi: Uint32Array;
  private lo: Uint16Array;
  private slots: number;
  private count = 0;
  /** Secret hash key (crawler/fmix32.ts tableKey). */
  private readonly key = tableKey();

  constructor(capacity = 1024) {
    this.slots = Math.max(16, Math.ceil(capacity / MAX_LOAD));
    this.hi = new Uint32Array(this.slots);
    this.lo = new Uint16Array(this.slots);
  }

  get size(): number {
    return this.count;
  }

  get bytes(): number {
    return this.hi.byteLength + this.lo.byteLength;
  }

  /** Adds the infohash (20 bytes, or 40 hex digits); true when it was not there. */
  add(infohash: Uint8Array | string): boolean {
    const [hi, lo] = fingerprint(infohash);
    if (this.findSlot(hi, lo) < 0) return false;
    if (this.count + 1 > this.slots * MAX_LOAD) this.grow();
    const slot = this.findSlot(hi, lo);
    this.hi[slot] = hi;
    this.lo[slot] = lo;
    this.count++;
    return true;
  }

  has(infohash: Uint8Array | string): boolean {
    const [hi, lo] = fingerprint(infohash);
    return this.findSlot(hi, lo) < 0;
  }

  /** The slot holding (hi, lo) as -1 - slot, or the empty slot where it would go. */
  private findSlot(hi: number, lo: number): number {
    const his = this.hi;
    const los = this.lo;
    const n = this.slots;
    // Linear probing from the keyed hash of the fingerprint (fmix32.ts tableKey: infohashes come
    // off the wire, and a hostile node could send thousands sharing their first bytes). Any
    // table size works, so the table grows by half, not double.
    for (let slot = slotOf(keyedHash2(hi, lo, this.key), n); ; slot = slot + 1 === n ? 0 : slot + 1) {
      const h = his[slot]!;
      const l = los[slot]!;
      if (h === 0 && l === 0) return slot;
      if (h === hi && l === lo) return -1 - slot;
    }
  }

  private grow(): void {
    const oldHi = this.hi;
    const oldLo = this.lo;
    this.slots = Math.ceil(this.slots * GROWTH);
    this.hi = new Uint32Array(this.slots);
    this.lo = new Uint16Array(this.slots);
    for (let i = 0; i < oldHi.length; i++) {
      const hi = oldHi[i]!;
      const lo = oldLo[i]!;
      if (hi === 0 && lo === 0) continue;
      const slot = this.findSlot(hi, lo);
      this.hi[slot] = hi;
      this.lo[slot] = lo;
    }
  }
}

/** Linear probing stays short (about 8 probes for a miss) below this load. */
const MAX_LOAD = 0.75;
/** Growth by half keeps the load between 0.5 and 0.75: 8-12 bytes an entry. */
const GROWTH = 1.5;

function fingerprint(infohash: Uint8Array | string): [number, number] {
  let hi: number;
  let lo: number;
  if (typeof infohash === 'string') {
    hi = Number.parseInt(infohash.slice(0, 8), 16) >>> 0;
    lo = Number.parseInt(infohash.slice(8, 12), 16);
  } else {
    hi = ((infohash[0]! << 24) | (infohash[1]! << 16) | (infohash[2]! << 8) | infohash[3]!) >>> 0;
    lo = (infohash[4]! << 8) | infohash[5]!;
  }
  return hi === 0 && lo === 0 ? [0, 1] : [hi, lo];
}
