import test from 'ava';
import { DhtNode } from '../bep5/node.js';
import { type Family } from '../bep5/node-types.js';
import { census, fromDiscoveries } from '../crawler/census.js';
import { Crawler } from '../crawler/crawler.js';
import { censusNodes } from '../crawler/measure.js';
import { featureVerdict, NODE_FEATURE, NODE_FLAG } from '../crawler/node-index.js';
import { type Discovery, MemorySink } from '../crawler/discovery.js';
import { type GroundTruth, type GroundTruthNode, Testnet } from '../crawler/testnet/testnet.js';
import { recordingSocketFactory } from './helpers/udp.js';

/**
 * The IPv6 crawl (BEP 32) on a dual-stack testnet: our nodes on 127.180.x.y (IPv4) and on ::1
 * (IPv6, the only loopback address there is, each node on a port of its own), some on IPv6
 * only; dead nodes on both; bogon-contacts nodes that also list link-local, unique-local,
 * documentation, IPv4-mapped, multicast and unspecified contacts in their nodes6. The crawler
 * starts from node 0's IPv4 address alone, so every IPv6 node it reaches it learned of from a
 * `nodes6` list. The judge is the ground truth, and where every datagram went the crawler's
 * own socket records before the kernel sees it.
 */
let testnet: Testnet;
let truth: GroundTruth;

/** Outside the testnet's addresses (127.180.x nodes, 127.181.x announcers and probe). */
const CRAWLER_HOST = '127.183.0.1';

test.before(async () => {
  testnet = await Testnet.start({
    nodes: 400,
    infohashes: 800,
    seed: 32,
    unresponsive: 0.1,
    ipv6: 0.6,
    ipv6Only: 0.25,
    profiles: { 'bogon-contacts': 0.15, silent: 0.1, 'no-bep51': 0.05 },
    addressBase: 180,
  });
  truth = testnet.groundTruth;
});

test.after.always(async () => {
  await testnet?.stop();
});

const live = (family: Family): GroundTruthNode[] => truth.nodes.filter((n) => n.live && (family === 4 ? !n.address.startsWith('[') : n.address6 !== null));

async function crawlerNode(t: { teardown: (fn: () => Promise<void>) => void }, families: Family[], destinations: Map<string, number>, addressScope: 'loopback' | 'public' = 'loopback'): Promise<DhtNode> {
  const node = new DhtNode({
    families,
    host: CRAWLER_HOST,
    host6: '::1',
    port: 0,
    bootstrap: [],
    addressScope,
    maxInflight: 1024,
    adoptBep42Id: false,
    socketFactory: recordingSocketFactory(destinations),
  });
  await node.start();
  t.teardown(() => node.stop());
  return node;
}

function hostPort(address: string): { host: string; port: number } {
  const colon = address.lastIndexOf(':');
  return { host: address.slice(0, colon).replace(/^\[|\]$/g, ''), port: Number(address.slice(colon + 1)) };
}

test.serial('the ground truth holds both families: dual-stack nodes, IPv6-only ones, dead ones on IPv6', (t) => {
  const on6 = truth.nodes.filter((n) => n.address6 !== null);
  const only6 = on6.filter((n) => n.address === n.address6);
  t.true(on6.length > 180 && on6.length < 300, `${on6.length} on IPv6`);
  t.true(only6.length > 30 && only6.length < 100, `${only6.length} on IPv6 only`);
  t.true(on6.some((n) => n.kind === 'dead'), 'dead IPv6 nodes');
  t.true(on6.every((n) => /^\[::1\]:\d+$/.test(n.address6!)));
  t.is(new Set(on6.map((n) => n.address6)).size, on6.length, 'each IPv6 node on a port of its own');
  t.is(truth.bootstrap6, truth.nodes[0]!.address6);
  t.regex(truth.bootstrap, /^127\.180\.1\.1:6881$/);
  const heldOnly6 = Object.values(truth.infohashes).filter((holders) => holders.some((a) => a.startsWith('['))).length;
  t.true(heldOnly6 > 50, `${heldOnly6} infohashes stored on IPv6-only nodes too (confirmed by them)`);
});

test.serial('one dual-stack sweep reaches ≥ 99% of the live nodes of each family and their infohashes, sends only to 127/8 and ::1', async (t) => {
  const destinations = new Map<string, number>();
  const node = await crawlerNode(t, [4, 6], destinations);
  const sink = new MemorySink();
  const crawler = new Crawler({ node, bootstrap: [hostPort(truth.bootstrap)], rate: 1000, perIpRate: 100, getPeersRate: 0, sink });
  t.deepEqual(crawler.families, [4, 6]);
  const summary = await crawler.sweep();

  const answered = new Set(sink.events.flatMap((e) => (e.type === 'node' ? [e.address] : [])));
  const reached4 = live(4).filter((n) => answered.has(n.address)).length / live(4).length;
  const reached6 = live(6).filter((n) => answered.has(n.address6!)).length / live(6).length;
  const byAddress = new Map(truth.nodes.map((n) => [n.address, n]));
  const seen = crawler.knownInfohashes();
  const found = (family: Family): number => {
    const held = Object.entries(truth.infohashes).filter(([, at]) =>
      at.some((a) => {
        const n = byAddress.get(a);
        return n !== undefined && n.live && n.bep51 && (family === 4 ? !a.startsWith('[') : n.address6 !== null);
      }),
    );
    return held.filter(([ih]) => seen.has(ih)).length / held.length;
  };
  const found4 = found(4);
  const found6 = found(6);
  t.log(
    `IPv4 ${(reached4 * 100).toFixed(1)}% of ${live(4).length} live, IPv6 ${(reached6 * 100).toFixed(1)}% of ${live(6).length} live; ` +
      `infohashes ${(found4 * 100).toFixed(1)}% / ${(found6 * 100).toFixed(1)}%; ${summary.queriesSent} queries; ${summary.skippedContacts} contacts skipped`,
  );
  t.true(reached4 >= 0.99, `IPv4: reached ${(reached4 * 100).toFixed(2)}%`);
  t.true(reached6 >= 0.99, `IPv6: reached ${(reached6 * 100).toFixed(2)}%`);
  t.true(found4 >= 0.99, `IPv4: ${(found4 * 100).toFixed(2)}% of the infohashes live BEP 51 nodes hold`);
  t.true(found6 >= 0.99, `IPv6: ${(found6 * 100).toFixed(2)}% of the infohashes live BEP 51 nodes hold`);
  t.is(summary.ipv6.answered, [...answered].filter((a) => a.startsWith('[')).length, 'progress counts the IPv6 nodes that answered');
  t.true(summary.ipv6.known < summary.known);
  // The census, from the index and from the events alike, keeps each node's family.
  const fromIndex = census(censusNodes(crawler.nodes, (i) => crawler.nodes.hasFlag(i, NODE_FLAG.QUERIED | NODE_FLAG.ANSWERED)));
  const fromEvents = census(fromDiscoveries(sink.events));
  t.log(`census: IPv4 ${JSON.stringify(fromIndex.families.ipv4)}, IPv6 ${JSON.stringify(fromIndex.families.ipv6)}`);
  t.is(fromIndex.families.ipv6.answered, summary.ipv6.answered);
  t.is(fromIndex.families.ipv4.answered + fromIndex.families.ipv6.answered, summary.answered);
  t.deepEqual(fromEvents.families, { ipv4: { nodes: summary.answered - summary.ipv6.answered, answered: summary.answered - summary.ipv6.answered }, ipv6: { nodes: summary.ipv6.answered, answered: summary.ipv6.answered } });
  t.true(fromIndex.families.ipv6.nodes >= live(6).length && fromIndex.families.ipv4.nodes >= live(4).length);

  // BEP 32 support in the census: an IPv4 node of the testnet speaks it when it also runs on
  // IPv6 (its `nodes6` answers the crawl's `want: n6`); IPv6 nodes speak it by being there.
  let agree = 0;
  let judged = 0;
  for (let i = 0; i < crawler.nodes.size; i++) {
    if (!crawler.nodes.hasFlag(i, NODE_FLAG.ANSWERED)) continue;
    const verdict = featureVerdict(crawler.nodes.features(i), NODE_FEATURE.BEP32, NODE_FEATURE.NO_BEP32);
    if (crawler.nodes.isIpv6(i)) {
      t.is(verdict, true, 'an IPv6 node speaks BEP 32');
      continue;
    }
    const n = byAddress.get(crawler.nodes.address(i));
    if (n === undefined) continue;
    t.not(verdict, null, 'every answering IPv4 node of a dual-family crawl has a BEP 32 verdict');
    judged++;
    if (verdict === (n.address6 !== null)) agree++;
    else t.log(`BEP 32 verdict ${verdict} for ${n.address} (${n.kind}, ${JSON.stringify(n)})`.slice(0, 300));
  }
  t.log(`BEP 32: ${fromIndex.bep32.supported} of ${fromIndex.bep32.supported + fromIndex.bep32.unsupported} (${agree} of ${judged} IPv4 verdicts as the ground truth has it)`);
  t.true(judged > 0 && agree >= judged * 0.99, `${agree} of ${judged} IPv4 verdicts right`);
  t.is(fromIndex.bep32.unknown, fromIndex.nodes - fromIndex.answered, 'only nodes that never answered lack a verdict');

  // Only 127.0.0.0/8 and ::1: no link-local, unique-local, documentation, mapped, multicast or unspecified contact.
  const outside = [...destinations.keys()].filter((a) => !/^127\.\d+\.\d+\.\d+$/.test(a) && a !== '::1');
  t.deepEqual(outside, [], 'every datagram to 127.0.0.0/8 or ::1');
  t.true((destinations.get('::1') ?? 0) > live(6).length, 'IPv6 nodes were asked over IPv6');
  t.true(summary.skippedContacts > 0, 'the bogon contacts were heard of, and skipped');
  for (let i = 0; i < crawler.nodes.size; i++) if (crawler.nodes.isIpv6(i)) t.is(crawler.nodes.host(i), '::1');
  // The receivers' count of the datagrams from the crawler's two sockets (queries, and the
  // node's answers to testnet nodes that checked on it): what was sent, all of it to the testnet.
  const { byNode } = await testnet.received([CRAWLER_HOST, `[::1]:${node.address(6)!.port}`]);
  const received = [...byNode.values()].reduce((a, b) => a + b, 0);
  const sent = [...destinations.values()].reduce((a, b) => a + b, 0);
  t.log(`${sent} datagrams sent (${summary.queriesSent} queries), ${received} counted by the receivers: ${(received / (live(4).length + live(6).length)).toFixed(2)} per live node and family`);
  t.true(received <= sent && received >= sent * 0.98, `${received} counted of ${sent} sent`);
});

test.serial('an IPv6-only crawl reaches the IPv6 nodes from node 0 IPv6 address and sends nothing over IPv4', async (t) => {
  const destinations = new Map<string, number>();
  const node = await crawlerNode(t, [6], destinations);
  const sink = new MemorySink();
  const crawler = new Crawler({ node, bootstrap: [hostPort(truth.bootstrap6!)], rate: 1000, perIpRate: 100, getPeersRate: 0, sink });
  t.deepEqual(crawler.families, [6]);
  const summary = await crawler.sweep();
  const answered = new Set(sink.events.flatMap((e: Discovery) => (e.type === 'node' ? [e.address] : [])));
  const reached6 = live(6).filter((n) => answered.has(n.address6!)).length / live(6).length;
  t.log(`IPv6 only: ${(reached6 * 100).toFixed(1)}% of ${live(6).length} live IPv6 nodes, ${summary.queriesSent} queries`);
  t.true(reached6 >= 0.99, `reached ${(reached6 * 100).toFixed(2)}%`);
  t.deepEqual([...destinations.keys()], ['::1']);
  t.is(summary.known, summary.ipv6.known, 'no IPv4 node learned');
  // Only nodes6 is read here: what was skipped were the IPv6 bogons (fe80::, fc00::, 2001:db8::, ::ffff:10.0.0.x, ...).
  t.true(summary.skippedContacts > 0, `${summary.skippedContacts} IPv6 bogon contacts skipped`);
});

test.serial('a dual-stack node crawled for IPv4 alone sends nothing over IPv6', async (t) => {
  const destinations = new Map<string, number>();
  const node = await crawlerNode(t, [4, 6], destinations);
  const crawler = new Crawler({ node, families: [4], bootstrap: [hostPort(truth.bootstrap)], rate: 1000, perIpRate: 100, getPeersRate: 0 });
  const summary = await crawler.sweep();
  t.true(summary.answered > live(4).length * 0.99);
  t.false(destinations.has('::1'));
  t.is(summary.ipv6.known, 0);
});

test.serial('::1 only under the loopback allowance: a public-scope crawl skips every IPv6 contact it hears of', async (t) => {
  const destinations = new Map<string, number>();
  const node = await crawlerNode(t, [6], destinations, 'public');
  const crawler = new Crawler({ node, bootstrap: [hostPort(truth.bootstrap6!)], rate: 1000, perIpRate: 100, getPeersRate: 0 });
  const summary = await crawler.sweep();
  // The bootstrap address is asked because it was given; nothing it names is.
  t.is(destinations.get('::1'), 1);
  t.true(summary.skippedContacts >= 8, `${summary.skippedContacts} skipped`);
  t.true(summary.known <= 1);
});
