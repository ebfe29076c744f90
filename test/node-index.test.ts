import test from 'ava';
import { NODE_FLAG, NodeIndex } from '../crawler/node-index.js';

/** A deterministic ID for node n (its number in the first 4 bytes, a pattern after). */
function idOf(n: number): Buffer {
  const id = Buffer.alloc(20, n & 255);
  id.writeUInt32BE(n >>> 0, 0);
  return id;
}

test('NodeIndex: 100,000 nodes across chunks and table growth, one entry per address', (t) => {
  const index = new NodeIndex(16);
  const count = 100_000;
  // Addresses that collide in their low bits and share IPs, the worst case for a weak hash.
  const ipOf = (n: number): number => (0x0b000000 + Math.floor(n / 3) * 256) >>> 0;
  const portOf = (n: number): number => 6881 + (n % 3);
  for (let n = 0; n < count; n++) {
    const { index: i, added } = index.add(idOf(n), ipOf(n), portOf(n));
    t.true(added);
    t.is(i, n);
  }
  t.is(index.size, count);
  for (let n = 0; n < count; n += 997) {
    t.is(index.find(ipOf(n), portOf(n)), n);
    t.deepEqual(index.id(n), idOf(n));
    t.is(index.idPrefix32(n), n);
    t.is(index.ipv4(n), ipOf(n));
    t.is(index.port(n), portOf(n));
  }
  // The same address again is the same node, whatever ID it now claims.
  t.deepEqual(index.add(idOf(7), ipOf(5), portOf(5)), { index: 5, added: false });
  t.is(index.size, count);
  t.is(index.find(ipOf(count), portOf(count)), -1);
  t.is(index.find(ipOf(1), 1), -1);
  // The columns hold 36 B per node; the address table 4 B per slot at a load of 0.47-0.7.
  t.true(index.bytes / count < 36 + 4 / 0.45 + 10, `bytes per node ${index.bytes / count}`);
});

test('NodeIndex: flags, RTT, versions and the next sample time per node', (t) => {
  const index = new NodeIndex();
  const a = index.add(idOf(1), 0x7f000001, 6881).index;
  const b = index.add(idOf(2), 0x7f000002, 6881).index;
  index.setFlag(a, NODE_FLAG.ANSWERED | NODE_FLAG.QUERIED);
  index.setFlag(b, NODE_FLAG.QUERIED);
  t.true(index.hasFlag(a, NODE_FLAG.ANSWERED));
  t.false(index.hasFlag(b, NODE_FLAG.ANSWERED));
  index.clearFlagEverywhere(NODE_FLAG.QUERIED);
  t.is(index.flags(a), NODE_FLAG.ANSWERED);
  t.is(index.flags(b), 0);
  index.setRttMs(a, 0.2);
  index.setRttMs(b, 1e9);
  t.is(index.rttMs(a), 1);
  t.is(index.rttMs(b), 65_535);
  t.is(index.nextSampleAtMs(a), 0);
  index.setNextSampleAtMs(a, 21_600_500);
  t.is(index.nextSampleAtMs(a), 21_601_000, 'rounded up to the second: never sampled early');
  index.setVersion(a, Buffer.from('LT\x01\x23', 'latin1'));
  index.setVersion(b, undefined);
  t.is(index.versions[index.version(a)], '4c540123');
  t.is(index.version(b), 0);
  t.is(index.host(a), '127.0.0.1');
  t.is(index.address(b), '127.0.0.2:6881');
});
