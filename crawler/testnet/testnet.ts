import { type ChildProcess, fork } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { dirname } from 'node:path';
import { KrpcSocket } from '../../bep5/krpc-socket.js';
import { childModule } from '../../bep5/child-module.js';
import { seededRandom } from '../../bep5/random.js';
import { ANNOUNCER_ID, TESTNET_PORT, testnetAddress } from './addresses.js';
import { type ForeignContact, ForeignHost, type ForeignKind } from './foreign-host.js';
import { type TestnetOptions, type TestnetPlan, addressOf, ipv6AddressOf, isLive, planTestnet } from './plan.js';
import { type NodeKind, type Profile } from './profiles.js';
import { SortedIds, kademliaContacts } from './sorted-ids.js';
import type { FromWorker, ToWorker } from './worker.js';
import { TestnetError } from '../errors.js';

/**
 * A realistic DHT on loopback: N real nodes spread over worker processes (one per core),
 * routing tables filled as a long-running network would have them, infohashes announced
 * through real get_peers / announce_peer traffic, and a ground-truth file that says what a
 * perfect crawler would find. Used by `dhtscope testnet`, tests, benchmarks and demos.
 */

export interface GroundTruthNode {
  id: string;
  /** Its IPv4 address ("127.x.y.z:port"), or for an IPv6-only node its IPv6 one ("[::1]:port"). */
  address: string;
  /** Its IPv6 address on ::1 when it is on IPv6 (BEP 32), else null. */
  address6: string | null;
  kind: NodeKind;
  /** Our nodes' behaviour profile (crawler/testnet/profiles.ts); null for foreign and dead ones. */
  profile: Profile | null;
  /** Answers queries (not dead, not BEP 43 read-only), at least until it leaves. */
  responsive: boolean;
  /** Responsive and never leaves: what a crawl should reach. */
  live: boolean;
  /** Answers sample_infohashes with samples. */
  bep51: boolean;
  /** The `v` it sends (hex) or null; for foreign nodes, what they answered a ping with. */
  version: string | null;
  /** 0: left right after the announces (gone, still in tables); n: leaves n ms after ready; null: stays. */
  leavesAtMs: number | null;
}

export interface GroundTruth {
  seed: number;
  bootstrap: string;
  /** Node 0's IPv6 address when the testnet has IPv6 nodes, else null. */
  bootstrap6: string | null;
  options: TestnetPlan['options'];
  nodes: GroundTruthNode[];
  /**
   * infohash (hex) → addresses (`address`) of the nodes that stored it. For foreign and IPv6-only
   * nodes, only what the node itself confirmed with a get_peers answer after the announce.
   */
  infohashes: Record<string, string[]>;
  /** The foreign processes: implementation and the settings they run with (libtorrent's BEP 51 ones included). */
  foreign: Array<{ kind: ForeignKind; implementation: string; nodes: number; settings: Record<string, string | number | boolean>; sampleCount?: number; sampleIntervalS?: number }>;
  /** infohash (hex) → the announcing peer's IPv4 address (IPv6-only nodes got it from their worker's IPv6 announcer). */
  peers: Record<string, string>;
  /** Announces that failed (lost on an impaired network). */
  announceFailures: number;
}

export interface TestnetProgress {
  phase: 'starting' | 'announcing' | 'ready';
  workersReady?: number;
  nodes?: number;
}

/**
 * Foreign nodes per child process. A bittorrent-dht node answers find_node with its whole
 * table (hundreds of contacts), so one JavaScript process saturates a core at about a thousand
 * such answers a second: at 10,000 nodes, 3,000 of them in one process left a quarter of them
 * unanswered in a 3,000 queries/s sweep. Smaller processes share both cores.
 */
const FOREIGN_NODES_PER_PROCESS = 500;

/** The ID the testnet's version probe pings with. */
const PROBE_ID = Buffer.alloc(20, 0x5a);

const WORKER = childModule(import.meta.url, './worker');

export class Testnet {
  private stopped = false;

  private constructor(
    readonly plan: TestnetPlan,
    readonly groundTruth: GroundTruth,
    readonly groundTruthPath: string | undefined,
    private readonly workers: ChildProcess[],
    private readonly foreign: ForeignHost[],
  ) {}

  /** The foreign processes (bittorrent-dht, libtorrent): their own tables and counts, for benchmarks and tests. */
  get foreignHosts(): readonly ForeignHost[] {
    return this.foreign;
  }

  /** The bootstrap address ("host:port") of the testnet: node 0, which always answers. */
  get bootstrap(): string {
    return this.groundTruth.bootstrap;
  }

  static async start(
    options: TestnetOptions & { groundTruthPath?: string; onProgress?: (p: TestnetProgress) => void },
  ): Promise<Testnet> {
    if (!Number.isInteger(options.nodes) || options.nodes < 1) throw new TestnetError('nodes must be a positive integer');
    if (!Number.isInteger(options.infohashes) || options.infohashes < 0) throw new TestnetError('infohashes must be a non-negative integer');
    const plan = planTestnet(options, availableParallelism());
    const workers: ChildProcess[] = [];
    const foreign: ForeignHost[] = [];
    const progress = options.onProgress ?? (() => {});
    progress({ phase: 'starting', workersReady: 0 });
    const announcerBase = plan.options.addressBase + Math.ceil(plan.options.nodes / (254 * 254));
    // The parent's own probe address, right after the announcers: its pings are not a crawler's packets.
    const probeHost = testnetAddress(plan.announcerHosts.length, announcerBase);
    try {
      // Foreign processes first: libtorrent draws its own ID, and our nodes' tables must list
      // the ID each foreign node really answers with.
      for (const kind of ['bittorrent-dht', 'libtorrent'] as const) {
        const specs = plan.nodes.filter((n) => n.kind === kind).map((n) => ({ index: n.index, host: n.host, port: n.port, id: n.id }));
        for (let at = 0; at < specs.length; at += FOREIGN_NODES_PER_PROCESS) {
          const host = await ForeignHost.start(kind, specs.slice(at, at + FOREIGN_NODES_PER_PROCESS), {
            probeHost,
            ...(kind === 'libtorrent' ? { sampleCount: plan.options.libtorrentSamples, sampleIntervalS: plan.options.libtorrentIntervalS } : {}),
          });
          foreign.push(host);
          for (const [index, id] of host.ids()) plan.nodes[index]!.id = id;
        }
      }
      for (let w = 0; w < plan.options.workers; w++) {
        // DHTSCOPE_WORKER_NODE_ARGS passes extra node flags to workers, e.g. "--cpu-prof" for profiling.
        const extra = (process.env.DHTSCOPE_WORKER_NODE_ARGS ?? '').split(' ').filter(Boolean);
        workers.push(fork(WORKER.path, [], { execArgv: [...WORKER.execArgv, ...extra], serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
      }
      let ready = 0;
      const ports6: Array<[number, number]> = [];
      await Promise.all(
        workers.map(async (child, w) => {
          const reply = expect(child, 'ready');
          child.send({ type: 'init', plan, worker: w } satisfies ToWorker);
          ports6.push(...(await reply).ports6);
          progress({ phase: 'starting', workersReady: ++ready });
        }),
      );
      // IPv6 nodes share ::1, each on the port the kernel gave it: known only now, so their
      // IPv6 tables are filled now.
      if (ports6.length > 0) {
        for (const [index, port] of ports6) plan.nodes[index]!.port6 = port;
        await Promise.all(
          workers.map(async (child) => {
            const reply = expect(child, 'filled6');
            child.send({ type: 'contacts6', ports6 } satisfies ToWorker);
            await reply;
          }),
        );
      }
      // Foreign tables, Kademlia-shaped like ours, once our nodes answer (libtorrent only keeps
      // a contact that answered it).
      const sorted = new SortedIds(plan.nodes.map((n) => Buffer.from(n.id, 'hex')));
      for (const host of foreign) {
        const contacts = new Map<number, ForeignContact[]>();
        for (const spec of host.specs) {
          const random = seededRandom(plan.options.seed * 1_000_003 + spec.index);
          const picks = kademliaContacts(sorted, Buffer.from(plan.nodes[spec.index]!.id, 'hex'), host.kind === 'bittorrent-dht' ? 20 : 8, random).filter((i) => plan.nodes[i]!.ipv4);
          contacts.set(spec.index, picks.map((i) => ({ id: plan.nodes[i]!.id, host: plan.nodes[i]!.host, port: plan.nodes[i]!.port })));
        }
        await host.addContacts(contacts);
      }
      await recordForeignVersions(plan, foreign, probeHost);
      progress({ phase: 'announcing' });
      const results = await Promise.all(
        workers.map(async (child) => {
          const reply = expect(child, 'announced');
          child.send({ type: 'announce' } satisfies ToWorker);
          return reply;
        }),
      );
      // Announcers and probes are clients, not DHT nodes: out of bittorrent-dht's tables (it adds
      // any querier) before anything crawls.
      for (const host of foreign) for (const id of [ANNOUNCER_ID, PROBE_ID]) await host.forget(id.toString('hex'));
      const truth = groundTruthOf(plan, results, foreign);
      if (options.groundTruthPath) {
        await mkdir(dirname(options.groundTruthPath), { recursive: true });
        await writeFile(options.groundTruthPath, JSON.stringify(truth));
      }
      for (const child of workers) child.send({ type: 'clock-start' } satisfies ToWorker);
      progress({ phase: 'ready', nodes: plan.nodes.length });
      return new Testnet(plan, truth, options.groundTruthPath, workers, foreign);
    } catch (err) {
      for (const child of workers) child.kill('SIGKILL');
      await Promise.all(foreign.map((f) => f.stop().catch(() => undefined)));
      throw err;
    }
  }

  /**
   * Datagrams each testnet address received from these source IPs, as the receivers counted
   * them (our nodes' sockets, the dead nodes' black holes, the foreign processes' own counts),
   * by the receiver's `address` (the announcers' addresses too: foreign nodes keep them in
   * their tables, so a crawler finds and asks them). A node on both families counts its two
   * sockets together; an IPv6 sender is named "[ip]:port", since on loopback every IPv6 sender
   * is ::1. Also what our nodes tried to send outside 127.0.0.0/8 and ::1 (refused).
   */
  async received(fromHosts: readonly string[]): Promise<{ byNode: Map<string, number>; refusedSends: number }> {
    const from = new Set(fromHosts);
    const address = (i: number): string => addressOf(this.plan.nodes[i]!);
    const byNode = new Map<string, number>();
    let refusedSends = 0;
    const replies = await Promise.all(
      this.workers.map(async (child) => {
        const reply = expect(child, 'received');
        child.send({ type: 'received', from: [...from] } satisfies ToWorker);
        return reply;
      }),
    );
    for (const r of replies) {
      refusedSends += r.refusedSends;
      for (const [i, n] of r.counts) byNode.set(address(i), (byNode.get(address(i)) ?? 0) + n);
      for (const [host, n] of r.announcers) byNode.set(`${host}:${TESTNET_PORT}`, (byNode.get(`${host}:${TESTNET_PORT}`) ?? 0) + n);
    }
    for (const host of this.foreign) {
      for (const [i, bySource] of await host.received()) {
        let n = 0;
        for (const [source, count] of bySource) if (from.has(source.slice(0, source.lastIndexOf(':')))) n += count;
        byNode.set(address(i), (byNode.get(address(i)) ?? 0) + n);
      }
    }
    return { byNode, refusedSends };
  }

  /** Stops every node and worker. Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await Promise.all(
      this.workers.map(async (child) => {
        if (child.exitCode !== null || !child.connected) return;
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        child.send({ type: 'stop' } satisfies ToWorker);
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }),
    );
    await Promise.all(this.foreign.map((f) => f.stop()));
  }
}

/** Waits for one message of the given type from a worker; an error message or exit rejects. */
function expect<T extends FromWorker['type']>(child: ChildProcess, type: T): Promise<Extract<FromWorker, { type: T }>> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: FromWorker): void => {
      if (m.type === type) {
        cleanup();
        resolve(m as Extract<FromWorker, { type: T }>);
      } else if (m.type === 'error') {
        cleanup();
        reject(new TestnetError(`testnet worker failed: ${m.message}`));
      }
    };
    const onExit = (code: number | null): void => {
      cleanup();
      reject(new TestnetError(`testnet worker exited (code ${code}) while waiting for "${type}"`));
    };
    const cleanup = (): void => {
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}

/** Asks every foreign node for its `v` (one ping each): the ground truth is what it sends. */
async function recordForeignVersions(plan: TestnetPlan, foreign: ForeignHost[], probeHost: string): Promise<void> {
  if (foreign.length === 0) return;
  const socket = new KrpcSocket({ readOnly: true, timeoutMs: 2000, maxInflight: 256 });
  await socket.bind(0, probeHost);
  try {
    const specs = foreign.flatMap((f) => [...f.specs]);
    let next = 0;
    const id = PROBE_ID;
    const run = async (): Promise<void> => {
      while (next < specs.length) {
        const spec = specs[next++]!;
        for (let attempt = 0; attempt < 3; attempt++) {
          try {
            const { v } = await socket.query({ host: spec.host, port: spec.port }, { method: 'ping', id });
            plan.nodes[spec.index]!.version = v === undefined ? null : v.toString('hex');
            break;
          } catch {
            // lost on a busy machine: ask again
          }
        }
      }
    };
    await Promise.all(Array.from({ length: 64 }, run));
  } finally {
    await socket.close();
  }
}

function groundTruthOf(plan: TestnetPlan, results: Array<Extract<FromWorker, { type: 'announced' }>>, foreign: ForeignHost[]): GroundTruth {
  const address = (i: number): string => addressOf(plan.nodes[i]!);
  const infohashes: Record<string, string[]> = {};
  const peers: Record<string, string> = {};
  let failures = 0;
  for (const r of results) {
    failures += r.failures;
    for (const [ih, stored] of r.stored) {
      const hex = plan.infohashes[ih]!;
      infohashes[hex] = [...(infohashes[hex] ?? []), ...stored.map(address)];
      peers[hex] = `${plan.announcerHosts[plan.announcerOf[ih]!]}:${TESTNET_PORT}`;
    }
  }
  return {
    seed: plan.options.seed,
    bootstrap: address(0),
    bootstrap6: ipv6AddressOf(plan.nodes[0]!),
    options: plan.options,
    nodes: plan.nodes.map((n) => ({
      id: n.id,
      address: addressOf(n),
      address6: ipv6AddressOf(n),
      kind: n.kind,
      profile: n.profile,
      responsive: n.responsive,
      live: isLive(n),
      bep51: n.bep51,
      version: n.version,
      leavesAtMs: n.leavesAtMs,
    })),
    infohashes,
    foreign: foreign.map((f) => ({
      kind: f.kind,
      implementation: f.info.implementation,
      nodes: f.specs.length,
      settings: f.info.settings,
      ...(f.info.sampleCount !== undefined ? { sampleCount: f.info.sampleCount } : {}),
      ...(f.info.sampleIntervalS !== undefined ? { sampleIntervalS: f.info.sampleIntervalS } : {}),
    })),
    peers,
    announceFailures: failures,
  };
}
