import test from 'ava';
import { homeSlot, NODE_FLAG, NodeIndex } from '../crawler/node-index.js';

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

test('NodeIndex: IPv6 nodes beside IPv4 ones, in their own address column, through table growth', (t) => {
  const index = new NodeIndex(16);
  const count = 6 * 16_384; // whole chunks, so the bytes per node are the columns' own
  // IPv6 addresses that differ only in their last bytes, and IPv4 ones whose number is an IPv6
  // node's place in the IPv6 column: neither may ever be taken for the other.
  const v6Of = (n: number): Buffer => {
    const ip = Buffer.alloc(16);
    ip.writeUInt16BE(0x2a01, 0);
    ip.writeUInt32BE(n >>> 1, 12);
    return ip;
  };
  for (let n = 0; n < count; n++) {
    const isV6 = n % 2 === 0;
    const { index: i, added } = isV6 ? index.add6(idOf(n), v6Of(n), 6881) : index.add(idOf(n), n >>> 1, 6881);
    t.true(added);
    t.is(i, n);
  }
  t.is(index.size, count);
  t.is(index.ipv6Count, count / 2);
  for (let n = 0; n < count; n += 331) {
    if (n % 2 === 0) {
      t.is(index.find6(v6Of(n), 6881), n);
      t.true(index.isIpv6(n));
      t.is(index.ipv4(n), 0, 'an IPv6 node has no IPv4 address');
      t.deepEqual(index.ipv6(n), v6Of(n));
      t.deepEqual(index.ipBytes(n), v6Of(n));
      t.is(index.find(n >>> 1, 6881), n + 1, 'its place in the IPv6 column is not an IPv4 address');
    } else {
      t.is(index.find(n >>> 1, 6881), n);
      t.false(index.isIpv6(n));
      t.is(index.ipv6(n), undefined);
      t.is(index.ipBytes(n).readUInt32BE(0), n >>> 1);
    }
  }
  t.is(index.find6(v6Of(2), 6882), -1, 'another port is another node');
  t.deepEqual(index.add6(idOf(9), v6Of(4), 6881), { index: 4, added: false });
  t.is(index.size, count);
  // A flag sweep leaves the family alone.
  index.clearFlagEverywhere(0xffff & ~NODE_FLAG.IPV6);
  index.clearFlagEverywhere(NODE_FLAG.QUERIED);
  t.true(index.isIpv6(0));
  t.true(index.bytes / count < 36 + 8 + 4 / 0.45 + 10, `bytes per node ${index.bytes / count}`);
});

test('NodeIndex: IPv6 hosts and addresses are canonical text, bracketed as a Discovery writes them', (t) => {
  const index = new NodeIndex();
  const a = index.add6(idOf(1), Buffer.from('00000000000000000000000000000001', 'hex'), 7001).index;
  const b = index.add6(idOf(2), Buffer.from('2a000000000000000000000000000abc', 'hex'), 6881).index;
  const c = index.add(idOf(3), 0x7f000001, 7001).index;
  t.is(index.host(a), '::1');
  t.is(index.address(a), '[::1]:7001');
  t.is(index.address(b), '[2a00::abc]:6881');
  t.is(index.address(c), '127.0.0.1:7001');
  t.throws(() => index.add6(idOf(4), Buffer.alloc(4), 1), { instanceOf: RangeError });
});

test('NodeIndex.compact: forgotten nodes are gone, kept ones move down in order with every column, the table and IPv6 column follow', (t) => {
  const index = new NodeIndex(16);
  // More than two chunks (16,384 nodes each), every third node IPv6, so both columns move.
  const count = 40_000;
  const v6Of = (n: number): Buffer => {
    const ip = Buffer.alloc(16);
    ip.writeUInt16BE(0x2001, 0);
    ip.writeUInt32BE(n, 12);
    return ip;
  };
  const ipOf = (n: number): number => (0x0b000000 + n) >>> 0;
  for (let n = 0; n < count; n++) {
    const i = n % 3 === 0 ? index.add6(idOf(n), v6Of(n), 6881).index : index.add(idOf(n), ipOf(n), 6881).index;
    index.setFlag(i, n % 5 === 0 ? NODE_FLAG.ANSWERED : NODE_FLAG.QUERIED);
    index.setRttMs(i, 1 + (n % 1000));
    index.setNextSampleAtMs(i, n * 1000);
    index.setVersion(i, Buffer.from(`LT${n % 7}`, 'latin1'));
  }
  const bytesBefore = index.bytes;
  // Forget 7 of every 10: the kept ones fit in fewer chunks.
  const keep = (n: number): boolean => n % 10 < 3;
  const remap = index.compact(keep);
  t.is(remap.length, count);
  const kept = Array.from({ length: count }, (_, n) => n).filter(keep);
  t.is(index.size, kept.length);
  t.true(index.bytes < bytesBefore / 2, `${index.bytes} bytes after, ${bytesBefore} before`);
  let v6 = 0;
  for (const [j, n] of kept.entries()) {
    t.is(remap[n], j);
    if (n % 3 === 0) {
      v6++;
      t.is(index.find6(v6Of(n), 6881), j);
      t.deepEqual(index.ipv6(j), v6Of(n));
    } else {
      t.is(index.find(ipOf(n), 6881), j);
      t.is(index.ipv4(j), ipOf(n));
    }
    t.deepEqual(index.id(j), idOf(n));
    t.is(index.flags(j) & ~NODE_FLAG.IPV6, n % 5 === 0 ? NODE_FLAG.ANSWERED : NODE_FLAG.QUERIED);
    t.is(index.rttMs(j), 1 + (n % 1000));
    t.is(index.nextSampleAtMs(j), n * 1000);
    t.is(index.versions[index.version(j)], Buffer.from(`LT${n % 7}`, 'latin1').toString('hex'));
  }
  t.is(index.ipv6Count, v6);
  for (let n = 0; n < count; n++) {
    if (keep(n)) continue;
    t.is(remap[n], -1);
    t.is(n % 3 === 0 ? index.find6(v6Of(n), 6881) : index.find(ipOf(n), 6881), -1, `node ${n} forgotten`);
  }
  // A node added after starts from zeros, wherever its row was used before; a forgotten address comes back as new.
  const again = index.add(idOf(5), ipOf(5), 6881);
  t.deepEqual(again, { index: kept.length, added: true });
  t.is(index.flags(again.index), 0);
  t.is(index.rttMs(again.index), 0);
  t.is(index.version(again.index), 0);
  t.is(index.nextSampleAtMs(again.index), 0);
  const again6 = index.add6(idOf(3), v6Of(3), 6881);
  t.deepEqual(index.ipv6(again6.index), v6Of(3));
  t.is(index.find6(v6Of(0), 6881), 0, 'the IPv6 nodes kept are still found');
  // Forgetting everything, then adding: an empty index that works.
  index.compact(() => false);
  t.is(index.size, 0);
  t.is(index.ipv6Count, 0);
  t.is(index.find(ipOf(0), 6881), -1);
  t.deepEqual(index.add(idOf(9), ipOf(9), 6881), { index: 0, added: true });
  t.is(index.find(ipOf(9), 6881), 0);
});

test('the address table is keyed: addresses made to share a home slot under a fixed hash spread out under a secret key', (t) => {
  // 65,535 contacts a hostile node can hand out that all had ONE home slot before the table
  // was keyed (ip ^ port * 0x9e3779b1 the same for each): a probe run that long turns every
  // lookup into a scan. Keyed, they spread like random addresses.
  const n = 1 << 17;
  const key = 0x1234abcd;
  const counts = new Map<number, number>();
  for (let port = 1; port < 65_536; port++) {
    const ip = (0x5b000000 ^ Math.imul(port, 0x9e3779b1)) >>> 0;
    const slot = homeSlot(ip, port, n, key);
    counts.set(slot, (counts.get(slot) ?? 0) + 1);
  }
  const most = Math.max(...counts.values());
  t.true(most <= 8, `at most ${most} addresses share a home slot`);
  t.true(counts.size > 0.6 * 65_535, `${counts.size} distinct home slots`);
  // The slot depends on the key: the same address lands elsewhere in another process.
  const moved = Array.from({ length: 100 }, (_, i) => homeSlot(0x0b000000 + i, 6881, n, 1) !== homeSlot(0x0b000000 + i, 6881, n, 2)).filter(Boolean).length;
  t.true(moved > 95, `${moved} of 100 addresses move with the key`);

  // Through the index itself: the same family, all found, and IPv6 addresses that differ only
  // in their last bytes too.
  const index = new NodeIndex(16);
  for (let port = 1; port < 20_000; port++) index.add(idOf(port), (0x5b000000 ^ Math.imul(port, 0x9e3779b1)) >>> 0, port);
  for (let i = 0; i < 20_000; i++) {
    const ip = Buffer.alloc(16, 0x20);
    ip.writeUInt32BE(i, 12);
    index.add6(idOf(i), ip, 6881);
  }
  t.is(index.size, 39_999);
  t.is(index.find((0x5b000000 ^ Math.imul(777, 0x9e3779b1)) >>> 0, 777), 776);
});
