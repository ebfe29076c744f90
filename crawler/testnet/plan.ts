import { randomId } from '../../bep5/node-id.js';
import { randomInt, type RandomSource, seededRandom } from '../../bep5/random.js';
import { TESTNET_PORT, testnetAddress } from './addresses.js';
import { BEHAVIOUR, type NodeKind, type Profile, PROFILES } from './profiles.js';

/** What a testnet should look like; everything else follows from the seed. */
export interface TestnetOptions {
  nodes: number;
  infohashes: number;
  seed?: number;
  /** Fraction of all nodes whose address is in tables but which never answer (dead). */
  unresponsive?: number;
  /** Fraction of our nodes that answer sample_infohashes with 204 (profile `no-bep51`), when `profiles` is not given. */
  noBep51?: number;
  /** Fraction of all nodes that are bittorrent-dht nodes (npm; real foreign processes). */
  bittorrentDht?: number;
  /** How many libtorrent nodes (python3-libtorrent; real foreign processes). */
  libtorrent?: number;
  /** libtorrent's BEP 51 settings: samples per reply (its default 20) and interval in seconds (its default 21600). */
  libtorrentSamples?: number;
  libtorrentIntervalS?: number;
  /** Shares of our own nodes per behaviour profile (crawler/testnet/profiles.ts); the rest are plain dhtscope nodes. */
  profiles?: Partial<Record<Profile, number>>;
  /** Fraction of our answering nodes that leave right after the announces: gone, but still in others' tables. */
  gone?: number;
  /** Fraction of our answering nodes that leave at a random time in the first `leaveWindowMs` after the testnet is ready. */
  leaving?: number;
  leaveWindowMs?: number;
  /** Fraction of our nodes that sit behind a shared IP, 4 to an address (ports 6881-6884), as behind a NAT. */
  sharedIp?: number;
  /**
   * Fraction of our own and of the dead nodes that are on IPv6 too (BEP 32): each listens on
   * ::1 (the only IPv6 loopback address) on a port of its own, and hands out `nodes6` from an
   * IPv6 table filled as its IPv4 one is. Node 0 is one of them whenever this is above 0.
   * Foreign processes stay IPv4.
   */
  ipv6?: number;
  /** Of those IPv6 nodes, the fraction on IPv6 only (no IPv4 socket; never node 0). */
  ipv6Only?: number;
  /** Reply latency range in ms, per datagram, uniformly drawn. */
  latencyMs?: [number, number];
  /** Probability that a node's outgoing datagram is lost. */
  loss?: number;
  /** Worker processes (default: one per core, at least 1). */
  workers?: number;
  /** Distinct announcing peers (each on its own address); infohashes are spread over them. */
  announcers?: number;
  /**
   * First octet of the node addresses (127.<base>.1.1 and up; default 20); announcers follow
   * right after the nodes. Testnets with different bases can run side by side.
   */
  addressBase?: number;
}

export interface NodeSpec {
  index: number;
  id: string; // hex
  host: string;
  port: number;
  kind: NodeKind;
  /** Our nodes' behaviour profile; null for foreign and dead nodes. */
  profile: Profile | null;
  /** Answers queries at all (not dead, not BEP 43 read-only), until it leaves. */
  responsive: boolean;
  /** Answers sample_infohashes with samples. */
  bep51: boolean;
  /** The `v` it sends (hex), null for none; foreign nodes' is what they answered with. */
  version: string | null;
  /** When it leaves: 0 right after the announces (gone), else ms after the testnet is ready; null: it stays. */
  leavesAtMs: number | null;
  /** It listens on IPv4 at host:port (false: IPv6 only). */
  ipv4: boolean;
  /** Its port on ::1 when it is on IPv6 (0 until its socket is bound: the kernel picks it); null when it is not. */
  port6: number | null;
}

export interface PlannedOptions {
  nodes: number;
  infohashes: number;
  seed: number;
  unresponsive: number;
  bittorrentDht: number;
  libtorrent: number;
  libtorrentSamples: number;
  libtorrentIntervalS: number;
  profiles: Partial<Record<Profile, number>>;
  gone: number;
  leaving: number;
  leaveWindowMs: number;
  sharedIp: number;
  ipv6: number;
  ipv6Only: number;
  latencyMs: [number, number];
  loss: number;
  announcers: number;
  addressBase: number;
  workers: number;
}

export interface TestnetPlan {
  options: PlannedOptions;
  nodes: NodeSpec[];
  infohashes: string[]; // hex
  /** Announcer index for each infohash. */
  announcerOf: number[];
  announcerHosts: string[];
}

/** Nodes behind one shared IP (different ports). */
export const NODES_PER_SHARED_IP = 4;

/** A deterministic plan: the same options and seed give the same network. */
export function planTestnet(options: TestnetOptions, defaultWorkers: number): TestnetPlan {
  const seed = options.seed ?? 1;
  const random: RandomSource = seededRandom(seed);
  const draw = (): number => randomInt(random, 1_000_000) / 1_000_000;
  const unresponsive = options.unresponsive ?? 0;
  const bittorrentDht = options.bittorrentDht ?? 0;
  const profiles = options.profiles ?? (options.noBep51 ? { 'no-bep51': options.noBep51 } : {});
  const gone = options.gone ?? 0;
  const leaving = options.leaving ?? 0;
  const leaveWindowMs = options.leaveWindowMs ?? 10_000;
  const sharedIp = options.sharedIp ?? 0;
  const base = options.addressBase ?? 20;
  const pickProfile = (): Profile => {
    let r = draw();
    for (const p of PROFILES) {
      const share = profiles[p] ?? 0;
      if (r < share) return p;
      r -= share;
    }
    return 'dhtscope';
  };
  const nodes: NodeSpec[] = [];
  for (let i = 0; i < options.nodes; i++) {
    const r = draw();
    // Node 0 is the bootstrap node: one of ours, and it always answers.
    const kind: NodeKind = i === 0 ? 'dhtscope' : r < unresponsive ? 'dead' : r < unresponsive + bittorrentDht ? 'bittorrent-dht' : 'dhtscope';
    const profile = kind === 'dhtscope' ? (i === 0 ? 'dhtscope' : pickProfile()) : null;
    nodes.push(spec(i, randomId(random).toString('hex'), testnetAddress(i, base), kind, profile));
  }
  // libtorrent nodes take the place of some of our plain nodes.
  const plain = nodes.filter((n) => n.index !== 0 && n.kind === 'dhtscope' && n.profile === 'dhtscope');
  const libtorrent = Math.min(options.libtorrent ?? 0, plain.length);
  for (let n = 0; n < libtorrent; n++) {
    const at = plain.splice(randomInt(random, plain.length), 1)[0]!;
    nodes[at.index] = { ...spec(at.index, at.id, at.host, 'libtorrent', null), version: null };
  }
  for (const n of nodes) {
    if (n.index === 0 || n.kind !== 'dhtscope' || !n.responsive) continue;
    const r = draw();
    if (r < gone) n.leavesAtMs = 0;
    else if (r < gone + leaving) n.leavesAtMs = 1 + randomInt(random, Math.max(1, leaveWindowMs));
  }
  // NAT: groups of our nodes share the first one's IP, on consecutive ports.
  let group: NodeSpec[] = [];
  for (const n of nodes) {
    if (n.index === 0 || n.kind !== 'dhtscope' || draw() >= sharedIp) continue;
    if (group.length === NODES_PER_SHARED_IP) group = [];
    group.push(n);
    if (group.length > 1) {
      n.host = group[0]!.host;
      n.port = TESTNET_PORT + group.length - 1;
    }
  }
  // IPv6 from a stream of its own, so a plan without it is the plan it always was.
  const ipv6 = options.ipv6 ?? 0;
  const ipv6Only = options.ipv6Only ?? 0;
  if (ipv6 > 0) {
    const random6 = seededRandom(seed * 1_000_003 + 6);
    const draw6 = (): number => randomInt(random6, 1_000_000) / 1_000_000;
    for (const n of nodes) {
      if (n.kind !== 'dhtscope' && n.kind !== 'dead') continue;
      if (n.index !== 0 && draw6() >= ipv6) continue;
      n.port6 = 0;
      if (n.index !== 0 && draw6() < ipv6Only) n.ipv4 = false;
    }
  }
  const infohashes = Array.from({ length: options.infohashes }, () => randomId(random).toString('hex'));
  const announcers = Math.max(1, options.announcers ?? Math.min(1024, Math.ceil(options.infohashes / 16)));
  const announcerBase = base + Math.ceil(options.nodes / (254 * 254));
  const announcerHosts = Array.from({ length: announcers }, (_, i) => testnetAddress(i, announcerBase));
  const announcerOf = infohashes.map(() => randomInt(random, announcers));
  return {
    options: {
      nodes: options.nodes,
      infohashes: options.infohashes,
      seed,
      unresponsive,
      bittorrentDht,
      libtorrent,
      libtorrentSamples: options.libtorrentSamples ?? 20,
      libtorrentIntervalS: options.libtorrentIntervalS ?? 21_600,
      profiles,
      gone,
      leaving,
      leaveWindowMs,
      sharedIp,
      ipv6,
      ipv6Only,
      latencyMs: options.latencyMs ?? [0, 0],
      loss: options.loss ?? 0,
      announcers,
      addressBase: base,
      workers: Math.max(1, Math.min(options.workers ?? defaultWorkers, options.nodes)),
    },
    nodes,
    infohashes,
    announcerOf,
    announcerHosts,
  };
}

function spec(index: number, id: string, host: string, kind: NodeKind, profile: Profile | null): NodeSpec {
  const behaviour = profile === null ? undefined : BEHAVIOUR[profile];
  return {
    index,
    id,
    host,
    port: TESTNET_PORT,
    kind,
    profile,
    responsive: kind !== 'dead' && behaviour?.readOnly !== true,
    bep51: kind === 'libtorrent' || behaviour?.bep51 === true,
    version: behaviour?.version ?? null,
    leavesAtMs: null,
    ipv4: true,
    port6: null,
  };
}

/** Its IPv6 address ("[::1]:port"), or null when it is not on IPv6 (or not bound yet). */
export function ipv6AddressOf(n: NodeSpec): string | null {
  return n.port6 === null || n.port6 === 0 ? null : `[::1]:${n.port6}`;
}

/** The address the ground truth names a node by: its IPv4 one, or its IPv6 one for an IPv6-only node. */
export function addressOf(n: NodeSpec): string {
  return n.ipv4 ? `${n.host}:${n.port}` : (ipv6AddressOf(n) ?? `[::1]:${n.port6}`);
}

/** Answers queries for the whole crawl: responsive, and never leaves. */
export function isLive(n: NodeSpec): boolean {
  return n.responsive && n.leavesAtMs === null;
}
