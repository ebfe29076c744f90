import { fmix32 } from './fmix32.js';

/**
 * Churn between two surveys that no one process saw whole: a shared survey (issue 15, item 4)
 * is swept by many processes, one partition each, and the survey before it may be weeks old
 * and long gone from memory. A `run` compares two sweeps bit by bit (crawler/sweep-survey.ts);
 * here each partition keeps a bottom-k sketch of the node keys that answered in it (the k
 * smallest 48-bit hashes of ID + address, census.ts `nodeKey`'s identity), and two surveys'
 * sketches estimate who left and who joined.
 *
 * Why bottom-k (Cohen and Kaplan, "Summarizing data using bottom-k sketches", PODC 2007): a
 * sketch holds EVERY hash of its set up to a bound (its k-th smallest; no bound when the set
 * has fewer than k). Partitions are disjoint, so a survey holds every hash of its answered
 * nodes up to the smallest of its partitions' bounds, and two surveys every hash of each up
 * to the smaller of their bounds. Below that bound the hashes of the two surveys are a
 * uniform sample of their union in which each hash is labelled exactly: "both", "before only"
 * or "after only". A survey of P full partitions gives a sample of about P * k: with k = 1,024
 * and the default 64 partitions, a 5% share comes out within about ±0.17 points (2 sigma), and
 * a single sketch within ±1.4. A partition's sketch is 6 KB in Redis. Partitions with fewer
 * than k answering nodes are held whole, so small surveys are counted exactly.
 * A HyperLogLog union would give the intersection only as a difference of large estimates:
 * with 0.8% error on each, a 5% churn would be lost in the noise.
 */

/** Hashes a sketch keeps (per partition, and per survey). */
export const CHURN_SKETCH_K = 1024;

/**
 * Bytes of one hash: 48 bits, exact in a double. Among 10 M nodes about 0.2 collisions are
 * expected, and one lands among a sketch's k smallest about once in 50,000 surveys.
 */
export const SKETCH_HASH_BYTES = 6;

/**
 * A node key's 48-bit hash: two 32-bit MurmurHash3-style mixes (different seeds) over the ID,
 * the address bytes and the port. Not for security: what the sketch needs is spread, and a
 * peer choosing its ID to sit in the sketch moves the estimate by at most 1/k per ID.
 */
export function nodeKeyHash(id: Uint8Array, ip: Uint8Array, port: number): number {
  const hi = mix(id, ip, port, 0x9747b28c);
  const lo = mix(id, ip, port, 0x5bd1e995) >>> 16;
  return hi * 65_536 + lo;
}

function mix(id: Uint8Array, ip: Uint8Array, port: number, seed: number): number {
  let h = seed | 0;
  const block = (k: number): void => {
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  };
  const bytes = (b: Uint8Array): void => {
    let i = 0;
    for (; i + 4 <= b.length; i += 4) block(b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24));
    let tail = 0;
    for (let s = 0; i < b.length; i++, s += 8) tail |= b[i]! << s;
    block(tail ^ (b.length << 24));
  };
  bytes(id);
  bytes(ip);
  block(port);
  return fmix32(h ^ (id.length + ip.length + 4));
}

/**
 * A set's sketch: `hashes` (ascending) holds every hash of the set at or below `bound`, and
 * none above it; `bound` is Infinity when the set is held whole.
 */
export interface Sketch {
  hashes: number[];
  bound: number;
}

/** The k smallest distinct hashes added, in amortized O(log k) per hash and 16k bytes. */
export class BottomK {
  private values: Float64Array;
  private length = 0;
  /** No hash at or above this can be among the k smallest (Infinity until k are kept). */
  private threshold = Infinity;

  constructor(readonly k: number = CHURN_SKETCH_K) {
    if (!Number.isSafeInteger(k) || k < 1) throw new RangeError(`k must be a positive integer, got ${k}`);
    this.values = new Float64Array(2 * k);
  }

  add(hash: number): void {
    if (hash >= this.threshold) return;
    this.values[this.length++] = hash;
    if (this.length === this.values.length) this.compact();
  }

  /** At most k distinct hashes, ascending. */
  sorted(): number[] {
    this.compact();
    return Array.from(this.values.subarray(0, this.length));
  }

  sketch(): Sketch {
    return storedSketch(this.sorted(), this.k);
  }

  private compact(): void {
    const kept = this.values.subarray(0, this.length).sort();
    let n = 0;
    for (let i = 0; i < kept.length && n < this.k; i++) if (n === 0 || kept[i] !== kept[n - 1]) kept[n++] = kept[i]!;
    this.length = n;
    if (n === this.k) this.threshold = kept[n - 1]!;
  }
}

/** The sketch a bottom-k list stands for: full (k hashes), it holds every hash up to its last. */
export function storedSketch(hashes: number[], k = CHURN_SKETCH_K): Sketch {
  return { hashes, bound: hashes.length >= k ? hashes[hashes.length - 1]! : Infinity };
}

/** Most hashes a survey's sketch keeps: 8 MB, a sample that puts a 5% share within ±0.05 points. */
export const MAX_SURVEY_SKETCH = 1 << 20;

/**
 * The sketch of the union of DISJOINT sets (a survey's partitions) from theirs: everything up
 * to the smallest bound, cut to the `maxHashes` smallest (a lower bound keeps the sketch whole
 * below it).
 */
export function unionOfDisjoint(sketches: Iterable<Sketch>, maxHashes = MAX_SURVEY_SKETCH): Sketch {
  const parts = [...sketches];
  let bound = Infinity;
  for (const s of parts) bound = Math.min(bound, s.bound);
  const hashes: number[] = [];
  for (const s of parts) for (const h of s.hashes) if (h <= bound) hashes.push(h);
  hashes.sort((a, b) => a - b);
  if (hashes.length > maxHashes) {
    hashes.length = maxHashes;
    bound = hashes[maxHashes - 1]!;
  }
  return { hashes, bound };
}

/** How the union's sample of two sets splits (see the module comment). */
export interface SketchOverlap {
  /** In both, in the first only, in the second only; they add up to `sample`. */
  both: number;
  firstOnly: number;
  secondOnly: number;
  sample: number;
}

export function sketchOverlap(first: Sketch, second: Sketch): SketchOverlap {
  const bound = Math.min(first.bound, second.bound);
  const inSecond = new Set(second.hashes);
  const o = { both: 0, firstOnly: 0, secondOnly: 0, sample: 0 };
  const inFirst = new Set<number>();
  for (const h of first.hashes) {
    if (h > bound || inFirst.has(h)) continue;
    inFirst.add(h);
    if (inSecond.has(h)) o.both++;
    else o.firstOnly++;
  }
  for (const h of inSecond) if (h <= bound && !inFirst.has(h)) o.secondOnly++;
  o.sample = o.both + o.firstOnly + o.secondOnly;
  return o;
}

/**
 * Churn counts from two sketches and the exact sizes of the sets they summarize (the nodes that
 * answered before and after): the nodes that stayed are estimated from each side's share and
 * averaged, so that before - left = after - joined holds as in an exact count.
 */
export function estimateChurn(
  before: { sketch: Sketch; answered: number },
  after: { sketch: Sketch; answered: number },
): { before: number; after: number; left: number; joined: number; sample: number } {
  const o = sketchOverlap(before.sketch, after.sketch);
  const stayedShareOfBefore = o.both + o.firstOnly > 0 ? o.both / (o.both + o.firstOnly) : 0;
  const stayedShareOfAfter = o.both + o.secondOnly > 0 ? o.both / (o.both + o.secondOnly) : 0;
  const estimate = (before.answered * stayedShareOfBefore + after.answered * stayedShareOfAfter) / 2;
  const stayed = Math.max(0, Math.min(before.answered, after.answered, Math.round(estimate)));
  return { before: before.answered, after: after.answered, left: before.answered - stayed, joined: after.answered - stayed, sample: o.sample };
}

/** A bottom-k list as stored: 6 bytes per hash, big-endian, ascending, in base64 (8 characters a hash). */
export function encodeSketch(hashes: readonly number[]): string {
  const b = Buffer.alloc(hashes.length * SKETCH_HASH_BYTES);
  hashes.forEach((h, i) => b.writeUIntBE(h, i * SKETCH_HASH_BYTES, SKETCH_HASH_BYTES));
  return b.toString('base64');
}

/** A stored bottom-k list, or null when the text is not one (wrong length or alphabet, more than k, not strictly ascending). */
export function decodeSketch(text: unknown, k = CHURN_SKETCH_K): number[] | null {
  if (typeof text !== 'string' || text.length % 8 !== 0 || text.length > k * 8 || !/^[A-Za-z0-9+/]*$/.test(text)) return null;
  const b = Buffer.from(text, 'base64');
  const out: number[] = [];
  for (let o = 0; o < b.length; o += SKETCH_HASH_BYTES) {
    const h = b.readUIntBE(o, SKETCH_HASH_BYTES);
    if (out.length > 0 && h <= out[out.length - 1]!) return null;
    out.push(h);
  }
  return out;
}
