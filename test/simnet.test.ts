import test from 'ava';
import { DhtNode } from '../bep5/node.js';
import { KrpcRemoteError, KrpcTimeoutError } from '../bep5/errors.js';
import { Crawler } from '../crawler/crawler.js';
import { type Discovery, type DiscoverySink } from '../crawler/discovery.js';
import { wrap } from '../crawler/simnet/envelope.js';
import { EnvelopeSocket } from '../crawler/simnet/envelope-socket.js';
import { CLIENTS, K, Population, VIRTUAL_BASE } from '../crawler/simnet/population.js';
import { Simulator } from '../crawler/simnet/simulator.js';
import { createSocket } from 'node:dgram';

/**
 * The simulated DHT of issue 15 (crawler/simnet/): a population computed from a seed, its
 * Kademlia-shaped routing, the simulator answering over real UDP on loopback through the
 * envelope, and the real crawler sweeping it.
 */

const xorLess = (a: Buffer, b: Buffer, t: Buffer): number => {
  for (let x = 0; x < 20; x++) {
    const d = (a[x]! ^ t[x]!) - (b[x]! ^ t[x]!);
    if (d !== 0) return d;
  }
  return 0;
};

test('a population: sorted IDs, addresses that map back to their node, the shares and times asked for, and dense Sybil clusters', (t) => {
  const p = new Population({ nodes: 50_000, seed: 9 });
  t.deepEqual(new Population({ nodes: 50_000, seed: 9 }).id(1234), p.id(1234), 'the same seed gives the same nodes');
  const seen = new Set<number>();
  let reachable = 0;
  let libtorrent = 0;
  let shared = 0;
  const rtts: number[] = [];
  for (let i = 0; i < p.size; i++) {
    if (i > 0) t.true(Buffer.compare(p.id(i - 1), p.id(i)) <= 0 || Population.positionOf(p.id(i - 1)) === Population.positionOf(p.id(i)), `IDs sorted at ${i}`);
    const a = p.address(i);
    if (p.indexOf(a.ip, a.port) !== i) t.fail(`address of ${i} maps back to ${p.indexOf(a.ip, a.port)}`);
    const key = a.ip * 65_536 + a.port;
    if (seen.has(key)) t.fail(`two nodes at one address (${i})`);
    seen.add(key);
    if (p.reachable(i)) {
      reachable++;
      if (p.client(i) === CLIENTS[0]) libtorrent++;
    }
    if (p.sharesIp(i)) shared++;
    rtts.push(p.rttMs(i, 1));
  }
  t.is(p.indexOf(VIRTUAL_BASE + 10, 1), -1, 'a port no node listens on is nobody');
  t.true(Math.abs(reachable / p.size - 0.5) < 0.02, `reachable ${reachable}`);
  t.true(Math.abs(libtorrent / reachable - 0.4) < 0.02, `libtorrent among the reachable ${libtorrent}`);
  t.true(shared > 0.01 * p.size, 'some nodes share an IP');
  rtts.sort((a, b) => a - b);
  t.true(rtts[0]! >= 20 && rtts.at(-1)! <= 2_000);
  t.true(Math.abs(rtts[rtts.length >> 1]! - 150) < 20, `median RTT ${rtts[rtts.length >> 1]}`);
  // Sybils: 3 clusters of 64, each in one /24 and packed into a tiny region of the ID space.
  const sybils = Array.from({ length: p.size }, (_, i) => i).filter((i) => p.isSybil(i));
  t.is(sybils.length, 3 * 64);
  const clusters = new Map<number, number[]>();
  for (const i of sybils) {
    const slash24 = p.address(i).ip >>> 8;
    clusters.set(slash24, [...(clusters.get(slash24) ?? []), i]);
  }
  t.is(clusters.size, 3);
  for (const members of clusters.values()) {
    const span = Population.positionOf(p.id(Math.max(...members))) - Population.positionOf(p.id(Math.min(...members)));
    t.true(span < 2 ** -29, 'a cluster is packed');
  }
});

test('routing: a bucket holds nodes sharing exactly b bits; lookups over closestKnown converge on the closest reachable nodes', (t) => {
  const p = new Population({ nodes: 30_000, seed: 4 });
  const bit = (id: Buffer, b: number): number => (id[b >>> 3]! >>> (7 - (b & 7))) & 1;
  for (const i of [5, 777, 12_345, 29_999]) {
    const own = p.id(i);
    for (const b of [0, 3, 9, 14]) {
      for (const j of p.bucket(i, b)) {
        const other = p.id(j);
        for (let x = 0; x < b; x++) if (bit(own, x) !== bit(other, x)) t.fail(`node ${j} in bucket ${b} of ${i} differs at bit ${x}`);
        t.not(bit(own, b), bit(other, b));
      }
      t.true(p.bucket(i, b).length <= K);
    }
  }
  // Iterative lookups (alpha 3, reachable nodes only answer) from a bootstrap node, against brute force.
  const reachable = Array.from({ length: p.size }, (_, i) => i).filter((i) => p.reachable(i));
  const ids = Array.from({ length: p.size }, (_, i) => p.id(i));
  const [start] = p.bootstrap(1);
  let recall = 0;
  let closest3 = 0;
  const TARGETS = 40;
  for (let n = 0; n < TARGETS; n++) {
    const target = p.id((n * 7_919) % p.size);
    target[19] = target[19]! ^ 0x5a;
    const truth = [...reachable].sort((a, b) => xorLess(ids[a]!, ids[b]!, target)).slice(0, K);
    const candidates = new Set<number>([start!]);
    const asked = new Set<number>();
    for (;;) {
      const best = [...candidates].filter((c) => p.reachable(c)).sort((a, b) => xorLess(ids[a]!, ids[b]!, target));
      const next = best.slice(0, K).filter((c) => !asked.has(c)).slice(0, 3);
      if (next.length === 0) break;
      for (const c of next) {
        asked.add(c);
        for (const j of p.closestKnown(c, target)) candidates.add(j);
      }
    }
    const result = [...candidates].filter((c) => p.reachable(c)).sort((a, b) => xorLess(ids[a]!, ids[b]!, target)).slice(0, K);
    recall += truth.filter((x) => result.includes(x)).length / K / TARGETS;
    if (truth.slice(0, 3).every((x) => result.includes(x))) closest3++;
  }
  // As in the real DHT, a node knows only K of a wide bucket: the last of the K closest can be missed.
  t.true(closest3 >= 0.95 * TARGETS, `${closest3} of ${TARGETS} lookups found the 3 closest reachable nodes`);
  t.true(recall >= 0.8, `recall of the ${K} closest reachable nodes ${recall.toFixed(3)}`);
});

test('the simulator over real UDP: each client answers as the notes say, the unreachable stay silent, and every packet is counted for its node', async (t) => {
  const p = new Population({ nodes: 2_000, seed: 5, churn: 0 });
  const sim = await Simulator.start({ population: p });
  t.teardown(() => sim.close());
  const node = new DhtNode({ host: '127.0.0.1', port: 0, bootstrap: [], adoptBep42Id: false, socketFactory: () => new EnvelopeSocket(sim.address) });
  await node.start();
  t.teardown(() => node.stop());
  const of = (i: number): { host: string; port: number } => {
    const a = p.address(i);
    return { host: Population.dotted(a.ip), port: a.port };
  };
  const find = (name: string, reachable = true): number => {
    for (let i = 0; i < p.size; i++) if (p.reachable(i) === reachable && p.client(i).name === name && !p.isSybil(i)) return i;
    throw new Error(`no ${name}`);
  };
  const target = p.id(100);
  const socket = node.socket(4)!;
  const id = node.id;
  const lt = find('libtorrent');
  const answer = await socket.query(of(lt), { method: 'find_node', id, target });
  t.is(answer.reply.nodes?.length, K, 'find_node: K contacts');
  t.deepEqual(answer.v, CLIENTS[0]!.version!, 'with libtorrent\'s v');
  t.deepEqual(answer.reply.id, p.id(lt));
  const sampled = await socket.query(of(lt), { method: 'sample_infohashes', id, target });
  t.is(sampled.reply.samples?.length, Math.min(20, p.storedCount(lt)));
  t.is(sampled.reply.num, p.storedCount(lt));

  const ut = find('utorrent');
  await t.throwsAsync(socket.query(of(ut), { method: 'sample_infohashes', id, target }), { instanceOf: KrpcRemoteError, message: /204/ });
  const silent = find('bittorrent-dht');
  await t.throwsAsync(socket.query(of(silent), { method: 'sample_infohashes', id, target }, { timeoutMs: 2_500 }), { instanceOf: KrpcTimeoutError });
  t.is((await socket.query(of(silent), { method: 'find_node', id, target })).reply.nodes?.length, K, 'but find_node is answered');
  const dead = find('libtorrent', false);
  await t.throwsAsync(socket.query(of(dead), { method: 'ping', id }, { timeoutMs: 2_500 }), { instanceOf: KrpcTimeoutError });

  t.is(sim.received[lt], 2);
  t.is(sim.received[ut], 1);
  t.is(sim.received[silent], 2);
  t.is(sim.received[dead], 1);
  t.is(sim.packetsToNodes(), 6);
  t.like(sim.stats(), { toUnreachable: 1, ignored: 1, errors: 1, replies: 3, unknown: 0 });

  // Not an envelope, or for no node: counted, dropped.
  const raw = createSocket('udp4');
  t.teardown(() => raw.close());
  await new Promise<void>((resolve) => raw.send(Buffer.from('hello'), sim.address.port, sim.address.host, () => resolve()));
  await new Promise<void>((resolve) => raw.send(wrap(VIRTUAL_BASE + 3, 1, Buffer.from('d1:y1:qe')), sim.address.port, sim.address.host, () => resolve()));
  const deadline = Date.now() + 5_000;
  while (sim.stats().unknown < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  t.is(sim.stats().unknown, 2);
});

test('the real crawler sweeps a simulated DHT: nearly every live node reached, packets counted at the simulator', async (t) => {
  t.timeout(120_000);
  const p = new Population({ nodes: 6_000, seed: 6 });
  const sim = await Simulator.start({ population: p });
  t.teardown(() => sim.close());
  const node = new DhtNode({ host: '127.0.0.1', port: 0, bootstrap: [], maxInflight: 2048, adoptBep42Id: false, socketFactory: () => new EnvelopeSocket(sim.address) });
  await node.start();
  t.teardown(() => node.stop());
  const nodesSeen = new Set<string>();
  const sink: DiscoverySink = { write: (e: Discovery) => void (e.type === 'node' && nodesSeen.add(e.address)), close: async () => {} };
  const bootstrap = p.bootstrap(8).map((j) => {
    const a = p.address(j);
    return { host: Population.dotted(a.ip), port: a.port };
  });
  const crawler = new Crawler({ node, bootstrap, rate: 3_000, maxInflight: 1_024, perIpRate: 100, getPeersRate: 0, sink });
  const summary = await crawler.sweep();
  const { live, reached } = sim.coverage();
  const packets = sim.packetsToNodes();
  t.log(`${reached} of ${live} live nodes reached (${((100 * reached) / live).toFixed(2)}%), ${(packets / live).toFixed(2)} packets per live node at the simulator, ${summary.queriesSent} queries by the crawler's count`);
  t.true(reached >= 0.95 * live, 'at least 95% of the live nodes answered the crawler');
  t.is(packets, summary.queriesSent, 'the simulator counted every packet the crawler says it sent');
  t.is(sim.stats().unknown, 0, 'every packet was for a simulated node');
  // The simulator counts a node reached when it sends a reply; a reply that comes after the
  // crawler's timeout (a busy machine: CI runs other suites beside this one) is not one the
  // crawler can report. 98%: one CI run of 862bcbd had fewer than 99% at 2.78 packets per node.
  t.true(nodesSeen.size >= reached * 0.98, `the sink heard of the nodes that answered (${nodesSeen.size} of ${reached})`);
});
