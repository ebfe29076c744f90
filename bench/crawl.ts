/**
 * Crawl benchmark: one crawler sweep of a uniform testnet (only plain dhtscope nodes, 20%
 * unresponsive, 10% without BEP 51) and of a mixed one (real bittorrent-dht and libtorrent
 * processes, our nodes in the behaviour profiles of other clients, 20% dead or gone), the
 * same size, side by side. Reports time to 99% of the live nodes, coverage of nodes and of the
 * infohashes BEP 51 nodes hold, sustained RPC/s, packets per live node as the receivers counted
 * them, and crawler memory per known node.
 *
 *   node --expose-gc --import ./scripts/ts-node-register.mjs bench/crawl.ts [nodes] [infohashes] [rate] [uniform,mixed]
 *
 * Our nodes' datagrams are delayed 50–300 ms; the foreign processes answer at loopback speed
 * (their sockets are theirs). Only loopback addresses are used. The testnet runs in other
 * processes, so this process's memory is the crawler's (plus the testnet controller's plan).
 */
import { DhtNode } from '../bep5/node.js';
import { Crawler } from '../crawler/crawler.js';
import { type Discovery, type DiscoverySink } from '../crawler/discovery.js';
import { NODE_FLAG } from '../crawler/node-index.js';
import { type TestnetOptions } from '../crawler/testnet/plan.js';
import { MIXED_NETWORK } from '../crawler/testnet/profiles.js';
import { Testnet } from '../crawler/testnet/testnet.js';

const nodes = Number(process.argv[2] ?? 10_000);
const infohashes = Number(process.argv[3] ?? 10_000);
const rate = Number(process.argv[4] ?? 3_000);
const networks = (process.argv[5] ?? 'uniform,mixed').split(',');

const NETWORKS: Record<string, { about: string; options: Partial<TestnetOptions> }> = {
  uniform: { about: 'uniform: 20% dead, 10% without BEP 51', options: { unresponsive: 0.2, noBep51: 0.1 } },
  mixed: {
    about: 'mixed: 30% bittorrent-dht, 4 libtorrent, our nodes in profiles, 10% dead + gone',
    options: { ...MIXED_NETWORK, unresponsive: 0.1, gone: 0.15, sharedIp: 0.04 },
  },
};

async function sweep(name: string): Promise<Array<[string, string]>> {
  const built = Date.now();
  const testnet = await Testnet.start({ nodes, infohashes, latencyMs: [50, 300], seed: 7, addressBase: 60, ...NETWORKS[name]!.options });
  const truth = testnet.groundTruth;
  const live = new Set(truth.nodes.filter((n) => n.live).map((n) => n.address));
  console.log(`${name}: ${nodes} nodes (${live.size} live), ${infohashes} infohashes, built in ${((Date.now() - built) / 1000).toFixed(1)} s`);

  global.gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  const host = '127.8.8.8';
  const node = new DhtNode({ host, port: 0, bootstrap: [truth.bootstrap], maxInflight: 4096, adoptBep42Id: false });
  await node.start();
  const [bootHost, bootPort] = truth.bootstrap.split(':');
  // Counts discoveries without keeping them: the memory figures are the crawler's own.
  const counted = { node: 0, infohash: 0, sample: 0, peers: 0 };
  const sink: DiscoverySink = { write: (e: Discovery) => void counted[e.type]++, close: async () => {} };
  const crawler = new Crawler({ node, bootstrap: [{ host: bootHost!, port: Number(bootPort) }], rate, maxInflight: 2048, perIpRate: 100, getPeersRate: 0, sink });

  const started = Date.now();
  let at99: number | undefined;
  const poll = setInterval(() => {
    let covered = 0;
    for (let i = 0; i < crawler.nodes.size; i++) if (crawler.nodes.hasFlag(i, NODE_FLAG.ANSWERED) && live.has(crawler.nodes.address(i))) covered++;
    if (at99 === undefined && covered >= 0.99 * live.size) at99 = Date.now() - started;
  }, 50);
  const summary = await crawler.sweep();
  clearInterval(poll);
  const elapsed = Date.now() - started;
  global.gc?.();
  const heapAfter = process.memoryUsage().heapUsed;
  const { byNode } = await testnet.received([host]);
  let packets = 0;
  for (const n of byNode.values()) packets += n;

  const answered = new Set<string>();
  for (let i = 0; i < crawler.nodes.size; i++) if (crawler.nodes.hasFlag(i, NODE_FLAG.ANSWERED)) answered.add(crawler.nodes.address(i));
  const coverage = [...live].filter((a) => answered.has(a)).length / live.size;
  const byKind = new Map<string, [number, number]>();
  for (const n of truth.nodes) {
    if (!n.live) continue;
    const kind = n.kind === 'dhtscope' ? 'dhtscope' : n.kind;
    const c = byKind.get(kind) ?? [0, 0];
    c[1]++;
    if (answered.has(n.address)) c[0]++;
    byKind.set(kind, c);
  }
  const bep51 = new Set(truth.nodes.filter((n) => n.live && n.bep51).map((n) => n.address));
  const held = Object.entries(truth.infohashes).filter(([, at]) => at.some((a) => bep51.has(a)));
  const ihCoverage = held.filter(([ih]) => crawler.knownInfohashes().has(ih)).length / held.length;
  const known = crawler.nodes.size;
  await node.stop();
  await testnet.stop();
  return [
    ['network', NETWORKS[name]!.about],
    ['live nodes', String(live.size)],
    ['sweep time', `${(elapsed / 1000).toFixed(1)} s`],
    ['time to 99% of live nodes', at99 === undefined ? 'not reached' : `${(at99 / 1000).toFixed(1)} s`],
    ['live nodes reached', `${(coverage * 100).toFixed(2)}%`],
    ['… by kind', [...byKind].map(([k, [a, b]]) => `${k} ${((a / b) * 100).toFixed(1)}%`).join(', ')],
    ['infohashes held by live BEP 51 nodes found', `${(ihCoverage * 100).toFixed(2)}% of ${held.length}`],
    ['queries sent (crawler count)', String(summary.queriesSent)],
    ['packets received by the testnet (receivers count)', String(packets)],
    ['packets per live node (receivers)', (packets / live.size).toFixed(2)],
    ['RPC/s sustained (whole sweep)', (summary.queriesSent / (elapsed / 1000)).toFixed(0)],
    ['node index bytes per known node', (crawler.nodes.bytes / known).toFixed(1)],
    ['heap growth per known node (incl. the infohash set)', `${((heapAfter - heapBefore) / known).toFixed(0)} B`],
    ['discoveries emitted', `${counted.node} nodes, ${counted.infohash} infohash sightings, ${counted.sample} samples`],
  ];
}

const results: Array<Array<[string, string]>> = [];
for (const name of networks) {
  if (NETWORKS[name] === undefined) throw new Error(`unknown network "${name}" (uniform, mixed)`);
  results.push(await sweep(name));
}
console.log(`\nrate limit ${rate} queries/s; our nodes' datagrams delayed 50–300 ms\n`);
console.log(`| measure | ${networks.join(' | ')} |\n| --- |${networks.map(() => ' --- |').join('')}`);
for (let row = 0; row < results[0]!.length; row++) console.log(`| ${results[0]![row]![0]} | ${results.map((r) => r[row]![1]).join(' | ')} |`);
console.log(`\nNode ${process.version}, run with --expose-gc: ${global.gc !== undefined}`);
