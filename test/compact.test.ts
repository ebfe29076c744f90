import test from 'ava';
import fc from 'fast-check';
import { decodeAddress, decodeNodes, decodePeer, encodeAddress, encodeNodes, encodePeer, NODE_LENGTH, PEER_LENGTH, type NodeInfo } from '../bep5/compact.js';
import { CompactError, type CompactFailure } from '../bep5/errors.js';
import { formatIp, isIpv4Mapped, normalizeHost, type IpFamily } from '../bep5/ip.js';

const idA = Buffer.from('abcdefghij0123456789');
const idB = Buffer.from('mnopqrstuvwxyz123456');

function throwsCompact(t: import('ava').ExecutionContext, fn: () => unknown, reason: CompactFailure, note?: string): void {
  const err = t.throws(fn, { instanceOf: CompactError }, note);
  t.is(err?.code, 'ERR_COMPACT', note);
  t.is(err?.reason, reason, note);
}

test('entry sizes are the BEP 5 / BEP 32 ones', (t) => {
  t.deepEqual(PEER_LENGTH, { 4: 6, 6: 18 });
  t.deepEqual(NODE_LENGTH, { 4: 26, 6: 38 });
});

test('encodePeer writes IP then big-endian port', (t) => {
  t.is(encodePeer({ host: '1.2.3.4', port: 6881 }).toString('hex'), '010203041ae1');
  t.is(encodePeer({ host: '255.255.255.255', port: 65535 }).toString('hex'), 'ffffffffffff');
  t.is(encodePeer({ host: '2001:db8::1', port: 1 }).toString('hex'), '20010db8000000000000000000000001' + '0001');
  t.is(encodePeer({ host: '::1', port: 0 }).length, 18);
});

test('encodePeer writes an IPv4-mapped host as 6-byte IPv4', (t) => {
  t.is(encodePeer({ host: '::ffff:1.2.3.4', port: 6881 }).toString('hex'), '010203041ae1');
  t.is(encodePeer({ host: '::FFFF:102:304', port: 6881 }).toString('hex'), '010203041ae1');
});

test('encodePeer rejects bad hosts and ports', (t) => {
  for (const host of ['', 'example.com', '1.2.3', '01.2.3.4', '[::1]', '1.2.3.4:80']) {
    throwsCompact(t, () => encodePeer({ host, port: 1 }), 'bad-host', host);
  }
  for (const port of [-1, 65536, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 32]) {
    throwsCompact(t, () => encodePeer({ host: '1.2.3.4', port }), 'bad-port', String(port));
  }
  // A string that looks like a number is not a port.
  throwsCompact(t, () => encodePeer({ host: '1.2.3.4', port: '80' as unknown as number }), 'bad-port');
});

test('decodePeer reads 6 and 18 bytes, port 0 included', (t) => {
  t.deepEqual(decodePeer(Buffer.from('010203041ae1', 'hex')), { host: '1.2.3.4', port: 6881 });
  t.deepEqual(decodePeer(Buffer.from('7f0000010000', 'hex')), { host: '127.0.0.1', port: 0 });
  t.deepEqual(decodePeer(Buffer.from('20010db8000000000001000000000001ffff', 'hex')), { host: '2001:db8::1:0:0:1', port: 65535 });
  // An 18-byte mapped address is reported faithfully; normalizing it is the caller's call.
  const mapped = decodePeer(Buffer.from('00000000000000000000ffff01020304' + '0050', 'hex'));
  t.deepEqual(mapped, { host: '::ffff:1.2.3.4', port: 80 });
  t.is(normalizeHost(mapped.host), '1.2.3.4');
  t.deepEqual(decodePeer(new Uint8Array([10, 0, 0, 1, 0x1a, 0xe1])), { host: '10.0.0.1', port: 6881 });
});

test('decodePeer rejects every other length', (t) => {
  for (const n of [0, 1, 4, 5, 7, 16, 17, 19, 20, 26, 38]) throwsCompact(t, () => decodePeer(Buffer.alloc(n)), 'bad-length', `${n} bytes`);
});

test('decodePeer reads from a view at an offset, not from the start of its ArrayBuffer', (t) => {
  const datagram = Buffer.from('ffff' + '010203041ae1' + 'ffff', 'hex');
  t.deepEqual(decodePeer(datagram.subarray(2, 8)), { host: '1.2.3.4', port: 6881 });
});

test('encodeAddress/decodeAddress are the compact peer codec (BEP 42 `ip` field)', (t) => {
  t.is(encodeAddress, encodePeer);
  t.is(decodeAddress, decodePeer);
});

test('peer round trip: decode(encode(p)) is p, for both families', (t) => {
  const v4 = fc.uint8Array({ minLength: 4, maxLength: 4 }).map(formatIp);
  const v6 = fc.uint8Array({ minLength: 16, maxLength: 16 }).map(formatIp);
  const port = fc.integer({ min: 0, max: 65535 });
  fc.assert(
    fc.property(fc.oneof(v4, v6), port, (host, p) => {
      const bytes = encodePeer({ host, port: p });
      // Mapped hosts shrink to IPv4 on the wire and come back as plain IPv4.
      const expectedHost = normalizeHost(host)!;
      t.is(bytes.length, expectedHost.includes(':') ? 18 : 6);
      t.deepEqual(decodePeer(bytes), { host: expectedHost, port: p });
    }),
    { numRuns: 500 },
  );
});

test('encodeNodes writes id, IP, port per entry', (t) => {
  const nodes: NodeInfo[] = [
    { id: idA, host: '1.2.3.4', port: 6881 },
    { id: idB, host: '::ffff:5.6.7.8', port: 1 },
  ];
  const bytes = encodeNodes(nodes, 4);
  t.is(bytes.toString('hex'), idA.toString('hex') + '010203041ae1' + idB.toString('hex') + '050607080001');

  const v6 = encodeNodes([{ id: idA, host: 'fe80::1', port: 258 }], 6);
  t.is(v6.toString('hex'), idA.toString('hex') + 'fe800000000000000000000000000001' + '0102');
  t.is(encodeNodes([], 4).length, 0);
  t.is(encodeNodes([], 6).length, 0);
});

test('encodeNodes rejects a node of the other family', (t) => {
  throwsCompact(t, () => encodeNodes([{ id: idA, host: '::1', port: 1 }], 4), 'wrong-family');
  throwsCompact(t, () => encodeNodes([{ id: idA, host: '1.2.3.4', port: 1 }], 6), 'wrong-family');
  // A mapped host is an IPv4 node: it belongs in `nodes`, not `nodes6`.
  throwsCompact(t, () => encodeNodes([{ id: idA, host: '::ffff:1.2.3.4', port: 1 }], 6), 'wrong-family');
  throwsCompact(t, () => encodeNodes([], 5 as IpFamily), 'wrong-family');
});

test('encodeNodes rejects bad ids, hosts and ports anywhere in the list', (t) => {
  const good = { id: idA, host: '1.2.3.4', port: 1 };
  for (const id of [Buffer.alloc(19), Buffer.alloc(21), Buffer.alloc(0), 'abcdefghij0123456789', new Uint8Array(20), undefined]) {
    throwsCompact(t, () => encodeNodes([good, { ...good, id: id as Buffer }], 4), 'bad-id', String(id));
  }
  throwsCompact(t, () => encodeNodes([good, { ...good, host: 'nope' }], 4), 'bad-host');
  throwsCompact(t, () => encodeNodes([good, { ...good, port: 70000 }], 4), 'bad-port');
  throwsCompact(t, () => encodeNodes([{ ...good, host: '::1', port: -1 }], 6), 'bad-port');
});

test('decodeNodes reads entries back', (t) => {
  const bytes = Buffer.concat([idA, Buffer.from('010203041ae1', 'hex'), idB, Buffer.from('7f0000010000', 'hex')]);
  t.deepEqual(decodeNodes(bytes, 4), [
    { id: idA, host: '1.2.3.4', port: 6881 },
    { id: idB, host: '127.0.0.1', port: 0 },
  ]);
  const v6 = Buffer.concat([idB, Buffer.from('20010db8000000000001000000000001', 'hex'), Buffer.from('1ae1', 'hex')]);
  t.deepEqual(decodeNodes(v6, 6), [{ id: idB, host: '2001:db8::1:0:0:1', port: 6881 }]);
  t.deepEqual(decodeNodes(Buffer.alloc(0), 4), []);
  t.deepEqual(decodeNodes(new Uint8Array(0), 6), []);
});

test('decodeNodes rejects partial entries instead of dropping them', (t) => {
  for (const n of [1, 6, 20, 25, 27, 38, 51, 53, 26 * 8 - 1, 26 * 8 + 1]) {
    throwsCompact(t, () => decodeNodes(Buffer.alloc(n), 4), 'bad-length', `${n} bytes as IPv4`);
  }
  for (const n of [1, 18, 26, 37, 39, 52, 75, 77, 38 * 8 - 1]) {
    throwsCompact(t, () => decodeNodes(Buffer.alloc(n), 6), 'bad-length', `${n} bytes as IPv6`);
  }
  throwsCompact(t, () => decodeNodes(Buffer.alloc(26), 5 as IpFamily), 'wrong-family');
});

test('decodeNodes returns copies that do not pin or track the datagram', (t) => {
  const datagram = Buffer.alloc(200, 0xaa);
  encodeNodes([{ id: idA, host: '1.2.3.4', port: 6881 }, { id: idB, host: '5.6.7.8', port: 80 }], 4).copy(datagram, 50);
  const nodes = decodeNodes(datagram.subarray(50, 102), 4);
  datagram.fill(0);
  t.deepEqual(nodes[0], { id: idA, host: '1.2.3.4', port: 6881 });
  t.deepEqual(nodes[1], { id: idB, host: '5.6.7.8', port: 80 });
  for (const node of nodes) {
    t.true(Buffer.isBuffer(node.id));
    t.not(node.id.buffer, datagram.buffer);
    t.is(node.id.length, 20);
  }
});

test('nodes round trip: decode(encode(list)) is list, for both families', (t) => {
  const node = (family: IpFamily) =>
    fc.record({
      id: fc.uint8Array({ minLength: 20, maxLength: 20 }).map((u) => Buffer.from(u)),
      host: fc
        .uint8Array({ minLength: family === 4 ? 4 : 16, maxLength: family === 4 ? 4 : 16 })
        .filter((b) => !isIpv4Mapped(b))
        .map(formatIp),
      port: fc.integer({ min: 0, max: 65535 }),
    });
  for (const family of [4, 6] as const) {
    fc.assert(
      fc.property(fc.array(node(family), { maxLength: 16 }), (nodes) => {
        const bytes = encodeNodes(nodes, family);
        t.is(bytes.length, nodes.length * NODE_LENGTH[family]);
        t.deepEqual(decodeNodes(bytes, family), nodes);
      }),
      { numRuns: 200 },
    );
  }
});

test('nodes round trip from the wire side: encode(decode(bytes)) is bytes', (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 16 }), fc.uint8Array({ minLength: 26 * 16, maxLength: 26 * 16 }), (count, pool) => {
      const bytes = Buffer.from(pool.subarray(0, count * 26));
      t.deepEqual(encodeNodes(decodeNodes(bytes, 4), 4), bytes);
    }),
    { numRuns: 200 },
  );
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 16 }), fc.uint8Array({ minLength: 38 * 16, maxLength: 38 * 16 }), (count, pool) => {
      const bytes = Buffer.from(pool.subarray(0, count * 38));
      // An IPv4-mapped address in nodes6 has no IPv6 encoding of its own: it re-encodes as IPv4.
      const decoded = decodeNodes(bytes, 6);
      fc.pre(decoded.every((n) => normalizeHost(n.host)!.includes(':')));
      t.deepEqual(encodeNodes(decoded, 6), bytes);
    }),
    { numRuns: 200 },
  );
});
