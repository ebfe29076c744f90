/**
 * A testnet worker process: hosts a slice of the testnet's nodes (real DhtNodes on their own
 * loopback addresses), fills their routing tables the way a long-running Kademlia network
 * would have, and announces its share of the infohashes through real get_peers and
 * announce_peer traffic. Driven by the parent over IPC (see testnet.ts for the messages).
 */
import { KrpcSocket, type SocketFamily } from '../../bep5/krpc-socket.js';
import { DhtNode } from '../../bep5/node.js';
import { randomInt, seededRandom } from '../../bep5/random.js';
import { TESTNET_PORT } from './addresses.js';
import { LossySocket } from './lossy-socket.js';
import { type TestnetPlan } from './plan.js';
import { SortedIds } from './sorted-ids.js';

export type ToWorker =
  | { type: 'init'; plan: TestnetPlan; worker: number }
  | { type: 'announce' }
  | { type: 'stop' };

export type FromWorker =
  | { type: 'ready'; nodes: number; contacts: number }
  | { type: 'announced'; stored: Array<[infohash: number, nodes: number[]]>; failures: number }
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
const nodes: DhtNode[] = [];

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
  for (const spec of plan.nodes) {
    if (!mine(spec.index) || !spec.responsive) continue;
    const random = seededRandom(seed * 1_000_003 + spec.index);
    const node = new DhtNode({
      id: ids[spec.index],
      host: spec.host,
      port: spec.port,
      bootstrap: [],
      allowPrivate: true,
      adoptBep42Id: false,
      bep51: spec.bep51,
      random,
      socketFactory: impaired ? (type: SocketFamily) => new LossySocket(type, { latencyMs, loss, random }) : undefined,
    });
    await node.start();
    contacts += fillTable(node, spec.index, random);
    nodes.push(node);
  }
  send({ type: 'ready', nodes: nodes.length, contacts });
}

/**
 * What a node's table holds after a long life in a Kademlia network: for each bucket, up to
 * K random members of that bucket's range (dead ones included, as in real tables).
 */
function fillTable(node: DhtNode, index: number, random: ReturnType<typeof seededRandom>): number {
  const table = node.table()!;
  const id = ids[index]!;
  let added = 0;
  for (let bits = 0; bits < 160; bits++) {
    const [start, end] = sorted.prefixRange(id, bits);
    if (end - start <= 1) break; // only this node shares the prefix: deeper buckets are empty
    const members = sorted.bucketMembers(id, bits);
    for (let n = 0; n < K && members.length > 0; n++) {
      const pick = members.splice(randomInt(random, members.length), 1)[0]!;
      const spec = plan.nodes[pick]!;
      const outcome = table.recordResponse({ id: ids[pick]!, host: spec.host, port: spec.port });
      if (outcome.status === 'added') added++;
    }
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
  const jobs: Array<{ ih: number; node: number }> = [];
  plan.infohashes.forEach((hex, ih) => {
    if (!sockets.has(plan.announcerOf[ih]!)) return;
    // A real announce reaches the K closest nodes that answer; dead ones drop out of a lookup.
    for (const node of sorted.closest(Buffer.from(hex, 'hex'), K, (i) => plan.nodes[i]!.responsive)) jobs.push({ ih, node });
  });
  const stored = new Map<number, number[]>();
  let failures = 0;
  let next = 0;
  const announcerId = Buffer.alloc(20, 0xa5);
  const run = async (): Promise<void> => {
    while (next < jobs.length) {
      const { ih, node } = jobs[next++]!;
      const socket = sockets.get(plan.announcerOf[ih]!)!;
      const spec = plan.nodes[node]!;
      const to = { host: spec.host, port: spec.port };
      const infoHash = Buffer.from(plan.infohashes[ih]!, 'hex');
      let ok = false;
      for (let attempt = 0; attempt < ANNOUNCE_ATTEMPTS && !ok; attempt++) {
        try {
          const { reply } = await socket.query(to, { method: 'get_peers', id: announcerId, infoHash });
          if (reply.token === undefined) break;
          await socket.query(to, { method: 'announce_peer', id: announcerId, infoHash, port: 0, impliedPort: true, token: reply.token });
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
  await Promise.all([...sockets.values()].map((s) => s.close()));
  send({ type: 'announced', stored: [...stored.entries()], failures });
}

async function stop(): Promise<void> {
  await Promise.all(nodes.map((n) => n.stop()));
  send({ type: 'stopped' });
  process.disconnect?.();
  process.exit(0);
}

process.on('message', (message: ToWorker) => {
  const task =
    message.type === 'init'
      ? ((plan = message.plan), (worker = message.worker), init())
      : message.type === 'announce'
        ? announce()
        : stop();
  task.catch((err: unknown) => send({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) }));
});

// The parent going away (crash, SIGKILL) must not leave thousands of sockets behind.
process.on('disconnect', () => process.exit(0));
