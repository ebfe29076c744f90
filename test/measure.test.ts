import test, { type ExecutionContext } from 'ava';
import { DhtNode } from '../bep5/node.js';
import { seededRandom } from '../bep5/random.js';
import { Crawler } from '../crawler/crawler.js';
import { type MeasurePhase, answeredSnapshot, answeredThisSweep, censusNode, measure } from '../crawler/measure.js';
import { NODE_FEATURE, NODE_FLAG, NodeIndex, ipv4ToNumber } from '../crawler/node-index.js';
import { type GroundTruth, Testnet } from '../crawler/testnet/testnet.js';
import { loopbackHost } from './helpers/udp.js';

/**
 * measure() in-process on a 300-node testnet (10% unresponsive, 20% without BEP 51), checked
 * node by node against the ground truth. Only 127.x addresses are used.
 */

// Each test file that starts a testnet uses its own address range (127.100.x.y), so they run in parallel.

let testnet: Testnet | undefined;
let truth: GroundTruth;

test.before(async () => {
  testnet = await Testnet.start({ nodes: 300, infohashes: 300, unresponsive: 0.1, noBep51: 0.2, seed: 21, addressBase: 100 });
  truth = testnet.groundTruth;
});

test.after.always(async () => {
  await testnet?.stop();
});

function bootstrapOf(t: GroundTruth) {
  const [host, port] = t.bootstrap.split(':');
  return [{ host: host!, port: Number(port) }];
}

async function crawlerNode(t: ExecutionContext): Promise<{ node: DhtNode; crawler: Crawler }> {
  // Read-only (BEP 43), as the measure command runs: no testnet table keeps it. Loopback replies
  // take milliseconds: a short timeout stops the dead nodes from dominating the lookups.
  const node = new DhtNode({ host: loopbackHost(), port: 0, bootstrap: [truth.bootstrap], readOnly: true, adoptBep42Id: false, outgoingRate: 5_000, outgoingBurst: 500, maxInflight: 1024, queryTimeoutMs: 500 });
  await node.start();
  t.teardown(() => node.stop());
  const crawler = new Crawler({ node, bootstrap: bootstrapOf(truth), rate: 2_000, perIpRate: 100, getPeersRate: 0 });
  return { node, crawler };
}

test.serial('measure(): size within 25% of the live nodes, census and churn match the ground truth node by node', async (t) => {
  const { node, crawler } = await crawlerNode(t);
  const phases: MeasurePhase[] = [];
  const started = Date.now();
  const m = await measure({ node, crawler, targets: 64, k: 8, sweeps: 2, random: seededRandom(3), concurrency: 32, onPhase: (p) => phases.push(p) });
  const byAddress = new Map(truth.nodes.map((n) => [n.address, n]));
  const live = truth.nodes.filter((n) => n.responsive);
  t.log(
    `${Date.now() - started} ms; size ${m.size?.estimate.toFixed(0)} [${m.size?.low.toFixed(0)}, ${m.size?.high.toFixed(0)}] vs ${live.length} live; ` +
      `census ${m.census.answered}/${m.census.nodes}, BEP 51 ${m.census.bep51.share.toFixed(3)}, churn ${JSON.stringify(m.churn)}`,
  );
  t.deepEqual(phases, [{ phase: 'joining' }, { phase: 'lookups', targets: 64 }, { phase: 'sweep', sweep: 1, of: 2 }, { phase: 'sweep', sweep: 2, of: 2 }]);

  // Size: lookups converge on the live nodes; 64 targets x k = 8 in a small net is loose.
  t.true(m.lookups.converged >= 60, `${m.lookups.converged} of 64 lookups converged`);
  const size = m.size!;
  t.truthy(size, m.sizeError);
  t.true(Math.abs(size.estimate / live.length - 1) <= 0.25, `estimate ${size.estimate} vs ${live.length}`);
  t.true(size.low < size.estimate && size.estimate < size.high);
  t.is(size.confidence, 0.95);
  t.is(size.method, 'kth-distance-mle+bootstrap-percentile');

  // Census population: every node the crawler queried. Dead nodes are in the testnet's tables,
  // so nearly all 300 are known; each queried one is in the ground truth.
  const c = m.census;
  t.is(m.known, crawler.nodes.size);
  t.true(c.nodes >= 0.98 * truth.nodes.length && c.nodes <= truth.nodes.length, `${c.nodes} queried`);
  const answered: string[] = [];
  let bep51Truth = 0;
  for (let i = 0; i < crawler.nodes.size; i++) {
    const n = censusNode(crawler.nodes, i);
    const real = byAddress.get(n.address);
    t.truthy(real, `${n.address} is a testnet node`);
    t.is(n.id, real!.id);
    if (!n.answered) {
      t.is(n.bep51, null);
      t.is(n.version, null);
      continue;
    }
    t.true(real!.responsive, `${n.address} answered, so it is a responsive node`);
    answered.push(n.address);
    t.is(n.bep51, real!.bep51, `${n.address} BEP 51`);
    if (real!.bep51) bep51Truth++;
    t.is(n.version, '44530001', 'DS 0.1');
    t.true(n.rttMs > 0);
  }
  t.is(c.answered, answered.length);
  t.true(answered.length >= 0.98 * live.length, `${answered.length} of ${live.length} live nodes answered`);
  t.is(c.responseRate, c.answered / c.nodes);
  t.true(Math.abs(c.responseRate - live.length / truth.nodes.length) < 0.03, `response rate ${c.responseRate}`);
  t.deepEqual(c.bep51, {
    supported: bep51Truth,
    unsupported: c.answered - bep51Truth,
    unknown: c.nodes - c.answered,
    share: bep51Truth / c.answered,
  });
  t.true(Math.abs(c.bep51.share - 0.8) < 0.08, `BEP 51 share ${c.bep51.share} (asked for 20% without)`);
  t.is(c.bep42Share, 1, 'loopback addresses are exempt from BEP 42');
  t.deepEqual(c.versions, [{ client: 'DS', version: '0.1', count: c.answered, share: 1 }]);
  t.is(c.rtt.samples, c.answered);
  t.true(c.rtt.p50! > 0 && c.rtt.p50! <= c.rtt.p90! && c.rtt.p90! <= c.rtt.p99!);

  // A stable network: (nearly) the same nodes answered in both sweeps. A node whose replies were
  // late twice in one sweep (a busy 2-core machine) is missing from that sweep's set.
  const ch = m.churn!;
  t.truthy(ch);
  t.is(ch.after, m.sweeps[1]!.answeredThisSweep);
  t.is(ch.stayed + ch.left, ch.before);
  t.is(ch.stayed + ch.joined, ch.after);
  t.true(ch.before >= 0.97 * c.answered && ch.after >= 0.97 * c.answered, `${ch.before} and ${ch.after} of ${c.answered}`);
  t.true(ch.leftShare <= 0.03 && ch.joinedShare <= 0.03, `churn ${ch.leftShare}, ${ch.joinedShare}`);
  t.is(m.sweeps.length, 2);
  t.deepEqual(m.complete, [true, true]);
  t.deepEqual(
    m.sweeps.map((s) => s.sweep),
    [1, 2],
  );
});

test.serial('a bounded or interrupted measurement returns what it measured, marked partial', async (t) => {
  // Sweeps cut at 1 ms: the size estimate is there, the one sweep is partial, no churn.
  const first = await crawlerNode(t);
  const cut = await measure({ ...first, targets: 16, sweeps: 2, random: seededRandom(4), crawlMs: 1 });
  t.truthy(cut.size);
  t.is(cut.lookups.targets, 16);
  t.deepEqual(cut.complete, [false]);
  t.is(cut.sweeps.length, 1);
  t.is(cut.churn, undefined);

  // Aborted before anything: no estimate (and why), an empty census.
  const second = await crawlerNode(t);
  const aborted = await measure({ ...second, signal: AbortSignal.abort(), sweeps: 2 });
  t.is(aborted.size, null);
  t.regex(aborted.sizeError!, /interrupted/);
  t.deepEqual(aborted.sweeps, []);
  t.is(aborted.census.nodes, 0);
  t.is(aborted.churn, undefined);

  await t.throwsAsync(measure({ ...second, targets: 0 }), { instanceOf: RangeError });
  await t.throwsAsync(measure({ ...second, sweeps: 1.5 }), { instanceOf: RangeError });
});

test('census records from a NodeIndex: flags, versions, BEP 42 for nodes that never answered', (t) => {
  const index = new NodeIndex(4);
  const id = (b: number): Buffer => Buffer.alloc(20, b);
  const a = index.add(id(1), ipv4ToNumber('127.1.1.1'), 6881).index;
  const b = index.add(id(2), ipv4ToNumber('8.8.8.8'), 6881).index;
  const c = index.add(id(3), ipv4ToNumber('127.1.1.3'), 6881).index;
  index.setFlag(a, NODE_FLAG.QUERIED | NODE_FLAG.ANSWERED | NODE_FLAG.BEP51 | NODE_FLAG.BEP42);
  index.setVersion(a, Buffer.from('LT\x01\x23', 'latin1'));
  index.setRttMs(a, 42);
  index.setFlag(b, NODE_FLAG.QUERIED | NODE_FLAG.FAILED);
  index.setFlag(c, NODE_FLAG.ANSWERED | NODE_FLAG.NO_BEP51);
  index.setFeature(a, NODE_FEATURE.BEP32 | NODE_FEATURE.NO_BEP32 | NODE_FEATURE.NO_BEP33);
  index.setFeature(c, NODE_FEATURE.NO_BEP32 | NODE_FEATURE.BEP33 | NODE_FEATURE.SCRAPE_PROBED);
  t.deepEqual(censusNode(index, a), { id: id(1).toString('hex'), address: '127.1.1.1:6881', version: '4c540123', rttMs: 42, bep51: true, bep42: true, answered: true, bep32: true, bep33: false });
  // Never answered: BEP 42 judged from the ID others reported (0x02... is not valid for 8.8.8.8).
  t.deepEqual(censusNode(index, b), { id: id(2).toString('hex'), address: '8.8.8.8:6881', version: null, rttMs: 0, bep51: null, bep42: false, answered: false, bep32: null, bep33: null });
  t.is(censusNode(index, c).bep51, false);
  t.like(censusNode(index, c), { bep32: false, bep33: true }, 'support wins over a "not" seen before it');

  // Answered this sweep: a (visited, answered), c (answered for the first time without a visit:
  // the first sweep's bootstrap node); not b (failed), and not c once it answered before.
  t.deepEqual(answeredThisSweep(index, new Uint8Array([0, 0, 0])), [a, c]);
  t.deepEqual(answeredThisSweep(index, answeredSnapshot(index)), [a]);
});
