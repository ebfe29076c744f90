/** One bit per node index; indexes past its size read as 0. */
export class Bitset {
  private readonly words: Uint32Array;

  constructor(readonly size: number) {
    this.words = new Uint32Array(Math.ceil(size / 32));
  }

  has(i: number): boolean {
    return i < this.size && (this.words[i >>> 5]! & (1 << (i & 31))) !== 0;
  }

  set(i: number): void {
    if (i >= this.size) throw new RangeError(`bit ${i} of ${this.size}`);
    this.words[i >>> 5] = this.words[i >>> 5]! | (1 << (i & 31));
  }

  /** The same bits at new indexes: bit i moves to remap[i] (-1 drops it), in a set of `size`. */
  remap(remap: Int32Array, size: number): Bitset {
    const out = new Bitset(size);
    for (let i = 0; i < Math.min(this.size, remap.length); i++) if (remap[i]! >= 0 && this.has(i)) out.set(remap[i]!);
    return out;
  }

  count(): number {
    let n = 0;
    for (let w of this.words) {
      w -= (w >>> 1) & 0x55555555;
      w = (w & 0x33333333) + ((w >>> 2) & 0x33333333);
      n += (Math.imul((w + (w >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24);
    }
    return n;
  }
}
