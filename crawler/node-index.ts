import { formatIp } from '../bep5/ip.js';
import { ClientVersions } from './client-versions.js';
import { fmix32, keyedHash2, slotOf, tableKey } from './fmix32.js';

/**
 * Every node a crawl has heard of, kept compactly: columns of typed arrays (ID, IPv4 address,
 * port, flags, extension verdicts, next sample time, RTT, version) in fixed chunks, and an
 * open-addressing table from address to index that stores only the index. 37 bytes per node in
 * the columns and 6–8.5 in the table, no object per node, so 10 million nodes take about 460 MB.
 *
 * IPv6 nodes (BEP 32) live in the same columns, so every part of the crawl that reads flags,
 * IDs or RTTs sees both families alike: the IPV6 flag marks them, their 16 address bytes are in
 * an IPv6 column of their own (chunked too, allocated with the first IPv6 node), and their
 * `ipv4` cell holds their place in it. An IPv6 node costs 16 bytes more; an IPv4-only crawl
 * holds exactly what it held before.
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
  /** Outside the crawl's partition (crawler/id-partition.ts): passed on to its own, never visited. */
  FOREIGN: 1 << 12,
  /**
   * Two bits: times a timeout of this node came while the kernel dropped datagrams (its reply
   * may have been among them), each followed by another try instead of a verdict.
   */
  DROP_RETRY_1: 1 << 13,
  DROP_RETRY_2: 1 << 14,
  /** Its address is IPv6 (BEP 32): 16 bytes in the IPv6 column, its `ipv4` cell their place there. Never cleared. */
  IPV6: 1 << 15,
} as const;

/**
 * What a node showed of the BEP 32 and BEP 33 extensions (a column of its own: every bit of
 * `flags` is taken). Verdicts for the census, kept across sweeps; "supported" wins over "not".
 */
export const NODE_FEATURE = {
  /** It answered over IPv6, or handed out IPv6 contacts (`nodes6`): it speaks BEP 32. */
  BEP32: 1 << 0,
  /** It answered a query that asked `want: n6` with no IPv6 contact. */
  NO_BEP32: 1 << 1,
  /** A get_peers with `scrape` for an infohash it stores came back with BFsd and BFpe (BEP 33). */
  BEP33: 1 << 2,
  /** The same get_peers came back with `values` and no filters: it has the swarm and ignores `scrape`. */
  NO_BEP33: 1 << 3,
  /** A BEP 33 probe was sent to it (crawler/scrape-probes.ts): at most one per node per crawl. */
  SCRAPE_PROBED: 1 << 4,
} as const;

/** A NODE_FEATURE verdict: support wins over a "not" seen earlier; null without either. */
export function featureVerdict(features: number, yes: number, no: number): boolean | null {
  return features & yes ? true : features & no ? false : null;
}

/** The DROP_RETRY bits together, and how far to shift them to read the count (0-3). */
export const DROP_RETRY_MASK = NODE_FLAG.DROP_RETRY_1 | NODE_FLAG.DROP_RETRY_2;
export const DROP_RETRY_SHIFT = 13;

/** The flags that describe one sweep only; a new sweep clears them. */
export const SWEEP_FLAGS =
  NODE_FLAG.QUERIED | NODE_FLAG.FAILED | NODE_FLAG.SEEN_THIS_SWEEP | NODE_FLAG.RETRIED | NODE_FLAG.SAMPLE_SILENT | NODE_FLAG.RESAMPLE | NODE_FLAG.MORE_SAMPLES | DROP_RETRY_MASK;

/**
 * Nodes per chunk. The columns grow a chunk at a time, so a crawl never holds more than one
 * partly used chunk (about 0.6 MB) and never copies what it has: doubling flat arrays left up
 * to half of them unused and needed old and new side by side while copying (1.6 GB at 10 M).
 */
const CHUNK_BITS = 14;
const CHUNK = 1 << CHUNK_BITS;
const CHUNK_MASK = CHUNK - 1;

/** The address table grows by half when more than this share of its slots is used. */
const MAX_LOAD = 0.7;
const GROWTH = 1.5;

/** One chunk of every column, for CHUNK nodes. */
interface Chunk {
  ids: Buffer;
  ipv4: Uint32Array;
  ports: Uint16Array;
  flags: Uint16Array;
  /** NODE_FEATURE bits. */
  features: Uint8Array;
  /** Seconds since the crawl started before which this node may not be sampled again (BEP 51 interval). */
  nextSampleS: Uint32Array;
  /** Last round-trip time in ms (0 = unknown; capped at 65,535). */
  rttMs: Uint16Array;
  /** Index into `versions` (0 = none seen). */
  version: Uint16Array;
}

const CHUNK_BYTES = CHUNK * (20 + 4 + 2 + 2 + 1 + 4 + 2 + 2);
/** The IPv6 column: 16 bytes per IPv6 node, in chunks of CHUNK addresses. */
const V6_CHUNK_BYTES = CHUNK * 16;

export class NodeIndex {
  private count = 0;
  private readonly chunks: Chunk[] = [];
  /** IPv6 addresses, 16 bytes each, by their place (an IPv6 node's `ipv4` cell). */
  private readonly v6Chunks: Buffer[] = [];
  private v6Count = 0;
  /**
   * Open addressing from address to node: slot holds node index + 1 (0 = empty); the key is
   * read back from the columns, so a slot costs 4 bytes. Any table size works: the home slot
   * is the hash scaled to the size (multiply-shift), which lets the table grow by half.
   */
  private slots: Int32Array;
  private slotCount: number;
  /** The address table's hash key (crawler/fmix32.ts tableKey): secret, so no sender can aim at a slot. */
  private readonly key = tableKey();

  /**
   * @param expectedNodes sizes the address table (it grows past this as needed).
   * @param clientVersions the version numbering (shared between crawls that learn together).
   */
  constructor(
    expectedNodes = 1024,
    readonly clientVersions: ClientVersions = new ClientVersions(),
  ) {
    this.slotCount = Math.max(16, Math.ceil(expectedNodes / MAX_LOAD));
    this.slots = new Int32Array(this.slotCount);
  }

  get size(): number {
    return this.count;
  }

  /** Bytes held by this index (for the "memory per known node" figure). */
  get bytes(): number {
    return this.chunks.length * CHUNK_BYTES + this.v6Chunks.length * V6_CHUNK_BYTES + this.slots.byteLength;
  }

  /** IPv6 nodes in the index. */
  get ipv6Count(): number {
    return this.v6Count;
  }

  /** The index of the IPv4 node at this address, or -1. */
  find(ip: number, port: number): number {
    const slots = this.slots;
    const n = this.slotCount;
    for (let slot = homeSlot(ip, port, n, this.key); ; slot = slot + 1 === n ? 0 : slot + 1) {
      const value = slots[slot]!;
      if (value === 0) return -1;
      const i = value - 1;
      const c = this.chunks[i >>> CHUNK_BITS]!;
      const o = i & CHUNK_MASK;
      if (c.ipv4[o] === ip && c.ports[o] === port && (c.flags[o]! & NODE_FLAG.IPV6) === 0) return i;
    }
  }

  /** The index of the IPv6 node at this address (16 bytes), or -1. */
  find6(ip: Uint8Array, port: number): number {
    const slots = this.slots;
    const n = this.slotCount;
    for (let slot = homeSlot(fold16(ip, this.key), port, n, this.key); ; slot = slot + 1 === n ? 0 : slot + 1) {
      const value = slots[slot]!;
      if (value === 0) return -1;
      const i = value - 1;
      const c = this.chunks[i >>> CHUNK_BITS]!;
      const o = i & CHUNK_MASK;
      if (c.ports[o] === port && (c.flags[o]! & NODE_FLAG.IPV6) !== 0 && this.v6Equals(c.ipv4[o]!, ip)) return i;
    }
  }

  /** Adds an IPv4 node; returns its index and whether it was new. One entry per address. */
  add(id: Uint8Array, ip: number, port: number): { index: number; added: boolean } {
    const existing = this.find(ip, port);
    if (existing !== -1) return { index: existing, added: false };
    const index = this.append(id, ip, port, 0);
    if (this.count > this.slotCount * MAX_LOAD) this.growSlots();
    else this.insertSlot(homeSlot(ip, port, this.slotCount, this.key), index);
    return { index, added: true };
  }

  /** Adds an IPv6 node (its 16 address bytes); returns its index and whether it was new. */
  add6(id: Uint8Array, ip: Uint8Array, port: number): { index: number; added: boolean } {
    if (ip.length !== 16) throw new RangeError(`an IPv6 address has 16 bytes, not ${ip.length}`);
    const existing = this.find6(ip, port);
    if (existing !== -1) return { index: existing, added: false };
    const place = this.v6Count++;
    if ((place & CHUNK_MASK) === 0) this.v6Chunks.push(Buffer.alloc(V6_CHUNK_BYTES));
    this.v6Chunks[place >>> CHUNK_BITS]!.set(ip, (place & CHUNK_MASK) * 16);
    const index = this.append(id, place, port, NODE_FLAG.IPV6);
    if (this.count > this.slotCount * MAX_LOAD) this.growSlots();
    else this.insertSlot(homeSlot(fold16(ip, this.key), port, this.slotCount, this.key), index);
    return { index, added: true };
  }

  private append(id: Uint8Array, ipv4Cell: number, port: number, flags: number): number {
    const index = this.count;
    if ((index & CHUNK_MASK) === 0) this.chunks.push(newChunk());
    const c = this.chunks[index >>> CHUNK_BITS]!;
    const o = index & CHUNK_MASK;
    c.ids.set(id, o * 20);
    c.ipv4[o] = ipv4Cell;
    c.ports[o] = port;
    c.flags[o] = flags;
    this.count++;
    return index;
  }

  /** Node i's ID (a view of the index's memory: copy it to keep it). */
  id(i: number): Buffer {
    const o = (i & CHUNK_MASK) * 20;
    return this.chunks[i >>> CHUNK_BITS]!.ids.subarray(o, o + 20);
  }

  /** The first 4 bytes of node i's ID as an unsigned 32-bit number. */
  idPrefix32(i: number): number {
    return this.chunks[i >>> CHUNK_BITS]!.ids.readUInt32BE((i & CHUNK_MASK) * 20);
  }

  /** Node i's IPv4 address as a 32-bit number; 0 for an IPv6 node. */
  ipv4(i: number): number {
    const c = this.chunks[i >>> CHUNK_BITS]!;
    const o = i & CHUNK_MASK;
    return c.flags[o]! & NODE_FLAG.IPV6 ? 0 : c.ipv4[o]!;
  }

  /** Whether node i's address is IPv6. */
  isIpv6(i: number): boolean {
    return (this.flags(i) & NODE_FLAG.IPV6) !== 0;
  }

  /** Node i's 16 IPv6 address bytes (a view of the index's memory); undefined for an IPv4 node. */
  ipv6(i: number): Buffer | undefined {
    const c = this.chunks[i >>> CHUNK_BITS]!;
    const o = i & CHUNK_MASK;
    return c.flags[o]! & NODE_FLAG.IPV6 ? this.v6Bytes(c.ipv4[o]!) : undefined;
  }

  /** Node i's address bytes: its IPv6 ones (a view), or its IPv4 ones written into `scratch` (4 bytes, reused by loops). */
  ipBytes(i: number, scratch: Buffer = Buffer.alloc(4)): Buffer {
    const v6 = this.ipv6(i);
    if (v6 !== undefined) return v6;
    scratch.writeUInt32BE(this.ipv4(i) >>> 0, 0);
    return scratch;
  }

  port(i: number): number {
    return this.chunks[i >>> CHUNK_BITS]!.ports[i & CHUNK_MASK]!;
  }

  /** The address as text: a dotted quad, or canonical IPv6 (RFC 5952). */
  host(i: number): string {
    const c = this.chunks[i >>> CHUNK_BITS]!;
    const o = i & CHUNK_MASK;
    const ip = c.ipv4[o]!;
    if (c.flags[o]! & NODE_FLAG.IPV6) return formatIp(this.v6Bytes(ip));
    return `${ip >>> 24}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255}`;
  }

  /** "ip:port", or "[ipv6]:port": the form of a Discovery's addresses (crawler/discovery.ts). */
  address(i: number): string {
    return this.isIpv6(i) ? `[${this.host(i)}]:${this.port(i)}` : `${this.host(i)}:${this.port(i)}`;
  }

  flags(i: number): number {
    return this.chunks[i >>> CHUNK_BITS]!.flags[i & CHUNK_MASK]!;
  }

  setFlag(i: number, flag: number): void {
    const f = this.chunks[i >>> CHUNK_BITS]!.flags;
    f[i & CHUNK_MASK] = f[i & CHUNK_MASK]! | flag;
  }

  clearFlag(i: number, flag: number): void {
    const f = this.chunks[i >>> CHUNK_BITS]!.flags;
    f[i & CHUNK_MASK] = f[i & CHUNK_MASK]! & ~flag;
  }

  hasFlag(i: number, flag: number): boolean {
    return (this.flags(i) & flag) !== 0;
  }

  features(i: number): number {
    return this.chunks[i >>> CHUNK_BITS]!.features[i & CHUNK_MASK]!;
  }

  setFeature(i: number, feature: number): void {
    const f = this.chunks[i >>> CHUNK_BITS]!.features;
    f[i & CHUNK_MASK] = f[i & CHUNK_MASK]! | feature;
  }

  /** Clears `flag` on every node (a new sweep). */
  clearFlagEverywhere(flag: number): void {
    for (const c of this.chunks) for (let o = 0; o < CHUNK; o++) c.flags[o] = c.flags[o]! & ~flag;
  }

  /** Last round-trip time in ms, 0 when unknown. */
  rttMs(i: number): number {
    return this.chunks[i >>> CHUNK_BITS]!.rttMs[i & CHUNK_MASK]!;
  }

  /** Records a round-trip time (rounded, 1 to 65,535 ms). */
  setRttMs(i: number, ms: number): void {
    this.chunks[i >>> CHUNK_BITS]!.rttMs[i & CHUNK_MASK] = Math.min(65_535, Math.max(1, Math.round(ms)));
  }

  /** ms since the crawl started before which node i may not be sampled again (0 = any time). */
  nextSampleAtMs(i: number): number {
    return this.chunks[i >>> CHUNK_BITS]!.nextSampleS[i & CHUNK_MASK]! * 1000;
  }

  /** Sets it, rounded up to whole seconds (BEP 51 intervals are seconds; 32 bits of them outlast any crawl). */
  setNextSampleAtMs(i: number, ms: number): void {
    this.chunks[i >>> CHUNK_BITS]!.nextSampleS[i & CHUNK_MASK] = Math.min(0xffff_ffff, Math.max(0, Math.ceil(ms / 1000)));
  }

  /** Node i's index into `versions` (0 = none seen). */
  version(i: number): number {
    return this.chunks[i >>> CHUNK_BITS]!.version[i & CHUNK_MASK]!;
  }

  /** Distinct `v` strings seen (hex; index 0 = none). */
  get versions(): readonly string[] {
    return this.clientVersions.list;
  }

  /** Records a client version; past MAX_VERSIONS distinct values a new one is not kept. */
  setVersion(i: number, v: Buffer | undefined): void {
    if (v === undefined) return;
    const n = this.clientVersions.intern(v);
    if (n !== 0) this.chunks[i >>> CHUNK_BITS]!.version[i & CHUNK_MASK] = n;
  }

  /**
   * Keeps the nodes `keep` says yes to and forgets the others, in place: the kept ones keep their
   * order and move down to fill the gaps, the chunks past the last are released, and the address
   * table is rebuilt for the new count. Returns each old index's new one (-1: forgotten); every
   * node index held elsewhere must be mapped through it. O(nodes), no allocation per node.
   * Why: a crawl that sweeps for months (`run`) hears of nodes that leave and never come back;
   * without forgetting them its memory would grow with the network's history, not its size.
   */
  compact(keep: (i: number) => boolean): Int32Array {
    const remap = new Int32Array(this.count);
    let kept = 0;
    let v6Kept = 0;
    for (let i = 0; i < this.count; i++) {
      if (!keep(i)) {
        remap[i] = -1;
        continue;
      }
      remap[i] = kept;
      const from = this.chunks[i >>> CHUNK_BITS]!;
      const o = i & CHUNK_MASK;
      const to = this.chunks[kept >>> CHUNK_BITS]!;
      const p = kept & CHUNK_MASK;
      if (i !== kept) {
        from.ids.copy(to.ids, p * 20, o * 20, o * 20 + 20);
        to.ipv4[p] = from.ipv4[o]!;
        to.ports[p] = from.ports[o]!;
        to.flags[p] = from.flags[o]!;
        to.features[p] = from.features[o]!;
        to.nextSampleS[p] = from.nextSampleS[o]!;
        to.rttMs[p] = from.rttMs[o]!;
        to.version[p] = from.version[o]!;
      }
      if (to.flags[p]! & NODE_FLAG.IPV6) {
        // IPv6 places were handed out in index order, so a kept node's place only moves down.
        const place = to.ipv4[p]!;
        if (place !== v6Kept) this.v6Bytes(v6Kept).set(this.v6Bytes(place));
        to.ipv4[p] = v6Kept++;
      }
      kept++;
    }
    this.count = kept;
    this.v6Count = v6Kept;
    this.chunks.length = Math.ceil(kept / CHUNK);
    this.v6Chunks.length = Math.ceil(v6Kept / CHUNK);
    // A node added later starts from zeros in every column, as in a new chunk.
    const last = this.chunks[kept >>> CHUNK_BITS];
    if (last !== undefined) {
      const o = kept & CHUNK_MASK;
      last.ids.fill(0, o * 20);
      for (const column of [last.ipv4, last.ports, last.flags, last.features, last.nextSampleS, last.rttMs, last.version]) column.fill(0, o);
    }
    this.rebuildSlots(Math.max(16, Math.ceil(kept / MAX_LOAD)));
    return remap;
  }

  private insertSlot(home: number, index: number): void {
    const slots = this.slots;
    const n = this.slotCount;
    let slot = home;
    while (slots[slot] !== 0) slot = slot + 1 === n ? 0 : slot + 1;
    slots[slot] = index + 1;
  }

  private growSlots(): void {
    this.rebuildSlots(Math.ceil(this.slotCount * GROWTH));
  }

  private rebuildSlots(slotCount: number): void {
    this.slotCount = slotCount;
    this.slots = new Int32Array(this.slotCount);
    for (let i = 0; i < this.count; i++) {
      const c = this.chunks[i >>> CHUNK_BITS]!;
      const o = i & CHUNK_MASK;
      const ip = c.flags[o]! & NODE_FLAG.IPV6 ? fold16(this.v6Bytes(c.ipv4[o]!), this.key) : c.ipv4[o]!;
      this.insertSlot(homeSlot(ip, c.ports[o]!, this.slotCount, this.key), i);
    }
  }

  private v6Bytes(place: number): Buffer {
    const at = (place & CHUNK_MASK) * 16;
    return this.v6Chunks[place >>> CHUNK_BITS]!.subarray(at, at + 16);
  }

  private v6Equals(place: number, ip: Uint8Array): boolean {
    const chunk = this.v6Chunks[place >>> CHUNK_BITS]!;
    const at = (place & CHUNK_MASK) * 16;
    for (let b = 0; b < 16; b++) if (chunk[at + b] !== ip[b]) return false;
    return true;
  }
}

function newChunk(): Chunk {
  return {
    ids: Buffer.alloc(20 * CHUNK),
    ipv4: new Uint32Array(CHUNK),
    ports: new Uint16Array(CHUNK),
    flags: new Uint16Array(CHUNK),
    features: new Uint8Array(CHUNK),
    nextSampleS: new Uint32Array(CHUNK),
    rttMs: new Uint16Array(CHUNK),
    version: new Uint16Array(CHUNK),
  };
}

/** 16 address bytes folded to 32 bits under the table's key, as homeSlot's `ip` (each word mixed in turn, so swapped words differ). */
function fold16(ip: Uint8Array, key: number): number {
  let h = key;
  for (let w = 0; w < 16; w += 4) h = fmix32(h ^ ((ip[w]! << 24) | (ip[w + 1]! << 16) | (ip[w + 2]! << 8) | ip[w + 3]!));
  return h;
}

/**
 * The home slot of an address in a table of n slots, keyed (crawler/fmix32.ts tableKey: the
 * addresses come from other nodes' `nodes` lists, so a hostile one could otherwise fill one
 * probe run with thousands of made-up contacts).
 */
export function homeSlot(ip: number, port: number, n: number, key: number): number {
  return slotOf(keyedHash2(ip, Math.imul(port + 1, 0x9e3779b1), key), n);
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
