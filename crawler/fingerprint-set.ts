/**
 * The set of infohashes a crawl has seen, as 64-bit fingerprints (the first 8 bytes of each
 * infohash) in an open-addressing table of typed memory. A JS Set of 40-character hex strings
 * costs about 82 bytes an entry and V8 refuses more than 2^24 entries, which a long crawl of the
 * real DHT passes (it would throw inside a reply handler); this costs 16–32 bytes an entry at
 * most. Infohashes are uniformly random, so two that share their first 8 bytes are as good as
 * never seen (a chance of about n^2 / 2^65: 3 in a million at 10 million infohashes), and a
 * fingerprint is its own hash.
 */
export class FingerprintSet {
  /** Slot i holds hi in [2i] and lo in [2i + 1]; (0, 0) is empty (an all-zero prefix is stored as (0, 1)). */
  private table: Uint32Array;
  private mask: number;
  private count = 0;

  constructor(capacity = 1024) {
    let slots = 16;
    while (slots < capacity * 2) slots *= 2;
    this.table = new Uint32Array(slots * 2);
    this.mask = slots - 1;
  }

  get size(): number {
    return this.count;
  }

  get bytes(): number {
    return this.table.byteLength;
  }

  /** Adds the infohash (20 bytes, or 40 hex digits); true when it was not there. */
  add(infohash: Uint8Array | string): boolean {
    const [hi, lo] = fingerprint(infohash);
    if (this.findSlot(hi, lo, this.table, this.mask) < 0) return false;
    if ((this.count + 1) * 2 > this.mask + 1) this.grow();
    const slot = this.findSlot(hi, lo, this.table, this.mask);
    this.table[slot * 2] = hi;
    this.table[slot * 2 + 1] = lo;
    this.count++;
    return true;
  }

  has(infohash: Uint8Array | string): boolean {
    const [hi, lo] = fingerprint(infohash);
    return this.findSlot(hi, lo, this.table, this.mask) < 0;
  }

  /** The slot holding (hi, lo) as -1 - slot, or the empty slot where it would go. */
  private findSlot(hi: number, lo: number, table: Uint32Array, mask: number): number {
    // Linear probing from the low bits of lo (uniform: the fingerprint is random).
    for (let slot = lo & mask; ; slot = (slot + 1) & mask) {
      const h = table[slot * 2]!;
      const l = table[slot * 2 + 1]!;
      if (h === 0 && l === 0) return slot;
      if (h === hi && l === lo) return -1 - slot;
    }
  }

  private grow(): void {
    const old = this.table;
    const mask = (this.mask + 1) * 2 - 1;
    const table = new Uint32Array((mask + 1) * 2);
    for (let i = 0; i < old.length; i += 2) {
      const hi = old[i]!;
      const lo = old[i + 1]!;
      if (hi === 0 && lo === 0) continue;
      const slot = this.findSlot(hi, lo, table, mask);
      table[slot * 2] = hi;
      table[slot * 2 + 1] = lo;
    }
    this.table = table;
    this.mask = mask;
  }
}

function fingerprint(infohash: Uint8Array | string): [number, number] {
  let hi: number;
  let lo: number;
  if (typeof infohash === 'string') {
    hi = Number.parseInt(infohash.slice(0, 8), 16) >>> 0;
    lo = Number.parseInt(infohash.slice(8, 16), 16) >>> 0;
  } else {
    hi = ((infohash[0]! << 24) | (infohash[1]! << 16) | (infohash[2]! << 8) | infohash[3]!) >>> 0;
    lo = ((infohash[4]! << 24) | (infohash[5]! << 16) | (infohash[6]! << 8) | infohash[7]!) >>> 0;
  }
  return hi === 0 && lo === 0 ? [0, 1] : [hi, lo];
}
