import test from 'ava';
import { DhtNode } from '../bep5/node.js';
import { census, type CensusNode } from '../crawler/census.js';
import { Crawler } from '../crawler/crawler.js';
import { censusNodes } from '../crawler/measure.js';
import { NODE_FEATURE, NODE_FLAG } from '../crawler/node-index.js';
import { EnvelopeSocket } from '../crawler/simnet/envelope-socket.js';
import { Population } from '../crawler/simnet/population.js';
import { Simulator } from '../crawler/simnet/simulator.js';
import { Bitset, sweepCensus } from '../crawler/sweep-survey.js';
import { summarizeCensus } from '../crawler/survey-summary.js';

/**
 * BEP 32 and BEP 33 support shares in the census (issue 15, item 4). BEP 33 is judged by a
 * scrape of a swarm the node stores (one of its own samples); the simulator knows, node by
 * node, which ones answer it, so every verdict the crawl reaches is checked against that.
 */

const node = (n: number, over: Partial<CensusNode> = {}): CensusNode => ({
  id: n.toString(16).padStart(40, '0'),
  address: `10.0.${n >> 8}.${n & 255}:6881`,
  version: null,
  rttMs: 100,
  bep51: null,
  bep42: false,
  answered: true,
  ...over,
});

test('the census counts BEP 32 and BEP 33 verdicts apart from the nodes without one, and the summary keeps a share only where some node had a verdict', (t) => {
  const nodes = [
    node(1, { bep32: true, bep33: true }),
    node(2, { bep32: false, bep33: false }),
    node(3, { bep32: false, bep33: true }),
    node(4, { bep32: true }),
    node(5, { bep33: null }),
  ];
  const c = census(nodes);
  t.deepEqual(c.bep32, { supported: 2, unsupported: 2, unknown: 1, share: 0.5 });
  t.deepEqual(c.bep33, { supported: 2, unsupported: 1, unknown: 2, share: 2 / 3 });
  const s = summarizeCensus(c);
  t.is(s.bep32Share, 0.5);
  t.is(s.bep33Share, 0.666667);
  const none = summarizeCensus(census([node(1), node(2, { bep32: null })]));
  t.false('bep32Share' in none, 'no verdict: no BEP 32 share, not a share of 0');
  t.false('bep33Share' in none);
});

test('the simulator answers a scrape of a swarm a node stores with filters, or with values where the node lacks BEP 33, and with nodes alone for anything else', async (t) => {
  const p = new Population({ nodes: 2_000, seed: 12, churn: 0, bep33: 0.5 });
  const sim = await Simulator.start({ population: p });
  t.teardown(() => sim.close());
  const dht = new DhtNode({ host: '127.0.0.1', port: 0, bootstrap: [], adoptBep42Id: false, socketFactory: () => new EnvelopeSocket(sim.address) });
  await dht.start();
  t.teardown(() => dht.stop());
  const socket = dht.socket(4)!;
  const of = (i: number): { host: string; port: number } => {
    const a = p.address(i);
    return { host: Population.dotted(a.ip), port: a.port };
  };
  const pick = (scrape: boolean): number => {
    for (let i = 0; i < p.size; i++) if (p.reachable(i) && !p.isSybil(i) && p.client(i).name === 'libtorrent' && p.storedCount(i) > 0 && p.answersScrape(i) === scrape) return i;
    throw new Error('no such node');
  };
  for (const scrape of [true, false]) {
    const i = pick(scrape);
    const infoHash = p.samples(i).subarray(0, 20);
    t.true(p.stores(i, infoHash));
    const r = await socket.query(of(i), { method: 'get_peers', id: dht.id, infoHash, scrape: true });
    t.is(r.reply.bfsd !== undefined && r.reply.bfpe !== undefined, scrape, `node ${i} ${scrape ? 'answers' : 'lacks'} BEP 33`);
    t.is(r.reply.values.length, scrape ? 0 : 2);
    const plain = await socket.query(of(i), { method: 'get_peers', id: dht.id, infoHash });
    t.is(plain.reply.values.length, 2, 'without scrape: the peers');
    const other = Buffer.from(infoHash);
    other[19]! ^= 1;
    t.false(p.stores(i, other));
    const elsewhere = await socket.query(of(i), { method: 'get_peers', id: dht.id, infoHash: other, scrape: true });
    t.is(elsewhere.reply.values.length, 0);
    t.is(elsewhere.reply.bfsd, undefined, 'a swarm it does not hold: no filters, supported or not');
  }
});

test('a crawl of the simulated DHT probes BEP 51 nodes with a scrape of their own samples: every verdict matches the simulator, and the census share is the truth of the probed nodes', async (t) => {
  t.timeout(120_000);
  const p = new Population({ nodes: 4_000, seed: 21, bep33: 0.6 });
  const sim = await Simulator.start({ population: p });
  t.teardown(() => sim.close());
  const dht = new DhtNode({ host: '127.0.0.1', port: 0, bootstrap: [], maxInflight: 2048, adoptBep42Id: false, socketFactory: () => new EnvelopeSocket(sim.address) });
  await dht.start();
  t.teardown(() => dht.stop());
  const bootstrap = p.bootstrap(8).map((j) => {
    const a = p.address(j);
    return { host: Population.dotted(a.ip), port: a.port };
  });
  const crawler = new Crawler({ node: dht, bootstrap, rate: 3_000, maxInflight: 1_024, perIpRate: 100, getPeersRate: 0, scrapeProbes: { first: 64, every: 4, perSweep: 1_024 } });
  await crawler.sweep();
  const nodes = crawler.nodes;
  let probed = 0;
  let judged = 0;
  let supportedTruth = 0;
  let bep51Nodes = 0;
  for (let i = 0; i < nodes.size; i++) {
    const f = nodes.features(i);
    if (nodes.hasFlag(i, NODE_FLAG.BEP51)) bep51Nodes++;
    if (f & NODE_FEATURE.SCRAPE_PROBED) probed++;
    const verdict = f & NODE_FEATURE.BEP33 ? true : f & NODE_FEATURE.NO_BEP33 ? false : null;
    if (verdict === null) continue;
    t.true((f & NODE_FEATURE.SCRAPE_PROBED) !== 0, 'a verdict only after a probe');
    t.true(nodes.hasFlag(i, NODE_FLAG.BEP51), 'only BEP 51 nodes are probed');
    const truth = p.answersScrape(p.indexOf(nodes.ipv4(i), nodes.port(i)));
    if (verdict !== truth) t.fail(`node ${nodes.address(i)}: the crawl says ${verdict}, the simulator ${truth}`);
    judged++;
    if (truth) supportedTruth++;
    t.true(nodes.features(i) & NODE_FEATURE.NO_BEP32 ? false : true, 'an IPv4-only crawl asks nothing of BEP 32');
  }
  const progress = crawler.progress();
  t.log(`${bep51Nodes} BEP 51 nodes, ${probed} probed (${progress.scrapeProbes} probes), ${judged} verdicts, ${supportedTruth} supported`);
  t.is(progress.scrapeProbes, probed, 'one probe per probed node');
  // First 64, then one in 4 of the nodes that gave samples.
  t.true(probed >= 64 + Math.floor((bep51Nodes * 0.8 - 64) / 4) - 8, `probed ${probed} of ${bep51Nodes}`);
  t.true(judged >= probed * 0.9, `nearly every probe gave a verdict (${judged} of ${probed})`);
  t.true(supportedTruth > 0 && supportedTruth < judged, 'both kinds were met');

  const fromObjects = census(censusNodes(nodes, (i) => nodes.hasFlag(i, NODE_FLAG.QUERIED | NODE_FLAG.ANSWERED)));
  t.is(fromObjects.bep33.supported, supportedTruth);
  t.is(fromObjects.bep33.supported + fromObjects.bep33.unsupported, judged);
  t.is(fromObjects.bep32.supported + fromObjects.bep32.unsupported, 0);
  const summary = sweepCensus(nodes, new Bitset(0), null);
  t.is(summary.census.bep33Share, Math.round((supportedTruth / judged) * 1e6) / 1e6, 'the one-pass census of a run sweep agrees');
  t.false('bep32Share' in summary.census, 'BEP 32 not measured in an IPv4-only crawl');
});
