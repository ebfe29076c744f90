import test from 'ava';
import fc from 'fast-check';
import { census, churn, decodeVersion, fromDiscoveries, nodeKey, percentile, type CensusNode } from '../crawler/census.js';
import type { Discovery } from '../crawler/discovery.js';
import { hostIn, nodeIdHex } from './helpers/generators.js';

const ID = nodeIdHex;
const ADDR = hostIn('10.0.0');

function node(n: number, over: Partial<CensusNode> = {}): CensusNode {
  return { id: ID(n), address: ADDR(n), version: null, rttMs: 0, bep51: null, bep42: false, answered: false, ...over };
}

test('percentile: nearest rank', (t) => {
  const ten = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  t.is(percentile(ten, 50), 5);
  t.is(percentile(ten, 90), 9);
  t.is(percentile(ten, 91), 10);
  t.is(percentile(ten, 99), 10);
  t.is(percentile(ten, 100), 10);
  t.is(percentile(ten, 10), 1);
  t.is(percentile(ten, 11), 2);
  t.is(percentile(ten, 0), 1);
  t.is(percentile([42], 50), 42);
  t.is(percentile([42], 99), 42);
  // 4 values: p50 -> rank 2, p75 -> rank 3, p76 -> rank 4.
  t.is(percentile([10, 20, 30, 40], 50), 20);
  t.is(percentile([10, 20, 30, 40], 75), 30);
  t.is(percentile([10, 20, 30, 40], 76), 40);
  t.is(percentile([], 50), undefined);
  t.throws(() => percentile(ten, 101), { instanceOf: RangeError });
  t.throws(() => percentile(ten, -1), { instanceOf: RangeError });
  t.throws(() => percentile(ten, Number.NaN), { instanceOf: RangeError });
});

test('percentile: at least p% of values are <= it, and fewer than p% are < it', (t) => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 1000 }), { minLength: 1, maxLength: 50 }), fc.integer({ min: 1, max: 100 }), (xs, p) => {
      const sorted = [...xs].sort((a, b) => a - b);
      const v = percentile(sorted, p)!;
      const atMost = sorted.filter((x) => x <= v).length;
      const below = sorted.filter((x) => x < v).length;
      return sorted.includes(v) && atMost * 100 >= p * sorted.length && below * 100 < p * sorted.length;
    }),
  );
  t.pass();
});

test('decodeVersion: known clients, other clients, garbage', (t) => {
  t.deepEqual(decodeVersion('4c540102'), { client: 'LT', version: '1.0.2' });
  t.deepEqual(decodeVersion('4c540123'), { client: 'LT', version: '1.2.3' });
  t.deepEqual(decodeVersion('4c540200'), { client: 'LT', version: '2.0.0' });
  t.deepEqual(decodeVersion('4C540210'), { client: 'LT', version: '2.1.0' });
  t.deepEqual(decodeVersion('44530001'), { client: 'DS', version: '0.1' });
  t.deepEqual(decodeVersion('55548d53'), { client: 'UT', version: '8d53' });
  t.deepEqual(decodeVersion('54520003'), { client: 'TR', version: '0003' });
  // Wrong length.
  t.deepEqual(decodeVersion('4c5401'), { client: '?', version: '4c5401' });
  t.deepEqual(decodeVersion('4c54010203'), { client: '?', version: '4c54010203' });
  // Non-ASCII or non-alphanumeric client code.
  t.deepEqual(decodeVersion('fffe0102'), { client: '?', version: 'fffe0102' });
  t.deepEqual(decodeVersion('00000000'), { client: '?', version: '00000000' });
  t.deepEqual(decodeVersion('2d2d0102'), { client: '?', version: '2d2d0102' });
  // Not hex at all: its UTF-8 bytes.
  t.deepEqual(decodeVersion('zz'), { client: '?', version: '7a7a' });
  t.deepEqual(decodeVersion('abc'), { client: '?', version: '616263' });
  t.deepEqual(decodeVersion(''), { client: '?', version: '' });
  // Long values are cut.
  t.deepEqual(decodeVersion('ab'.repeat(40)), { client: '?', version: `${'ab'.repeat(16)}…` });
});

test('decodeVersion never throws', (t) => {
  fc.assert(
    fc.property(fc.string({ maxLength: 200 }), (s) => {
      const d = decodeVersion(s);
      return typeof d.client === 'string' && typeof d.version === 'string' && d.version.length <= 33;
    }),
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (u) => {
      const d = decodeVersion(Buffer.from(u).toString('hex'));
      return d.client === '?' || (u.length === 4 && d.client.length === 2);
    }),
  );
  t.pass();
});

test('census: counts, shares, versions and RTT percentiles of a hand-made crawl', (t) => {
  const nodes: CensusNode[] = [
    node(1, { answered: true, rttMs: 10, version: '4c540102', bep51: true, bep42: true }),
    node(2, { answered: true, rttMs: 20, version: '4c540102', bep51: true, bep42: true }),
    node(3, { answered: true, rttMs: 30, version: '4c540102', bep51: false, bep42: true }),
    node(4, { answered: true, rttMs: 40, version: '55548d53', bep51: false }),
    node(5, { answered: true, rttMs: 50, version: '55548d53', bep51: null }),
    node(6, { answered: true, rttMs: 60, version: 'fffe', bep42: true }),
    node(7, { answered: true, rttMs: 70, version: null }),
    node(8, { answered: true, rttMs: 0, version: '44530001' }), // RTT unknown
    node(9),
    node(10, { rttMs: 999 }), // never answered: its RTT does not count
  ];
  const c = census(nodes);
  t.is(c.nodes, 10);
  t.is(c.answered, 8);
  t.is(c.responseRate, 0.8);
  t.is(c.withVersion, 7);
  t.deepEqual(c.versions, [
    { client: 'LT', version: '1.0.2', count: 3, share: 3 / 7 },
    { client: 'UT', version: '8d53', count: 2, share: 2 / 7 },
    { client: '?', version: 'fffe', count: 1, share: 1 / 7 },
    { client: 'DS', version: '0.1', count: 1, share: 1 / 7 },
  ]);
  t.deepEqual(c.bep51, { supported: 2, unsupported: 2, unknown: 6, share: 0.5 });
  t.is(c.bep42Share, 0.4);
  // RTTs 10..70 (7 values): p50 = rank 4, p90 = rank ceil(6.3) = 7, p99 = rank 7.
  t.deepEqual(c.rtt, { samples: 7, p50: 40, p90: 70, p99: 70, mean: 40 });
});

test('census: percentiles over 100 RTTs', (t) => {
  // RTTs 1..100 in scrambled order.
  const nodes = Array.from({ length: 100 }, (_, i) => node(i, { answered: true, rttMs: ((i * 37) % 100) + 1 }));
  const c = census(nodes);
  t.deepEqual(c.rtt, { samples: 100, p50: 50, p90: 90, p99: 99, mean: 50.5 });
});

test('census: nothing to count', (t) => {
  const c = census([]);
  t.is(c.nodes, 0);
  t.is(c.responseRate, 0);
  t.deepEqual(c.versions, []);
  t.deepEqual(c.bep51, { supported: 0, unsupported: 0, unknown: 0, share: 0 });
  t.is(c.bep42Share, 0);
  t.deepEqual(c.rtt, { samples: 0, p50: null, p90: null, p99: null, mean: null });
  const silent = census([node(1), node(2)]);
  t.is(silent.responseRate, 0);
  t.is(silent.rtt.p50, null);
  t.is(silent.bep51.unknown, 2);
});

test('churn: stayed, left, joined', (t) => {
  const c = churn(['a', 'b', 'c', 'd', 'a'], ['c', 'd', 'e', 'e']);
  t.deepEqual(c, { before: 4, after: 3, stayed: 2, left: 2, joined: 1, leftShare: 0.5, joinedShare: 1 / 3 });
  t.deepEqual(churn([], []), { before: 0, after: 0, stayed: 0, left: 0, joined: 0, leftShare: 0, joinedShare: 0 });
  t.deepEqual(churn(['x'], []), { before: 1, after: 0, stayed: 0, left: 1, joined: 0, leftShare: 1, joinedShare: 0 });
  t.deepEqual(churn([], ['x']), { before: 0, after: 1, stayed: 0, left: 0, joined: 1, leftShare: 0, joinedShare: 1 });
  // Keys of ID and address: a new ID at the same address is one left and one joined.
  const before = [node(1), node(2), node(3)].map(nodeKey);
  const after = [node(1), node(2, { id: ID(222) }), node(4)].map(nodeKey);
  t.deepEqual(churn(before, after), { before: 3, after: 3, stayed: 1, left: 2, joined: 2, leftShare: 2 / 3, joinedShare: 2 / 3 });
  t.is(nodeKey({ id: 'AB'.repeat(20), address: '1.2.3.4:5' }), `${'ab'.repeat(20)}@1.2.3.4:5`);
});

test('fromDiscoveries: node events, later sample events, repeats', (t) => {
  const nodeEvent = (n: number, over: Partial<Extract<Discovery, { type: 'node' }>> = {}): Discovery => ({
    type: 'node',
    id: ID(n),
    address: `10.0.0.${n}:6881`,
    version: null,
    rttMs: 10 * n,
    bep51: null,
    bep42: false,
    at: 1_000 + n,
    ...over,
  });
  const events: Discovery[] = [
    nodeEvent(1, { version: '4c540102', bep42: true }),
    nodeEvent(2, { bep51: false }),
    { type: 'infohash', infohash: 'ab'.repeat(20), node: '10.0.0.1:6881', source: 'sample', at: 2_000 },
    { type: 'sample', node: '10.0.0.1:6881', num: 10, interval: 300, samples: 3, at: 2_000 },
    // A sample from an address we have no node event for: ignored.
    { type: 'sample', node: '10.0.0.9:6881', num: 1, interval: 300, samples: 1, at: 2_000 },
    // Sample before the node event for the same address.
    { type: 'sample', node: '10.0.0.3:6881', num: 0, interval: 60, samples: 0, at: 2_500 },
    nodeEvent(3, { version: '55548d53' }),
    { type: 'peers', infohash: 'ab'.repeat(20), peers: ['1.1.1.1:1'], node: '10.0.0.2:6881', at: 3_000 },
    // The same address again (a later sweep): RTT replaced, version and bep51 kept when absent.
    nodeEvent(2, { rttMs: 99, version: '44530001' }),
    nodeEvent(1, { rttMs: 5, version: null, bep42: true }),
  ];
  const nodes = fromDiscoveries(events);
  t.deepEqual(nodes, [
    { id: ID(1), address: '10.0.0.1:6881', version: '4c540102', rttMs: 5, bep51: true, bep42: true, answered: true },
    { id: ID(2), address: '10.0.0.2:6881', version: '44530001', rttMs: 99, bep51: false, bep42: false, answered: true },
    { id: ID(3), address: '10.0.0.3:6881', version: '55548d53', rttMs: 30, bep51: true, bep42: false, answered: true },
  ]);
  const c = census(nodes);
  t.is(c.responseRate, 1);
  t.deepEqual(c.bep51, { supported: 2, unsupported: 1, unknown: 0, share: 2 / 3 });
  t.deepEqual(fromDiscoveries([]), []);
});

test('census: nodes and answered nodes per address family (BEP 32), by the bracketed IPv6 address', (t) => {
  const nodes = [
    node(1, { answered: true }),
    node(2),
    node(3, { address: '[2a00:1450::1]:6881', answered: true }),
    node(4, { address: '[2a00:1450::2]:6881', answered: true }),
    node(5, { address: '[2a00:1450::3]:51413' }),
  ];
  const c = census(nodes);
  t.deepEqual(c.families, { ipv4: { nodes: 2, answered: 1 }, ipv6: { nodes: 3, answered: 2 } });
  t.is(c.families.ipv4.nodes + c.families.ipv6.nodes, c.nodes);
  // From a crawl's events: the node events' addresses say the family.
  const events: Discovery[] = [
    { type: 'node', id: ID(1), address: '127.0.0.1:6881', version: null, rttMs: 5, bep51: true, bep42: false, at: 1 },
    { type: 'node', id: ID(1), address: '[::1]:7001', version: null, rttMs: 5, bep51: true, bep42: false, at: 2 },
  ];
  t.deepEqual(census(fromDiscoveries(events)).families, { ipv4: { nodes: 1, answered: 1 }, ipv6: { nodes: 1, answered: 1 } }, 'a dual-stack node is a node per family');
});
