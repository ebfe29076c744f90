import { formatIpv4 } from './envelope.js';
import { fmix32 } from '../fmix32.js';

/**
 * The nodes of a simulated DHT (issue 15): up to tens of millions of virtual nodes, computed on
 * demand from a seed. What is stored per node is 9 bytes: its position in the ID space (a sorted
 * Float64Array, the top 52 bits of its ID) and a byte of flags. Everything else (the rest of its
 * ID, its address, client, round-trip time, what it stores, whether it leaves during a survey,
 * and the contacts it knows) is a hash of (seed, index), so a run is reproducible and a 10 M
 * population costs about 90 MB.
 *
 * Realism, where the field notes (../shared/notes/foreign-nodes.md, the8472/mldht) say the DHT
 * is hard:
 * - a share of the nodes never answer (`unreachable`, default half): they sit in the others'
 *   tables like the stale contacts of the real DHT, so about half the contacts handed out are dead;
 * - clients as the notes describe them: libtorrent answers `sample_infohashes` (BEP 51) and 203
 *   for what it does not know, rtorrent and µTorrent 204, bittorrent-dht, Transmission and aria2
 *   stay silent; `bep51` sets libtorrent's share of the reachable nodes (default 40%);
 * - round-trip times from a log-normal, median 150 ms, clamped to 20 ms–2 s;
 * - several nodes behind one IP (other ports), a few Sybil clusters (many IDs packed into one
 *   small region of the ID space, all from one /24), and nodes that leave during the survey.
 *
 * Routing is Kademlia-shaped: node i's bucket b holds up to K of the nodes whose ID shares
 * exactly b leading bits with i's (a contiguous range of the sorted array), picked by hash; a
 * bucket with K or fewer holds them all, so every node knows its own neighbourhood.
 */

export const K = 8;
/** Virtual addresses: regular nodes from 11.0.0.0 (node i at 11.0.0.0 + i), Sybils in 12.0.x.y. They never reach the wire: the envelope carries them to the simulator on loopback. */
export const VIRTUAL_BASE = 0x0b000000;
export const SYBIL_BASE = 0x0c000000;
const SHARED_PORT_BASE = 40_000;
const SYBIL_PORT_BASE = 50_000;

export type SampleBehaviour = 'answers' | 'silent' | 'error-204' | 'error-203';

export interface ClientProfile {
  name: string;
  /** `v` in replies, or null for none. */
  version: Buffer | null;
  /** What the client does with `sample_infohashes`. */
  samples: SampleBehaviour;
  /** What it does with a method it does not know. */
  unknown: 'silent' | 'error-204' | 'error-203';
  /** Token length in get_peers replies. */
  tokenBytes: number;
}

/** Index 0 is libtorrent (the BEP 51 share); the others share the rest in these weights. */
export const CLIENTS: readonly ClientProfile[] = [
  { name: 'libtorrent', version: Buffer.from([0x4c, 0x54, 0x02, 0x08]), samples: 'answers', unknown: 'error-203', tokenBytes: 4 },
  { name: 'utorrent', version: Buffer.from([0x55, 0x54, 0x36, 0x1c]), samples: 'error-204', unknown: 'error-204', tokenBytes: 4 },
  { name: 'bittorrent-dht', version: null, samples: 'silent', unknown: 'silent', tokenBytes: 20 },
  { name: 'transmission', version: null, samples: 'silent', unknown: 'silent', tokenBytes: 8 },
  { name: 'rtorrent', version: Buffer.from([0x6c, 0x74, 0x0d, 0x80]), samples: 'error-204', unknown: 'error-204', tokenBytes: 8 },
  { name: 'aria2', version: Buffer.from([0x41, 0x32, 0x00, 0x03]), samples: 'silent', unknown: 'silent', tokenBytes: 20 },
];
/** Weights of CLIENTS[1..] among the nodes that are not libtorrent. */
const OTHER_WEIGHTS = [0.35, 0.3, 0.15, 0.1, 0.1];

export interface PopulationOptions {
  /** Virtual nodes in all, reachable or not (at most 16,000,000). */
  nodes: number;
  seed?: number;
  /** Share of nodes that never answer (default 0.5). */
  unreachable?: number;
  /** Share of the reachable nodes that run libtorrent and answer sample_infohashes (default 0.4). */
  bep51?: number;
  /**
   * Share of the BEP 51 nodes that answer a BEP 33 scrape of a swarm they store with bloom
   * filters (default 1: libtorrent does); the others answer it with `values`, as a node without
   * BEP 33 does.
   */
  bep33?: number;
  /** Share of nodes behind another node's IP, on another port (default 0.02). */
  sharedIp?: number;
  /** Sybil clusters (default 3 from 10,000 nodes up, else 0), each of `sybilSize` IDs (default 64). */
  sybilClusters?: number;
  sybilSize?: number;
  /** Share of the reachable nodes that leave during the survey (default 0.05), at a time spread over `churnWindowMs` (default 30 min) from the start. */
  churn?: number;
  churnWindowMs?: number;
}

const FLAG_REACHABLE = 1;
const FLAG_SHARED_IP = 2;
const FLAG_SYBIL = 4;
const CLIENT_SHIFT = 4;

/** A 32-bit hash of three integers (murmur3's finalizer over a simple combine): the population's only randomness. */
export function mix32(a: number, b: number, c: number): number {
  return fmix32(Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(b + 0x7f4a7c15, 0xc2b2ae35) ^ Math.imul(c ^ 0x165667b1, 0x27d4eb2f));
}

/** A uniform double in [0, 1) with 53 random bits. */
function unit(seed: number, i: number, salt: number): number {
  return (mix32(seed, i, salt) * 2 ** 21 + (mix32(seed, i, salt + 1) >>> 11)) / 2 ** 53;
}

const TWO52 = 2 ** 52;

export class Population {
  readonly size: number;
  readonly seed: number;
  /** Sorted positions in [0, 1): the top 52 bits of each node's ID. */
  private readonly pos: Float64Array;
  private readonly flags: Uint8Array;
  private readonly sybilByAddress = new Map<number, number>();
  private readonly sybilAddress = new Map<number, number>();
  readonly options: Required<PopulationOptions>;

  constructor(options: PopulationOptions) {
    const n = options.nodes;
    if (!Number.isSafeInteger(n) || n < 16 || n > 16_000_000) throw new RangeError(`nodes must be an integer in [16, 16000000], got ${n}`);
    const o: Required<PopulationOptions> = {
      nodes: n,
      seed: options.seed ?? 1,
      unreachable: options.unreachable ?? 0.5,
      bep51: options.bep51 ?? 0.4,
      bep33: options.bep33 ?? 1,
      sharedIp: options.sharedIp ?? 0.02,
      sybilClusters: options.sybilClusters ?? (n >= 10_000 ? 3 : 0),
      sybilSize: options.sybilSize ?? 64,
      churn: options.churn ?? 0.05,
      churnWindowMs: options.churnWindowMs ?? 30 * 60_000,
    };
    for (const share of [o.unreachable, o.bep51, o.bep33, o.sharedIp, o.churn]) if (!(share >= 0 && share <= 1)) throw new RangeError(`shares must be in [0, 1], got ${share}`);
    if (o.sybilClusters * o.sybilSize > n / 4) throw new RangeError('Sybil clusters may hold at most a quarter of the nodes');
    this.options = o;
    this.size = n;
    this.seed = o.seed;

    // Positions: uniform, except the Sybil clusters, packed into a 2^-30 wide region each.
    const sybils = o.sybilClusters * o.sybilSize;
    const pos = new Float64Array(n);
    for (let i = 0; i < n - sybils; i++) pos[i] = unit(o.seed, i, 1);
    const sybilPos = new Float64Array(sybils);
    for (let c = 0; c < o.sybilClusters; c++) {
      const centre = unit(o.seed, c, 3) * (1 - 2 ** -29);
      for (let m = 0; m < o.sybilSize; m++) sybilPos[c * o.sybilSize + m] = centre + unit(o.seed, c * o.sybilSize + m, 5) * 2 ** -30;
    }
    pos.set(sybilPos, n - sybils);
    pos.sort();
    this.pos = pos;

    this.flags = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      let f = 0;
      if (unit(o.seed, i, 7) >= o.unreachable) f |= FLAG_REACHABLE;
      if (i > 3 && unit(o.seed, i, 9) < o.sharedIp) f |= FLAG_SHARED_IP;
      f |= this.pickClient(i) << CLIENT_SHIFT;
      this.flags[i] = f;
    }
    // The Sybils: found by their positions, given addresses in one /24 per cluster.
    for (let s = 0; s < sybils; s++) {
      const i = this.lowerBound(sybilPos[s]!);
      const cluster = Math.floor(s / o.sybilSize);
      const address = this.packAddress(SYBIL_BASE + cluster * 256 + 1 + (s % 250), SYBIL_PORT_BASE + (s % o.sybilSize));
      this.flags[i] = (this.flags[i]! | FLAG_SYBIL | FLAG_REACHABLE) & ~FLAG_SHARED_IP;
      this.sybilByAddress.set(address, i);
      this.sybilAddress.set(i, address);
    }
  }

  private pickClient(i: number): number {
    if (unit(this.seed, i, 11) < this.options.bep51) return 0;
    let r = unit(this.seed, i, 13);
    for (let c = 0; c < OTHER_WEIGHTS.length; c++) {
      r -= OTHER_WEIGHTS[c]!;
      if (r < 0) return c + 1;
    }
    return OTHER_WEIGHTS.length;
  }

  private packAddress(ip: number, port: number): number {
    return ip * 65_536 + port;
  }

  /** Bytes of the population's own arrays (the simulator's memory per node). */
  get bytes(): number {
    return this.pos.byteLength + this.flags.byteLength;
  }

  // ---- identity ----

  /** Node i's 20-byte ID: the top 52 bits from its position, the rest hashed. */
  id(i: number, into: Buffer = Buffer.allocUnsafe(20), at = 0): Buffer {
    const v = Math.floor(this.pos[i]! * TWO52);
    const hi = Math.floor(v / 2 ** 20);
    const lo = v - hi * 2 ** 20;
    into.writeUInt32BE(hi, at);
    into[at + 4] = lo >>> 12;
    into[at + 5] = (lo >>> 4) & 0xff;
    into[at + 6] = ((lo & 0x0f) << 4) | (mix32(this.seed, i, 17) & 0x0f);
    into.writeUInt32BE(mix32(this.seed, i, 19), at + 7);
    into.writeUInt32BE(mix32(this.seed, i, 23), at + 11);
    into.writeUInt32BE(mix32(this.seed, i, 29), at + 15);
    into[at + 19] = mix32(this.seed, i, 31) & 0xff;
    return into;
  }

  /** The position (top 52 bits, as a fraction) of a 20-byte ID. */
  static positionOf(id: Uint8Array): number {
    const hi = ((id[0]! << 24) | (id[1]! << 16) | (id[2]! << 8) | id[3]!) >>> 0;
    const lo = (id[4]! << 12) | (id[5]! << 4) | (id[6]! >>> 4);
    return (hi * 2 ** 20 + lo) / TWO52;
  }

  /** First index whose position is at least p. */
  lowerBound(p: number): number {
    let lo = 0;
    let hi = this.size;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.pos[mid]! < p) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  // ---- addresses ----

  /** Node i's virtual address: IPv4 as a 32-bit number, and a port. */
  address(i: number): { ip: number; port: number } {
    const sybil = this.sybilAddress.get(i);
    if (sybil !== undefined) return { ip: Math.floor(sybil / 65_536), port: sybil % 65_536 };
    if ((this.flags[i]! & FLAG_SHARED_IP) !== 0) {
      const d = 1 + (mix32(this.seed, i, 37) % 3);
      return { ip: VIRTUAL_BASE + i - d, port: SHARED_PORT_BASE + d };
    }
    return { ip: VIRTUAL_BASE + i, port: 1024 + (mix32(this.seed, i, 41) % 38_000) };
  }

  /** The node at a virtual address, or -1. */
  indexOf(ip: number, port: number): number {
    const sybil = this.sybilByAddress.get(this.packAddress(ip, port));
    if (sybil !== undefined) return sybil;
    const j = ip - VIRTUAL_BASE;
    if (j < 0 || j >= this.size) return -1;
    const i = port >= SHARED_PORT_BASE ? j + (port - SHARED_PORT_BASE) : j;
    if (i < 0 || i >= this.size) return -1;
    const a = this.address(i);
    return a.ip === ip && a.port === port ? i : -1;
  }

  static dotted(ip: number): string {
    return formatIpv4(ip);
  }

  // ---- behaviour ----

  /** Answers at all (at the start of the survey). */
  reachable(i: number): boolean {
    return (this.flags[i]! & FLAG_REACHABLE) !== 0;
  }

  /** Answers at `elapsedMs` after the start: reachable and not yet left. */
  liveAt(i: number, elapsedMs: number): boolean {
    if (!this.reachable(i)) return false;
    if ((this.flags[i]! & FLAG_SYBIL) !== 0) return true;
    if (unit(this.seed, i, 43) >= this.options.churn) return true;
    return elapsedMs < unit(this.seed, i, 47) * this.options.churnWindowMs;
  }

  isSybil(i: number): boolean {
    return (this.flags[i]! & FLAG_SYBIL) !== 0;
  }

  sharesIp(i: number): boolean {
    return (this.flags[i]! & FLAG_SHARED_IP) !== 0;
  }

  client(i: number): ClientProfile {
    return CLIENTS[this.flags[i]! >>> CLIENT_SHIFT]!;
  }

  /** Round-trip time of one query to node i: log-normal around a per-node median, 20 ms–2 s. */
  rttMs(i: number, query: number): number {
    // A per-node median (log-normal, median 150 ms, sigma 0.6) and ±20% per packet.
    const z = gaussian(unit(this.seed, i, 53), unit(this.seed, i, 59));
    const base = 150 * Math.exp(0.6 * z);
    const jitter = 0.8 + 0.4 * unit(this.seed, i * 31 + query, 61);
    return Math.min(2_000, Math.max(20, base * jitter));
  }

  /** How many infohashes node i stores (what sample_infohashes reports as `num`). */
  storedCount(i: number): number {
    return mix32(this.seed, i, 67) % 50;
  }

  /** Whether node i answers a scrape of a swarm it stores with BEP 33 filters (only BEP 51 nodes store anything here). */
  answersScrape(i: number): boolean {
    return this.client(i).samples === 'answers' && unit(this.seed, i, 79) < this.options.bep33;
  }

  /** Whether node i stores `infoHash` (one of its `storedCount` infohashes, as `samples` lists them). */
  stores(i: number, infoHash: Buffer): boolean {
    if (this.client(i).samples !== 'answers') return false;
    const n = this.storedCount(i);
    for (let s = 0; s < n; s++) {
      let w = 0;
      while (w < 5 && infoHash.readUInt32BE(w * 4) === mix32(this.seed, i * 64 + s, 71 + w)) w++;
      if (w === 5) return true;
    }
    return false;
  }

  /** Up to `max` of node i's stored infohashes, 20 bytes each, concatenated. */
  samples(i: number, max = 20): Buffer {
    const n = Math.min(max, this.storedCount(i));
    const out = Buffer.allocUnsafe(n * 20);
    for (let s = 0; s < n; s++) for (let w = 0; w < 5; w++) out.writeUInt32BE(mix32(this.seed, i * 64 + s, 71 + w), s * 20 + w * 4);
    return out;
  }

  // ---- routing ----

  /** The index range [from, to) of the nodes in node i's bucket `b` (IDs sharing exactly b leading bits with i's). */
  bucketRange(i: number, b: number): [number, number] {
    const p = this.pos[i]!;
    const scale = 2 ** (b + 1);
    const own = Math.floor(p * scale);
    const other = own ^ 1;
    return [this.lowerBound(other / scale), this.lowerBound((other + 1) / scale)];
  }

  /** The contacts node i keeps in bucket b: all of them when K or fewer, else K picked by hash. */
  bucket(i: number, b: number, out: number[] = []): number[] {
    const [from, to] = this.bucketRange(i, b);
    const count = to - from;
    if (count <= K) {
      for (let j = from; j < to; j++) out.push(j);
      return out;
    }
    const start = out.length;
    for (let attempt = 0; out.length - start < K && attempt < 4 * K; attempt++) {
      const j = from + (mix32(this.seed, i * 64 + b, 73 + attempt) % count);
      let seen = false;
      for (let x = start; x < out.length; x++) if (out[x] === j) seen = true;
      if (!seen) out.push(j);
    }
    return out;
  }

  /**
   * The K contacts node i knows closest to `target` (what its find_node, get_peers and
   * sample_infohashes replies carry): its bucket holding the target's side, then the buckets
   * nearer to itself, ordered by XOR distance to the target.
   */
  closestKnown(i: number, target: Uint8Array, k = K): number[] {
    const own = this.id(i);
    let cpl = 0;
    while (cpl < 160) {
      const x = own[cpl >>> 3]! ^ target[cpl >>> 3]!;
      if (x === 0) {
        cpl += 8 - (cpl & 7);
        continue;
      }
      cpl = (cpl & ~7) + Math.clz32(x) - 24;
      break;
    }
    // Beyond 50 bits the buckets are a node or two wide (positions are 52 bits): the rest is the neighbourhood.
    const candidates: number[] = [];
    for (let b = Math.min(cpl, 50); b <= 50 && candidates.length < 2 * k; b++) this.bucket(i, b, candidates);
    if (candidates.length < k) for (let j = Math.max(0, i - k); j < Math.min(this.size, i + k + 1); j++) if (j !== i && !candidates.includes(j)) candidates.push(j);
    const ids = candidates.map((j) => this.id(j));
    const order = candidates.map((_, x) => x).sort((a, b) => xorCompare(ids[a]!, ids[b]!, target));
    return order.slice(0, k).map((x) => candidates[x]!);
  }

  /** Contacts as compact IPv4 node info (BEP 5: 20-byte ID, 4-byte IP, 2-byte port each). */
  compactNodes(indices: readonly number[]): Buffer {
    const out = Buffer.allocUnsafe(indices.length * 26);
    indices.forEach((j, x) => {
      const a = this.address(j);
      this.id(j, out, x * 26);
      out.writeUInt32BE(a.ip, x * 26 + 20);
      out.writeUInt16BE(a.port, x * 26 + 24);
    });
    return out;
  }

  /** A few reachable nodes spread over the ID space, for the crawler to start from. */
  bootstrap(count = 8): number[] {
    const out: number[] = [];
    for (let c = 0; c < count; c++) {
      let j = Math.floor(((c + 0.5) / count) * this.size);
      while (j < this.size - 1 && (!this.reachable(j) || this.isSybil(j))) j++;
      out.push(j);
    }
    return out;
  }
}

function gaussian(u1: number, u2: number): number {
  return Math.sqrt(-2 * Math.log(1 - u1)) * Math.cos(2 * Math.PI * u2);
}

function xorCompare(a: Uint8Array, b: Uint8Array, target: Uint8Array): number {
  for (let x = 0; x < 20; x++) {
    const da = a[x]! ^ target[x]!;
    const db = b[x]! ^ target[x]!;
    if (da !== db) return da - db;
  }
  return 0;
}
