import test from 'ava';
import { createSocket, type RemoteInfo } from 'node:dgram';
import { inAddressScope } from '../bep5/address-scope.js';
import { tryDecode } from '../bep5/bencode.js';
import { defaultAddressScope, parseBootstrapEntry } from '../bep5/bootstrap.js';
import { decodeNodes } from '../bep5/compact.js';
import { isLoopback } from '../bep5/ip.js';
import { type DatagramSocket } from '../bep5/krpc-socket-types.js';
import { DhtNode } from '../bep5/node.js';
import { RoutingTable } from '../bep5/routing-table.js';
import { ProfileSocket, ReceiveCounter } from '../crawler/testnet/profile-socket.js';
import { BEHAVIOUR } from '../crawler/testnet/profiles.js';

test('inAddressScope: public refuses every bogon, loopback admits 127/8 and ::1 only, private every unicast address', (t) => {
  const cases: Array<[string, boolean, boolean, boolean]> = [
    // host, public, loopback, private
    ['8.8.8.8', true, true, true],
    ['2001:4860::8888', true, true, true],
    ['127.0.0.1', false, true, true],
    ['127.200.3.4', false, true, true],
    ['::1', false, true, true],
    ['::ffff:127.0.0.1', false, true, true],
    ['10.0.0.1', false, false, true],
    ['192.168.1.1', false, false, true],
    ['172.16.0.1', false, false, true],
    ['169.254.1.1', false, false, true],
    ['100.64.0.1', false, false, true],
    ['::ffff:10.0.0.1', false, false, true],
    ['fc00::1', false, false, true],
    ['0.1.2.3', false, false, false],
    ['224.0.0.1', false, false, false],
    ['255.255.255.255', false, false, false],
    ['::', false, false, false],
    ['ff02::1', false, false, false],
    ['not an address', false, false, false],
  ];
  for (const [host, pub, loop, priv] of cases) {
    t.is(inAddressScope('public', host), pub, `public ${host}`);
    t.is(inAddressScope('loopback', host), loop, `loopback ${host}`);
    t.is(inAddressScope('private', host), priv, `private ${host}`);
  }
});

test('the default scope follows the bootstrap list: loopback, private (a LAN), public', (t) => {
  const scope = (...entries: string[]) => defaultAddressScope(entries.map(parseBootstrapEntry));
  t.is(scope('127.0.0.1:6881'), 'loopback');
  t.is(scope('localhost:6881', '127.3.4.5:1'), 'loopback');
  t.is(scope('[::1]:6881'), 'loopback');
  t.is(scope('10.0.0.1:6881'), 'private');
  t.is(scope('127.0.0.1:6881', '192.168.1.2:6881'), 'private');
  t.is(scope('dht.example.org:6881'), 'public'); // a host name: resolved later, never here
  t.is(scope('127.0.0.1:6881', 'dht.example.org:6881'), 'public');
  t.is(new DhtNode({ bootstrap: ['127.0.0.1:6881'] }).addressScope, 'loopback');
  t.is(new DhtNode({ bootstrap: ['127.0.0.1:6881'], allowPrivate: true }).addressScope, 'private');
  t.is(new DhtNode({ bootstrap: ['10.0.0.1:6881'], addressScope: 'loopback' }).addressScope, 'loopback');
});

test('a loopback-scope table keeps 127/8 contacts and refuses private ones; a private-scope table keeps both', (t) => {
  const ownId = Buffer.alloc(20, 1);
  const loopback = new RoutingTable({ ownId, addressScope: 'loopback' });
  const priv = new RoutingTable({ ownId, addressScope: 'private' });
  for (const [i, host] of ['127.0.0.9', '10.0.0.9', '192.168.0.9'].entries()) {
    const contact = { id: Buffer.alloc(20, 0x80 + i), host, port: 6881 };
    loopback.recordResponse(contact);
    priv.recordResponse(contact);
  }
  t.deepEqual(loopback.all().map((c) => c.host), ['127.0.0.9']);
  t.deepEqual(priv.all().map((c) => c.host).sort(), ['10.0.0.9', '127.0.0.9', '192.168.0.9']);
});

test('a lookup does not follow private and bogon contacts that a reply lists, and sends only to 127/8', async (t) => {
  // B answers like a bogon-contacts node: three contacts at 10.x, 192.168.x, ... in every answer.
  const counter = new ReceiveCounter();
  const b = new DhtNode({
    host: '127.41.9.1',
    port: 0,
    bootstrap: [],
    addressScope: 'loopback',
    socketFactory: (type) => new ProfileSocket(createSocket(type) as unknown as DatagramSocket, BEHAVIOUR['bogon-contacts'], counter),
  });
  await b.start();
  t.teardown(() => b.stop());
  const c = new DhtNode({ host: '127.41.9.2', port: 0, bootstrap: [], addressScope: 'loopback' });
  await c.start();
  t.teardown(() => c.stop());
  b.table()!.recordResponse({ id: c.id, host: '127.41.9.2', port: c.address()!.port });

  const sentTo: string[] = [];
  let listedOutside = 0;
  const a = new DhtNode({
    host: '127.41.9.3',
    port: 0,
    bootstrap: [`127.41.9.1:${b.address()!.port}`],
    socketFactory: (type) => {
      const inner = createSocket(type);
      const send = inner.send.bind(inner) as (msg: Uint8Array, port: number, address: string, cb: (err: Error | null) => void) => void;
      inner.on('message', (msg: Buffer, _rinfo: RemoteInfo) => {
        const d = tryDecode(msg) as { r?: { nodes?: Buffer } };
        if (Buffer.isBuffer(d?.r?.nodes)) listedOutside += decodeNodes(d.r.nodes, 4).filter((n) => !isLoopback(n.host)).length;
      });
      return Object.assign(inner, {
        send: (msg: Uint8Array, port: number, address: string, cb: (err: Error | null) => void) => {
          sentTo.push(address);
          send(msg, port, address, cb);
        },
      }) as unknown as DatagramSocket;
    },
  });
  t.is(a.addressScope, 'loopback');
  await a.start();
  t.teardown(() => a.stop());
  const result = await a.bootstrap({ signal: AbortSignal.timeout(10_000) });
  t.true(listedOutside >= 3, `B listed ${listedOutside} contacts outside 127/8`);
  t.true(sentTo.includes('127.41.9.2'), 'the lookup followed the loopback contact B listed');
  t.deepEqual(sentTo.filter((h) => !isLoopback(h)), [], 'nothing was sent outside 127/8');
  t.true(a.table()!.all().every((n) => isLoopback(n.host)));
  t.truthy(result);
});
