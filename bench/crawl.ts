/**
 * Crawl benchmark: a 10,000-node testnet with 50–300 ms reply latency (20% unresponsive,
 * 10% without BEP 51), one crawler sweep. Reports time to 99% coverage of responsive nodes,
 * sustained RPC/s, packets sent per node discovered, and crawler memory per known node.
 *
 *   node --import ./scripts/ts-node-register.mjs bench/crawl.ts [nodes] [infohashes] [rate]
 *
 * Only loopback addresses are used. The testnet runs in worker processes, so this process's
 * memory is the crawler's (plus the testnet controller's small plan).
 */
import { DhtNode } from '../bep5/node.js';
import { Crawler } from '../crawler/crawler.js';
import { type Discovery, type DiscoverySink } from '../crawler/discovery.js';
import { NODE_FLAG } from '../crawler/node-index.js';
import { Testnet } from '../crawler/testnet/testnet.js';

const nodes = Number(process.argv[2] ?? 10_000);
const infohashes = Number(process.argv[3] ?? 10_000);
const rate = Number(process.argv[4] ?? 3_000);

const built = Date.now();
const testnet = await Testnet.start({ nodes, infohashes, unresponsive: 0.2, noBep51: 0.1, latencyMs: [50, 300], seed: 7 });
const truth = testnet.groundTruth;
const responsive = new Set(truth.nodes.filter((n) => n.responsive).map((n) => n.address));
console.log(`testnet: ${nodes} nodes (${responsive.size} responsive), ${infohashes} infohashes, built in ${((Date.now() - built) / 1000).toFixed(1)} s`);

global.gc?.();
const rssBefore = process.memoryUsage().rss;
const heapBefore = process.memoryUsage().heapUsed;
const node = new DhtNode({ host: '127.8.8.8', port: 0, bootstrap: [truth.bootstrap], maxInflight: 4096, adoptBep42Id: false });
await node.start();
const [host, port] = truth.bootstrap.split(':');
// Counts discoveries without keeping them: the memory figures are the crawler's own.
const counted = { node: 0, infohash: 0, sample: 0, peers: 0 };
const sink: DiscoverySink = { write: (e: Discovery) => void counted[e.type]++, close: async () => {} };
const crawler = new Crawler({ node, bootstrap: [{ host: host!, port: Number(port) }], rate, maxInflight: 2048, perIpRate: 100, getPeersRate: 0, sink });

const started = Date.now();
let at99: number | undefined;
const poll = setInterval(() => {
  let covered = 0;
  for (let i = 0; i < crawler.nodes.size; i++) {
    if (crawler.nodes.hasFlag(i, NODE_FLAG.ANSWERED) && responsive.has(crawler.nodes.address(i))) covered++;
  }
  if (at99 === undefined && covered >= 0.99 * responsive.size) at99 = Date.now() - started;
}, 50);
const summary = await crawler.sweep();
clearInterval(poll);
const elapsed = Date.now() - started;
global.gc?.();
const rssAfter = process.memoryUsage().rss;
const heapAfter = process.memoryUsage().heapUsed;

const answered = new Set<string>();
for (let i = 0; i < crawler.nodes.size; i++) if (crawler.nodes.hasFlag(i, NODE_FLAG.ANSWERED)) answered.add(crawler.nodes.address(i));
const coverage = [...responsive].filter((a) => answered.has(a)).length / responsive.size;
const bep51 = new Set(truth.nodes.filter((n) => n.responsive && n.bep51).map((n) => n.address));
const held = Object.entries(truth.infohashes).filter(([, at]) => at.some((a) => bep51.has(a)));
const ihCoverage = held.filter(([ih]) => crawler.knownInfohashes().has(ih)).length / held.length;
const known = crawler.nodes.size;
const rows: Array<[string, string]> = [
  ['nodes (responsive)', `${nodes} (${responsive.size})`],
  ['reply latency', '50–300 ms, uniform'],
  ['rate limit (queries/s)', String(rate)],
  ['sweep time', `${(elapsed / 1000).toFixed(1)} s`],
  ['time to 99% of responsive nodes', at99 === undefined ? 'not reached' : `${(at99 / 1000).toFixed(1)} s`],
  ['coverage after one sweep', `${(coverage * 100).toFixed(2)}% of nodes, ${(ihCoverage * 100).toFixed(2)}% of infohashes on BEP 51 nodes`],
  ['queries sent', String(summary.queriesSent)],
  ['RPC/s sustained (whole sweep)', (summary.queriesSent / (elapsed / 1000)).toFixed(0)],
  ['packets sent per node discovered', (summary.queriesSent / answered.size).toFixed(2)],
  ['node index bytes per known node', (crawler.nodes.bytes / known).toFixed(1)],
  ['heap growth per known node (incl. the infohash set)', ((heapAfter - heapBefore) / known).toFixed(0) + ' B'],
  ['discoveries emitted', `${counted.node} nodes, ${counted.infohash} infohash sightings, ${counted.sample} samples`],
  ['RSS growth per known node', ((rssAfter - rssBefore) / known).toFixed(0) + ' B'],
];
console.log(`\n| measure | value |\n| --- | --- |\n${rows.map(([k, v]) => `| ${k} | ${v} |`).join('\n')}`);
console.log(`\nNode ${process.version}, run with --expose-gc: ${global.gc !== undefined}`);
await node.stop();
await testnet.stop();
