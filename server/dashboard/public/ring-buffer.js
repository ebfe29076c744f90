/**
 * Fixed-capacity columns of numbers (column 0: time in seconds, then one per series); when
 * full, each push drops the oldest row. What the browser accumulates from successive polls
 * therefore stays the same size however long the page stays open.
 */
export class RingBuffer {
  constructor(capacity, columns) {
    this.capacity = capacity;
    this.columns = Array.from({ length: columns }, () => new Float64Array(capacity));
    this.start = 0;
    this.length = 0;
  }

  /** One row; null or undefined values are gaps. */
  push(row) {
    const at = (this.start + this.length) % this.capacity;
    this.columns.forEach((column, c) => {
      const v = row[c];
      column[at] = typeof v === 'number' && Number.isFinite(v) ? v : NaN;
    });
    if (this.length < this.capacity) this.length++;
    else this.start = (this.start + 1) % this.capacity;
  }

  /** The rows oldest first, as one array per column (gaps as null): uPlot's data layout. */
  toArrays() {
    return this.columns.map((column) => {
      const out = new Array(this.length);
      for (let i = 0; i < this.length; i++) {
        const v = column[(this.start + i) % this.capacity];
        out[i] = Number.isNaN(v) ? null : v;
      }
      return out;
    });
  }
}
