import test, { type ExecutionContext } from 'ava';
import { DhtNode } from '../bep5/node.js';
import { idToHex, randomIdInRange } from '../bep5/node-id.js';
import { randomInt, type RandomSource, seededRandom } from '../bep5/random.js';
import { type CensusNode, census, churn, nodeKey } from '../crawler/census.js';
import { Crawler } from '../crawler/crawler.js';
import { answeredSnapshot, answeredThisSweep, censusNode } from '../crawler/measure.js';
import { ipv4ToNumber, NODE_FLAG, NodeIndex, SWEEP_FLAGS } from '../crawler/node-index.js';
import { type SurveySummary, SURVEY_TOP_VERSIONS, summarizeCensus, summarizeChurn } from '../crawler/survey-summary.js';
import { Bitset, SweepSurveyor, sweepCensus } from '../crawler/sweep-survey.js';
import { type GroundTruth, Testnet } from '../crawler/testnet/testnet.js';
import { readSurveys, recordSurvey } from '../indexer/survey-series.js';
import { useRedisServer } from './helpers/redis.js';
import { loopbackHost } from './helpers/udp.js';
import { pollUntil } from './helpers/wait.js';

/**
 * The survey of a crawler sweep (crawler/sweep-survey.ts), one pass over the NodeIndex, against
 * what the object-per-node path (measure.ts censusNodes, census.ts census and churn) computes
 * from the same index: on synthetic indexes with every flag combination, and on a real crawl of
 * a 150-node loopback testnet (127.124.x.y) with nodes leaving between sweeps, whose surveys
 * are then recorded in a real redis-server. And the Sybil scan: a planted cluster is flagged,
 * an honest index shows none.
 */

const redis = useRedisServer(test);

/** The reference: what the census of a sweep is by the object-per-node path. */
function reference(index: NodeIndex, before: Uint8Array): { nodes: CensusNode[]; answeredKeys: string[] } {
  const now = new Set(answeredThisSweep(index, before));
  const nodes: CensusNode[] = [];
  for (let i = 0; i < index.size; i++) {
    const inSweep = index.hasFlag(i, NODE_FLAG.QUERIED) || (index.hasFlag(i, NODE_FLAG.ANSWERED) && before[i] !== 1);
    if (inSweep) nodes.push({ ...censusNode(index, i), answered: now.has(i) });
  }
  return { nodes, answeredKeys: [...now].map((i) => nodeKey({ id: idToHex(index.id(i)), address: index.address(i) })) };
}

const VERSIONS = Array.from({ length: 30 }, (_, i) => (i === 0 ? Buffer.from('LT\x02\x08', 'latin1') : i === 1 ? Buffer.from([0xff, 0x00, 0x01]) : Buffer.from(`U${String.fromCharCode(65 + (i % 26))}${String.fromCharCode(i)}\x00`, 'latin1')));

/** Adds nodes with random IDs, public and loopback addresses, versions, RTTs, and random flags of every kind. */
function addNodes(index: NodeIndex, random: RandomSource, n: number): void {
  for (let k = 0; k < n; k++) {
    const r = (bound: number): number => randomInt(random, bound);
    // A third loopback (BEP 42-exempt), the rest public: the never-answered ones get judged by their ID.
    const ip = r(3) === 0 ? (127 << 24) + r(1 << 24) : ((1 + r(220)) << 24) + r(1 << 24);
    const { index: i, added } = index.add(random.bytes(20), ip >>> 0, 1024 + r(60_000));
    if (!added) continue;
    markSweep(index, random, i);
  }
}

/** One sweep's worth of flags for node i: queried or not, answered, failed, BEP 51 verdicts, BEP 42, version, RTT. */
function markSweep(index: NodeIndex, random: RandomSource, i: number): void {
  const r = (bound: number): number => randomInt(random, bound);
  if (r(10) < 8) index.setFlag(i, NODE_FLAG.QUERIED);
  if (r(10) < 6) {
    index.setFlag(i, NODE_FLAG.ANSWERED);
    // Skewed: a few versions are common, the long tail goes to "others".
    if (r(5) > 0) index.setVersion(i, VERSIONS[Math.min(VERSIONS.length - 1, Math.floor(-Math.log(1 - r(1000) / 1000) * 6))]);
    if (r(4) > 0) index.setRttMs(i, 1 + r(900));
    if (r(2) === 0) index.setFlag(i, NODE_FLAG.BEP42);
    const b = r(3);
    if (b === 0) index.setFlag(i, NODE_FLAG.BEP51);
    if (b === 1) index.setFlag(i, NODE_FLAG.NO_BEP51);
  }
  if (r(10) === 0) index.setFlag(i, NODE_FLAG.FAILED);
}

test('one pass over the index gives the census and churn that censusNodes + census + churn give, sweep after sweep', (t) => {
  const random = seededRandom(7);
  const index = new NodeIndex();
  let before: Uint8Array = new Uint8Array(0);
  let answeredBefore = new Bitset(0);
  let answeredLast: Bitset | null = null;
  let previousKeys: string[] | null = null;
  for (let sweep = 1; sweep <= 4; sweep++) {
    // A new sweep: per-sweep flags cleared, old nodes visited again (some answer, some fail), new ones found.
    index.clearFlagEverywhere(SWEEP_FLAGS);
    for (let i = 0; i < index.size; i++) if (randomInt(random, 3) > 0) markSweep(index, random, i);
    addNodes(index, random, 3_000);

    const ref = reference(index, before);
    const got = sweepCensus(index, answeredBefore, answeredLast);
    t.deepEqual(got.census, summarizeCensus(census(ref.nodes)), `census of sweep ${sweep}`);
    t.deepEqual(got.churn, previousKeys === null ? null : summarizeChurn(churn(previousKeys, ref.answeredKeys)), `churn of sweep ${sweep}`);
    // The data exercises what it should: versions beyond the top 20, both kinds of BEP 42 verdict, churn.
    t.true(got.census.otherVersions.versions > 0 && got.census.versions.length === SURVEY_TOP_VERSIONS, JSON.stringify(got.census.otherVersions));
    t.true(got.census.bep42Share > 0 && got.census.bep42Share < 1);
    t.true(got.census.answered > 0 && got.census.answered < got.census.nodes);
    if (sweep > 1) t.true(got.churn!.left > 0 && got.churn!.joined > 0);

    before = answeredSnapshot(index);
    answeredBefore = got.answeredEver;
    answeredLast = got.answeredNow;
    previousKeys = ref.answeredKeys;
  }
  t.is(index.size, 12_000);
});

test('Bitset: set, has, count, beyond its size', (t) => {
  const b = new Bitset(100);
  for (const i of [0, 31, 32, 63, 64, 99]) b.set(i);
  t.is(b.count(), 6);
  t.true(b.has(31) && b.has(32) && b.has(99));
  t.false(b.has(1) || b.has(98) || b.has(100) || b.has(10_000));
  t.throws(() => b.set(100), { instanceOf: RangeError });
  const all = new Bitset(1_000);
  for (let i = 0; i < 1_000; i++) all.set(i);
  t.is(all.count(), 1_000);
  // Remapped after the index forgot nodes: bits follow their nodes, forgotten ones are dropped.
  const moved = b.remap(Int32Array.from({ length: 100 }, (_, i) => (i % 2 === 0 ? -1 : i >> 1)), 50);
  t.is(moved.size, 50);
  t.deepEqual([...Array(50).keys()].filter((i) => moved.has(i)), [15, 31, 49]);
});

/** An index of `honest` answered nodes with uniform IDs, and optionally a cluster of 64 IDs under one 30-bit prefix from one /24. */
function surveyedIndex(honest: number, cluster: boolean, seed: number): { index: NodeIndex; clusterPrefix: Buffer } {
  const random = seededRandom(seed);
  const index = new NodeIndex();
  for (let k = 0; k < honest; k++) {
    const { index: i } = index.add(random.bytes(20), ((1 + randomInt(random, 220)) << 24) + randomInt(random, 1 << 24), 6881);
    index.setFlag(i, NODE_FLAG.QUERIED | NODE_FLAG.ANSWERED);
  }
  const clusterPrefix = Buffer.from('5a3c0f40', 'hex');
  if (cluster) {
    for (let k = 0; k < 64; k++) {
      const { index: i } = index.add(randomIdInRange(clusterPrefix, 30, random), (((203 << 24) | (0 << 16) | (113 << 8)) >>> 0) + k, 6881);
      index.setFlag(i, NODE_FLAG.QUERIED | NODE_FLAG.ANSWERED);
    }
  }
  return { index, clusterPrefix };
}

test('Sybil regions of a sweep: a planted cluster is flagged from its one /24; an honest index shows none', (t) => {
  const planted = surveyedIndex(20_000, true, 3);
  const s = new SweepSurveyor(planted.index, seededRandom(1)).sweepDone();
  t.truthy(s.size);
  t.true(Math.abs(s.size!.estimate / 20_064 - 1) < 0.3, `estimate ${s.size!.estimate}`);
  t.is(s.sybilRegionsFound, 1);
  t.is(s.sybilRegions!.length, 1);
  const [region] = s.sybilRegions!;
  t.is(region!.nodes, 64);
  t.is(region!.distinctSlash24, 1);
  t.true(region!.prefix.startsWith('5a3c0f'), region!.prefix);
  t.true(region!.prefixBits >= 24);
  t.true(region!.expected < 0.01 && region!.log10PValue < -50, JSON.stringify(region));
  t.is(s.census.nodes, 20_064);
  t.is(s.churn, null, 'the first sweep has nothing to compare with');

  const honest = new SweepSurveyor(surveyedIndex(20_000, false, 3).index, seededRandom(1)).sweepDone();
  t.deepEqual(honest.sybilRegions, []);
  t.is(honest.sybilRegionsFound, 0);
});

// ---- a real crawl ----

let testnet: Testnet | undefined;
let truth: GroundTruth;
let readyAt = 0;

test.before(async () => {
  testnet = await Testnet.start({ nodes: 150, infohashes: 50, unresponsive: 0.1, noBep51: 0.2, leaving: 0.15, leaveWindowMs: 3_000, seed: 5, addressBase: 124 });
  readyAt = Date.now();
  truth = testnet.groundTruth;
});

test.after.always(async () => {
  await testnet?.stop();
});

async function crawlerOn(t: ExecutionContext): Promise<Crawler> {
  const node = new DhtNode({ host: loopbackHost(), port: 0, bootstrap: [truth.bootstrap], readOnly: true, adoptBep42Id: false, outgoingRate: 5_000, outgoingBurst: 500, maxInflight: 1024, queryTimeoutMs: 500 });
  await node.start();
  t.teardown(() => node.stop());
  const [host, port] = truth.bootstrap.split(':');
  return new Crawler({ node, bootstrap: [{ host: host!, port: Number(port) }], rate: 2_000, perIpRate: 100, getPeersRate: 0 });
}

test.serial('a real crawl: each sweep\'s survey equals the object-per-node census and churn, and is recorded in Redis', async (t) => {
  t.timeout(120_000);
  const { c, keys } = await redis.freshIndex(t);
  const crawler = await crawlerOn(t);
  const surveyor = new SweepSurveyor(crawler.nodes);
  const surveys: SurveySummary[] = [];
  const refs: Array<{ nodes: CensusNode[]; answeredKeys: string[] }> = [];
  let before: Uint8Array = new Uint8Array(0);
  // Registered in this order: both run synchronously at the sweep's end, before the next sweep clears its flags.
  crawler.on('sweep-done', () => {
    refs.push(reference(crawler.nodes, before));
    before = answeredSnapshot(crawler.nodes);
  });
  crawler.on('sweep-done', (sweep) => {
    const summary = surveyor.sweepDone();
    surveys.push(summary);
    void recordSurvey(c, keys, { at: readyAt + sweep.sweep, source: { kind: 'run', sweep: sweep.sweep }, ...summary });
  });

  await crawler.sweep();
  // Let every leaving node go (a scenario's pacing, not a wait for the code under test).
  const lastLeave = Math.max(...truth.nodes.map((n) => n.leavesAtMs ?? 0));
  await pollUntil(() => Date.now() > readyAt + lastLeave + 300, 'the leaving nodes to have left', 10_000);
  await crawler.sweep();

  t.is(surveys.length, 2);
  for (const [i, s] of surveys.entries()) t.deepEqual(s.census, summarizeCensus(census(refs[i]!.nodes)), `census of sweep ${i + 1}`);
  t.is(surveys[0]!.churn, null);
  t.deepEqual(surveys[1]!.churn, summarizeChurn(churn(refs[0]!.answeredKeys, refs[1]!.answeredKeys)));

  // Against the ground truth: the live nodes answer; those that left after answering in sweep 1 count as left.
  const live = truth.nodes.filter((n) => n.responsive && n.leavesAtMs === null);
  const first = surveys[0]!;
  t.true(first.census.answered >= 0.95 * live.length, `${first.census.answered} answered of ${live.length} staying live nodes`);
  t.true(first.census.nodes <= truth.nodes.length);
  const keyOf = new Map(truth.nodes.map((n) => [nodeKey(n), n]));
  const leftNodes = refs[0]!.answeredKeys.filter((k) => !refs[1]!.answeredKeys.includes(k)).map((k) => keyOf.get(k)!);
  const leavers = refs[0]!.answeredKeys.map((k) => keyOf.get(k)!).filter((n) => n.leavesAtMs !== null);
  t.true(leavers.length > 0, 'some nodes answered in sweep 1 and left before sweep 2');
  for (const n of leavers) t.true(leftNodes.includes(n), `${n.address} left`);
  t.true(surveys[1]!.churn!.left >= leavers.length);
  t.deepEqual(first.census.versions.map((v) => [v.client, v.version]), [['DS', '0.1']]);
  t.true(Math.abs(first.census.bep51.share - 0.8) < 0.12, `BEP 51 share ${first.census.bep51.share}`);
  t.true(first.size !== null && Math.abs(first.size.estimate / first.census.answered - 1) < 0.4, JSON.stringify(first.size));
  t.deepEqual(first.sybilRegions, [], 'no Sybils in the testnet');

  // Recorded as the crawl went: both, newest first, as they were computed.
  const read = await pollUntil(async () => (await readSurveys(c, keys, { limit: 10 })).total === 2, 'both surveys recorded', 10_000).then(() => readSurveys(c, keys, { limit: 10 }));
  t.is(read.skipped, 0);
  t.deepEqual(
    read.entries.map(({ at, source, ...rest }) => [at, source, rest]),
    [
      [readyAt + 2, { kind: 'run', sweep: 2 }, surveys[1]],
      [readyAt + 1, { kind: 'run', sweep: 1 }, surveys[0]],
    ],
  );
});

test.serial('a crawl that forgets dead nodes (run): never-answering contacts after one failed sweep, nodes that answered once after two; the survey follows the new indexes', async (t) => {
  t.timeout(120_000);
  const node = new DhtNode({ host: loopbackHost(), port: 0, bootstrap: [truth.bootstrap], readOnly: true, adoptBep42Id: false, outgoingRate: 5_000, outgoingBurst: 500, maxInflight: 1024, queryTimeoutMs: 500 });
  await node.start();
  t.teardown(() => node.stop());
  const [host, port] = truth.bootstrap.split(':');
  // Every leaving testnet node gone before the first sweep (a scenario's pacing).
  const lastLeave = Math.max(...truth.nodes.map((n) => n.leavesAtMs ?? 0));
  await pollUntil(() => Date.now() > readyAt + lastLeave + 300, 'the leaving nodes to have left', 10_000);
  // Three nodes of our own that answer in sweep 1 and then stop: "answered once, then gone".
  // They are bootstrap addresses of the crawl, so that it surely knows them.
  const extras = await Promise.all(
    [0, 1, 2].map(async () => {
      const n = new DhtNode({ host: loopbackHost(), port: 0, bootstrap: [], adoptBep42Id: false });
      await n.start();
      t.teardown(() => n.stop());
      return n;
    }),
  );
  const extraContacts = extras.map((n) => ({ host: n.address()!.host, port: n.address()!.port }));
  const extraAddresses = extraContacts.map((c) => `${c.host}:${c.port}`);
  const crawler = new Crawler({ node, bootstrap: [{ host: host!, port: Number(port) }, ...extraContacts], rate: 2_000, perIpRate: 100, getPeersRate: 0, forgetDeadNodes: true });

  const surveyor = new SweepSurveyor(crawler.nodes);
  const surveys: SurveySummary[] = [];
  const answeredKeys: string[][] = [];
  let before: Uint8Array = new Uint8Array(0);
  let addresses: string[] = [];
  const forgotten: string[][] = [];
  const sizes: number[] = [];
  crawler.on('sweep-done', () => {
    answeredKeys.push(answeredThisSweep(crawler.nodes, before).map((i) => nodeKey({ id: idToHex(crawler.nodes.id(i)), address: crawler.nodes.address(i) })));
    before = answeredSnapshot(crawler.nodes);
    surveys.push(surveyor.sweepDone());
    addresses = Array.from({ length: crawler.nodes.size }, (_, i) => crawler.nodes.address(i));
    sizes.push(crawler.nodes.size);
  });
  crawler.on('nodes-forgotten', ({ remap, size }) => {
    surveyor.remap(remap, size);
    const moved = new Uint8Array(size);
    remap.forEach((j, i) => {
      if (j >= 0) moved[j] = before[i]!;
    });
    before = moved;
    forgotten.push(addresses.filter((_, i) => remap[i] === -1));
    // The index answers for the forgotten and the kept alike, at once.
    for (const [i, address] of addresses.entries()) {
      const [h, p] = address.split(':');
      t.is(crawler.nodes.find(ipv4ToNumber(h!), Number(p)), remap[i]!, address);
    }
  });

  await crawler.sweep();
  for (const a of extraAddresses) t.true(answeredKeys[0]!.some((k) => k.endsWith(`@${a}`)), `${a} answered in sweep 1`);
  await Promise.all(extras.map((n) => n.stop()));
  for (let sweep = 2; sweep <= 4; sweep++) await crawler.sweep();

  const byAddress = new Map(truth.nodes.map((n) => [n.address, n]));
  const staying = (a: string): boolean => byAddress.get(a)?.responsive === true && byAddress.get(a)?.leavesAtMs === null;
  t.is(forgotten.length, 3, 'nodes forgotten before sweeps 2, 3 and 4');
  t.log(`forgotten before sweeps 2-4: ${forgotten.map((f) => f.length).join(', ')}; index after each sweep: ${sizes.join(', ')}; progress.forgotten ${crawler.progress().forgotten}`);
  // Before sweep 2: the testnet's silent and departed nodes, which never answered; none that answers.
  const silent = addresses.filter((a) => byAddress.has(a) && !staying(a));
  t.true(silent.length > 0);
  for (const a of silent) t.true(forgotten[0]!.includes(a), `${a} never answered: forgotten after one failed sweep`);
  for (const f of forgotten) for (const a of f) t.false(staying(a), `${a} answers and is never forgotten`);
  // Our three: answered in sweep 1, failed in sweeps 2 and 3, forgotten before sweep 4 and not before.
  for (const a of extraAddresses) {
    t.false(forgotten[0]!.includes(a) || forgotten[1]!.includes(a), `${a} kept after one failed sweep`);
    t.true(forgotten[2]!.includes(a), `${a} forgotten after two failed sweeps`);
  }
  t.is(crawler.progress().forgotten, forgotten.flat().length);
  // Forgotten contacts still handed out are learned again, so the index stays at the network's size.
  t.true(sizes[3]! <= sizes[0]!, `index ${sizes.join(' -> ')}`);
  // The surveyor's sets followed the nodes: each sweep's churn is what the answered nodes' keys give.
  for (let k = 1; k < 4; k++) t.deepEqual(surveys[k]!.churn, summarizeChurn(churn(answeredKeys[k - 1]!, answeredKeys[k]!)), `churn of sweep ${k + 1}`);
  t.true(surveys[1]!.churn!.left >= extras.length);
});
