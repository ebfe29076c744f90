/**
 * Every node a crawl has heard of, kept compactly: IDs in one pooled Buffer, IPv4 addresses
 * and ports in typed arrays, per-node facts in small typed arrays, and an open-addressing
 * hash from address to index (numeric keys, no object per node). About 60 bytes per node,
 * so millions of nodes fit where an object per node would not.
 */

export const NODE_FLAG = {
  /** Queried in the current sweep. */
  QUERIED: 1 << 0,
  /** Answered at least once. */
  ANSWERED: 1 << 1,
  /** Failed (timed out) in the current sweep. */
  FAILED: 1 << 2,
  /** Answered sample_infohashes with samples (BEP 51). */
  BEP51: 1 << 3,
  /** Answered sample_infohashes with 204 / no samples. */
  NO_BEP51: 1 << 4,
  /** Its ID is BEP 42-compliant for its address (or exempt). */
  BEP42: 1 << 5,
  /** Discovered or answered in the current sweep. */
  SEEN_THIS_SWEEP: 1 << 6,
  /** Timed out once in the current sweep and was queued for its one retry. */
  RETRIED: 1 << 7,
  /**
   * sample_infohashes went unanswered (or got an error other than 203/204) in the current
   * sweep: silence says nothing yet about the node, only about the method, so find_node
   * follows at once.
   */
  SAMPLE_SILENT: 1 << 8,
  /** Answered find_node after a silent sample_infohashes; asked to sample once more this sweep. */
  RESAMPLE: 1 << 9,
  /** Its BEP 51 verdict is in its client version's tally (crawler/client-bep51.ts). */
  CLIENT_COUNTED: 1 << 10,
  /** Queued to sample again in this sweep: it holds more than one sample shows and lets us ask again now. */
  MORE_SAMPLES: 1 << 11,
} as const;

/** Distinct `v` values kept (index 0 is "none"); more are not told apart. */
export const MAX_VERSIONS = 4_096;

/** The flags that describe one sweep only; a new sweep clears them. */
export const SWEEP_FLAGS =
  NODE_FLAG.QUERIED | NODE_FLAG.FAILED | NODE_FLAG.SEEN_THIS_SWEEP | NODE_FLAG.RETRIED | NODE_FLAG.SAMPLE_SILENT | NODE_FLAG.RESAMPLE | NODE_FLAG.MORE_SAMPLES;

const EMPTY = -1;

export class NodeIndex {
  private capacity: number;
  private count = 0;
  ids: Buffer;
  ipv4: Uint32Array;
  ports: Uint16Array;
  flags: Uint16Array;
  /** ms since the crawl started when this node may be sampled again (BEP 51 interval). */
  nextSampleAt: Float64Array;
  /** Last round-trip time in ms (0 = unknown; capped at 65,535). */
  rttMs: Uint16Array;
  /** Index into `versions` (0 = none seen). */
  version: Uint16Array;
  /** Distinct `v` strings seen (hex), bounded so hostile values cannot grow it. */
  readonly versions: string[] = [''];
  private readonly versionIndex = new Map<string, number>();
  private slotsKeys: Float64Array;
  private slotsValues: Int32Array;

  constructor(initialCapacity = 1024) {
    this.capacity = initialCapacity;
    this.ids = Buffer.alloc(20 * initialCapacity);
    this.ipv4 = new Uint32Array(initialCapacity);
    this.ports = new Uint16Array(initialCapacity);
    this.flags = new Uint16Array(initialCapacity);
    this.nextSampleAt = new Float64Array(initialCapacity);
    this.rttMs = new Uint16Array(initialCapacity);
    this.version = new Uint16Array(initialCapacity);
    this.slotsKeys = new Float64Array(initialCapacity * 2);
    this.slotsValues = new Int32Array(initialCapacity * 2).fill(EMPTY);
  }

  get size(): number {
    return this.count;
  }

  /** Bytes held by this index (for the "memory per known node" figure). */
  get bytes(): number {
    return (
      this.ids.byteLength +
      this.ipv4.byteLength +
      this.ports.byteLength +
      this.flags.byteLength +
      this.nextSampleAt.byteLength +
      this.rttMs.byteLength +
      this.version.byteLength +
      this.slotsKeys.byteLength +
      this.slotsValues.byteLength
    );
  }

  /** The index of the node at this address, or -1. */
  find(ip: number, port: number): number {
    const key = ip * 65_536 + port;
    const mask = this.slotsKeys.length - 1;
    for (let slot = hash(key) & mask; ; slot = (slot + 1) & mask) {
      const value = this.slotsValues[slot]!;
      if (value === EMPTY) return -1;
      if (this.slotsKeys[slot] === key) return value;
    }
  }

  /** Adds a node; returns its index and whether it was new. One entry per address. */
  add(id: Uint8Array, ip: number, port: number): { index: number; added: boolean } {
    const existing = this.find(ip, port);
    if (existing !== -1) return { index: existing, added: false };
    if (this.count === this.capacity) this.grow();
    const index = this.count++;
    this.ids.set(id, index * 20);
    this.ipv4[index] = ip;
    this.ports[index] = port;
    this.insertSlot(ip * 65_536 + port, index);
    return { index, added: true };
  }

  id(index: number): Buffer {
    return this.ids.subarray(index * 20, index * 20 + 20);
  }

  host(index: number): string {
    const ip = this.ipv4[index]!;
    return `${ip >>> 24}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255}`;
  }

  address(index: number): string {
    return `${this.host(index)}:${this.ports[index]}`;
  }

  setFlag(index: number, flag: number): void {
    this.flags[index] = this.flags[index]! | flag;
  }

  clearFlag(index: number, flag: number): void {
    this.flags[index] = this.flags[index]! & ~flag;
  }

  hasFlag(index: number, flag: number): boolean {
    return (this.flags[index]! & flag) !== 0;
  }

  /** Records a client version; at most 4,096 distinct values are kept, then "other". */
  setVersion(index: number, v: Buffer | undefined): void {
    if (v === undefined) return;
    const hex = v.subarray(0, 8).toString('hex');
    let i = this.versionIndex.get(hex);
    if (i === undefined) {
      if (this.versions.length >= MAX_VERSIONS) return;
      i = this.versions.length;
      this.versions.push(hex);
      this.versionIndex.set(hex, i);
    }
    this.version[index] = i;
  }

  private insertSlot(key: number, value: number): void {
    const mask = this.slotsKeys.length - 1;
    let slot = hash(key) & mask;
    while (this.slotsValues[slot] !== EMPTY) slot = (slot + 1) & mask;
    this.slotsKeys[slot] = key;
    this.slotsValues[slot] = value;
  }

  private grow(): void {
    const capacity = this.capacity * 2;
    const ids = Buffer.alloc(20 * capacity);
    this.ids.copy(ids);
    this.ids = ids;
    this.ipv4 = extend(this.ipv4, new Uint32Array(capacity));
    this.ports = extend(this.ports, new Uint16Array(capacity));
    this.flags = extend(this.flags, new Uint16Array(capacity));
    this.nextSampleAt = extend(this.nextSampleAt, new Float64Array(capacity));
    this.rttMs = extend(this.rttMs, new Uint16Array(capacity));
    this.version = extend(this.version, new Uint16Array(capacity));
    this.capacity = capacity;
    // Rehash into a table twice the capacity (load factor <= 0.5).
    this.slotsKeys = new Float64Array(capacity * 2);
    this.slotsValues = new Int32Array(capacity * 2).fill(EMPTY);
    for (let i = 0; i < this.count; i++) this.insertSlot(this.ipv4[i]! * 65_536 + this.ports[i]!, i);
  }
}

function extend<T extends Uint8Array | Uint16Array | Uint32Array | Float64Array>(from: T, to: T): T {
  to.set(from as never);
  return to;
}

/** A 48-bit key mixed to 32 bits (multiplicative hashing of both halves). */
function hash(key: number): number {
  const lo = key % 4_294_967_296;
  const hi = Math.floor(key / 4_294_967_296);
  return (Math.imul(lo ^ Math.imul(hi, 0x9e3779b1), 0x85ebca6b) ^ (lo >>> 15)) >>> 0;
}

/** An IPv4 dotted quad as a 32-bit number, or -1. */
export function ipv4ToNumber(host: string): number {
  const parts = host.split('.');
  if (parts.length !== 4) return -1;
  let n = 0;
  for (const p of parts) {
    const v = Number(p);
    if (!Number.isInteger(v) || v < 0 || v > 255 || p === '') return -1;
    n = n * 256 + v;
  }
  return n;
}
