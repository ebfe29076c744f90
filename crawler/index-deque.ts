/**
 * A double-ended queue of node indexes (non-negative int32) in a ring of typed memory: O(1)
 * push, unshift and shift at any size. The crawler's visit queue holds an entry per known node
 * (millions on the real DHT), where a JS array's shift() and unshift() move every element
 * (about 1 ms each at 4 M entries) and each entry costs 8 bytes instead of 4.
 */
export class IndexDeque {
  private ring: Int32Array;
  private head = 0;
  private count = 0;

  constructor(capacity = 1024) {
    this.ring = new Int32Array(Math.max(16, capacity));
  }

  get length(): number {
    return this.count;
  }

  /** Bytes of the ring. */
  get bytes(): number {
    return this.ring.byteLength;
  }

  push(index: number): void {
    if (this.count === this.ring.length) this.grow();
    this.ring[(this.head + this.count) % this.ring.length] = index;
    this.count++;
  }

  unshift(index: number): void {
    if (this.count === this.ring.length) this.grow();
    this.head = (this.head - 1 + this.ring.length) % this.ring.length;
    this.ring[this.head] = index;
    this.count++;
  }

  /** The first index, removed; undefined when empty. */
  shift(): number | undefined {
    if (this.count === 0) return undefined;
    const index = this.ring[this.head]!;
    this.head = (this.head + 1) % this.ring.length;
    this.count--;
    return index;
  }

  clear(): void {
    this.head = 0;
    this.count = 0;
  }

  private grow(): void {
    const next = new Int32Array(this.ring.length * 2);
    const tail = this.ring.subarray(this.head, Math.min(this.ring.length, this.head + this.count));
    next.set(tail, 0);
    if (tail.length < this.count) next.set(this.ring.subarray(0, this.count - tail.length), tail.length);
    this.ring = next;
    this.head = 0;
  }
}
