import { randomId } from '../../bep5/node-id.js';
import { randomInt, type RandomSource, seededRandom } from '../../bep5/random.js';
import { TESTNET_PORT, testnetAddress } from './addresses.js';

/** What a testnet should look like; everything else follows from the seed. */
export interface TestnetOptions {
  nodes: number;
  infohashes: number;
  seed?: number;
  /** Fraction of nodes whose address is in tables but which never answer. */
  unresponsive?: number;
  /** Fraction of responsive nodes that answer sample_infohashes with 204 (no BEP 51). */
  noBep51?: number;
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
  responsive: boolean;
  bep51: boolean;
}

export interface TestnetPlan {
  options: Required<Omit<TestnetOptions, 'workers'>> & { workers: number };
  nodes: NodeSpec[];
  infohashes: string[]; // hex
  /** Announcer index for each infohash. */
  announcerOf: number[];
  announcerHosts: string[];
}

/** A deterministic plan: the same options and seed give the same network. */
export function planTestnet(options: TestnetOptions, defaultWorkers: number): TestnetPlan {
  const seed = options.seed ?? 1;
  const random: RandomSource = seededRandom(seed);
  const fraction = (p: number): boolean => randomInt(random, 1_000_000) < p * 1_000_000;
  const unresponsive = options.unresponsive ?? 0;
  const noBep51 = options.noBep51 ?? 0;
  const base = options.addressBase ?? 20;
  const nodes: NodeSpec[] = [];
  for (let i = 0; i < options.nodes; i++) {
    // Node 0 is the bootstrap node and always answers.
    const responsive = i === 0 || !fraction(unresponsive);
    nodes.push({
      index: i,
      id: randomId(random).toString('hex'),
      host: testnetAddress(i, base),
      port: TESTNET_PORT,
      responsive,
      bep51: !fraction(noBep51),
    });
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
      noBep51,
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
