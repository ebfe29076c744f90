/**
 * A testnet worker process: hosts a slice of the testnet's nodes (real DhtNodes on their own
 * loopback addresses), fills their routing tables the way a long-running Kademlia network
 * would have, and announces its share of the infohashes through real get_peers and
 * announce_peer traffic. Driven by the parent over IPC (see testnet.ts for the messages).
 */
import { createSocket } from 'node:dgram';
import { KrpcSocket } from '../../bep5/krpc-socket.js';
import { type DatagramSocket, type SocketFamily } from '../../bep5/krpc-socket-types.js';
import { DhtNode } from '../../bep5/node.js';
import { seededRandom } from '../../bep5/random.js';
import { ANNOUNCER_ID, TESTNET_PORT } from './addresses.js';
import { LossySocket } from './lossy-socket.js';
import { type TestnetPlan } from './plan.js';
import { BlackHole, ProfileSocket, ReceiveCounter } from './profile-socket.js';
import { BEHAVIOUR } from './profiles.js';
import { SortedIds, kademliaContacts } from './sorted-ids.js';

export type ToWorker =
  | { type: 'init'; plan: TestnetPlan; worker: number }
  /** Every IPv6 node's port on ::1, once all are bound: fill the IPv6 tables. */
  | { type: 'contacts6'; ports6: Array<[node: number, port: number]> }
  | { type: 'announce' }
  | { type: 'clock-start' }
  | { type: 'received'; from: string[] }
  | { type: 'stop' };

export type FromWorker =
  /** ports6: this worker's IPv6 nodes (and dead ones) and the ports the kernel gave them on ::1. */
  | { type: 'ready'; nodes: number; contacts: number; ports6: Array<[node: number, port: number]> }
  | { type: 'filled6'; contacts: number }
  | { type: 'announced'; stored: Array<[infohash: number, nodes: number[]]>; failures: number; confirmed: number }
  | { type: 'received'; counts: Array<[node: number, datagrams: number]>; announcers: Array<[host: string, datagrams: number]>; refusedSends: number }
  | { type: 'stopped' }
  | { type: 'error'; message: string };

const K = 8;
/** (infohash, node) announce pairs in flight per worker. */
const ANNOUNCE_CONCURRENCY = 400;
const ANNOUNCE_ATTEMPTS = 3;

let plan: TestnetPlan;
let worker = 0;
let ids: Buffer[] = [];
let sorted: SortedIds;
const nodes = new Map<number, DhtNode>();
const counters = new Map<number, ReceiveCounter>();
const profileSockets: ProfileSocket[] = [];
const blackHoles: BlackHole[] = [];
/** After the announces, the announcers' addresses stay bound and silent (foreign nodes keep queriers in their tables). */
const announcerCounters = new Map<string, ReceiveCounter>();
const leaveTimers: NodeJS.Timeout[] = [];

function send(message: FromWorker): void {
  process.send?.(message);
}

function mine(index: number): boolean {
  return index % plan.options.workers === worker;
}

async function init(): Promise<void> {
  ids = plan.nodes.map((n) => Buffer.from(n.id, 'hex'));
  sorted = new SortedIds(ids);
  const { latencyMs, loss, seed } = plan.options;
  const impaired = latencyMs[1] > 0 || loss > 0;
  let contacts = 0;
  const ports6: Array<[number, number]> = [];
  for (const spec of plan.nodes) {
    if (!mine(spec.index)) continue;
    const counter = new ReceiveCounter();
    counters.set(spec.index, counter);
    if (spec.kind === 'dead') {
      if (spec.ipv4) {
        const hole = new BlackHole(counter);
        await hole.bind(spec.port, spec.host);
        blackHoles.push(hole);
      }
      if (spec.port6 !== null) {
        const hole6 = new BlackHole(counter, 'udp6');
        await hole6.bind(0, '::1');
        blackHoles.push(hole6);
        ports6.push([spec.index, hole6.port]);
      }
      continue;
    }
    if (spec.kind !== 'dhtscope') continue; // foreign processes are hosted by the parent
    const behaviour = BEHAVIOUR[spec.profile ?? 'dhtscope'];
    const random = seededRandom(seed * 1_000_003 + spec.index);
    const socketFactory = (type: SocketFamily): DatagramSocket => {
      const inner: DatagramSocket = impaired ? new LossySocket(type, { latencyMs, loss, random }) : createSocket(type);
      // On IPv6 every node shares ::1: its port is the kernel's choice, not its IPv4 one.
      const socket = new ProfileSocket(inner, behaviour, counter, type === 'udp6');
      profileSockets.push(socket);
      return socket;
    };
    const node = new DhtNode({
      id: ids[spec.index],
      families: spec.port6 === null ? [4] : spec.ipv4 ? [4, 6] : [6],
      host: spec.host,
      host6: '::1',
      port: spec.port,
      bootstrap: [],
      // Loopback only: a testnet node never sends to the private and bogon contacts some profiles advertise.
      addressScope: 'loopback',
      adoptBep42Id: false,
      bep51: behaviour.bep51,
      version: behaviour.version === null ? null : Buffer.from(behaviour.version, 'hex'),
      readOnly: behaviour.readOnly,
      ...(behaviour.perIpRate ? { queryRatePerIp: behaviour.perIpRate.ratePerSecond, queryBurstPerIp: behaviour.perIpRate.burst, limitPrivate: true } : {}),
      random,
      socketFactory,
    });
    await node.start();
    if (spec.ipv4) contacts += fillTable(node, spec.index, random);
    if (spec.port6 !== null) ports6.push([spec.index, node.address(6)!.port]);
    nodes.set(spec.index, node);
  }
  send({ type: 'ready', nodes: nodes.size, contacts, ports6 });
}

/** With every IPv6 node's port known: their IPv6 tables, Kademlia-shaped over the IPv6 nodes alone. */
function fillTables6(ports6: Array<[number, number]>): void {
  for (const [index, port] of ports6) plan.nodes[index]!.port6 = port;
  const on6 = plan.nodes.filter((n) => n.port6 !== null).map((n) => n.index);
  const sorted6 = new SortedIds(on6.map((i) => ids[i]!));
  let added = 0;
  for (const [index, node] of nodes) {
    const table = node.table(6);
    if (table === undefined) continue;
    // A stream of its own: the IPv4 table's picks stay what they were without IPv6.
    const random = seededRandom((plan.options.seed * 1_000_003 + index) ^ 0x6666_6666);
    for (const pick of kademliaContacts(sorted6, ids[index]!, K, random)) {
      const spec = plan.nodes[on6[pick]!]!;
      if (table.recordResponse({ id: ids[spec.index]!, host: '::1', port: spec.port6! }).status === 'added') added++;
    }
  }
  send({ type: 'filled6', contacts: added });
}

/** A node leaves: its socket closes and a black hole takes its address, so packets to it are still counted. */
async function leave(index: number): Promise<void> {
  const node = nodes.get(index);
  if (node === undefined) return;
  nodes.delete(index);
  await node.stop();
  const spec = plan.nodes[index]!;
  if (spec.ipv4) {
    const hole = new BlackHole(counters.get(index)!);
    await hole.bind(spec.port, spec.host).catch(() => undefined);
    blackHoles.push(hole);
  }
  if (spec.port6 !== null) {
    const hole6 = new BlackHole(counters.get(index)!, 'udp6');
    await hole6.bind(spec.port6, '::1').catch(() => undefined);
    blackHoles.push(hole6);
  }
}

function startClock(): void {
  for (const spec of plan.nodes) {
    if (!mine(spec.index) || spec.leavesAtMs === null || spec.leavesAtMs === 0) continue;
    const timer = setTimeout(() => void leave(spec.index), spec.leavesAtMs);
    leaveTimers.push(timer);
  }
}

function received(from: string[]): void {
  const hosts = new Set(from);
  const counts: Array<[number, number]> = [];
  for (const [index, counter] of counters) counts.push([index, counter.from(hosts)]);
  const announcers: Array<[string, number]> = [...announcerCounters].map(([host, c]) => [host, c.from(hosts)]);
  send({ type: 'received', counts, announcers, refusedSends: profileSockets.reduce((n, s) => n + s.refusedSends, 0) });
}

/** Fills a node's table the way a long-running Kademlia network would have it (dead contacts included). */
function fillTable(node: DhtNode, index: number, random: ReturnType<typeof seededRandom>): number {
  const table = node.table()!;
  let added = 0;
  for (const pick of kademliaContacts(sorted, ids[index]!, K, random)) {
    const spec = plan.nodes[pick]!;
    if (!spec.ipv4) continue; // an IPv6-only node has no IPv4 address to list
    const outcome = table.recordResponse({ id: ids[pick]!, host: spec.host, port: spec.port });
    if (outcome.status === 'added') added++;
  }
  return added;
}

/** Announces this worker's share: every infohash whose announcer is one of ours. */
async function announce(): Promise<void> {
  const myAnnouncers = plan.announcerHosts.map((_, i) => i).filter((i) => i % plan.options.workers === worker);
  const sockets = new Map<number, KrpcSocket>();
  for (const a of myAnnouncers) {
    // Read-only (BEP 43): announcers are clients, not DHT nodes; storing nodes must not ping them back.
    const s = new KrpcSocket({ maxInflight: 1024, readOnly: true });
    await s.bind(TESTNET_PORT, plan.announcerHosts[a]!);
    sockets.set(a, s);
  }
  // IPv6-only nodes hear their announces from an IPv6 announcer of this worker's, on ::1.
  const socket6 = plan.nodes.some((n) => !n.ipv4) ? new KrpcSocket({ type: 'udp6', maxInflight: 1024, readOnly: true }) : undefined;
  await socket6?.bind(0, '::1');
  const jobs: Array<{ ih: number; node: number }> = [];
  plan.infohashes.forEach((hex, ih) => {
    if (!sockets.has(plan.announcerOf[ih]!)) return;
    // A real announce reaches the K closest nodes that answer; dead ones drop out of a lookup.
    for (const node of sorted.closest(Buffer.from(hex, 'hex'), K, (i) => plan.nodes[i]!.responsive)) jobs.push({ ih, node });
  });
  const stored = new Map<number, number[]>();
  let failures = 0;
  let confirmed = 0;
  let next = 0;
  const announcerId = ANNOUNCER_ID;
  const run = async (): Promise<void> => {
    while (next < jobs.length) {
      const { ih, node } = jobs[next++]!;
      const spec = plan.nodes[node]!;
      const socket = spec.ipv4 ? sockets.get(plan.announcerOf[ih]!)! : socket6!;
      const to = spec.ipv4 ? { host: spec.host, port: spec.port } : { host: '::1', port: spec.port6! };
      const infoHash = Buffer.from(plan.infohashes[ih]!, 'hex');
      let ok = false;
      for (let attempt = 0; attempt < ANNOUNCE_ATTEMPTS && !ok; attempt++) {
        try {
          const { reply } = await socket.query(to, { method: 'get_peers', id: announcerId, infoHash });
          if (reply.token === undefined) break;
          await socket.query(to, { method: 'announce_peer', id: announcerId, infoHash, port: 0, impliedPort: true, token: reply.token });
          if (spec.kind !== 'dhtscope' || !spec.ipv4) {
            // A foreign node's word is its own get_peers answer: the ground truth is what it
            // says it stores, not what we believe we sent. So is an IPv6-only node's: all its
            // announces come from ::1, one source, whose share of its store is capped.
            const check = await socket.query(to, { method: 'get_peers', id: announcerId, infoHash });
            const self = socket.address();
            if (!check.reply.values.some((p) => p.host === self.host && p.port === self.port)) continue;
            if (spec.kind !== 'dhtscope') confirmed++;
          }
          ok = true;
        } catch {
          // lost or timed out: try again
        }
      }
      if (ok) {
        const list = stored.get(ih) ?? [];
        list.push(node);
        stored.set(ih, list);
      } else failures++;
    }
  };
  await Promise.all(Array.from({ length: ANNOUNCE_CONCURRENCY }, run));
  await Promise.all([...sockets.values(), ...(socket6 ? [socket6] : [])].map((s) => s.close()));
  // libtorrent keeps announcers in its table: what is sent to them later is counted too.
  for (const a of myAnnouncers) {
    const counter = new ReceiveCounter();
    const hole = new BlackHole(counter);
    await hole.bind(TESTNET_PORT, plan.announcerHosts[a]!);
    blackHoles.push(hole);
    announcerCounters.set(plan.announcerHosts[a]!, counter);
  }
  // The gone: they took part in the announces, then left, still listed in others' tables.
  await Promise.all(plan.nodes.filter((n) => mine(n.index) && n.leavesAtMs === 0).map((n) => leave(n.index)));
  send({ type: 'announced', stored: [...stored.entries()], failures, confirmed });
}

async function stop(): Promise<void> {
  for (const t of leaveTimers) clearTimeout(t);
  await Promise.all([...nodes.values()].map((n) => n.stop()));
  await Promise.all(blackHoles.map((h) => h.close()));
  send({ type: 'stopped' });
  process.disconnect?.();
  process.exit(0);
}

process.on('message', (message: ToWorker) => {
  const task =
    message.type === 'init'
      ? ((plan = message.plan), (worker = message.worker), init())
      : message.type === 'contacts6'
        ? Promise.resolve(fillTables6(message.ports6))
        : message.type === 'announce'
          ? announce()
          : message.type === 'clock-start'
            ? Promise.resolve(startClock())
            : message.type === 'received'
              ? Promise.resolve(received(message.from))
              : stop();
  task.catch((err: unknown) => send({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) }));
});

// The parent going away (crash, SIGKILL) must not leave thousands of sockets behind.
process.on('disconnect', () => process.exit(0));
