import test from 'ava';
import { KrpcSocket } from '../bep5/krpc-socket.js';
import { DhtNode } from '../bep5/node.js';
import { idToHex, randomId } from '../bep5/node-id.js';
import { runCli } from './helpers/cli.js';
import { loopbackHost } from './helpers/udp.js';

/** `sample` (BEP 51) and `ping` against in-process nodes on 127.x.y.z. */

const node = new DhtNode({ host: loopbackHost(), port: 0, bootstrap: [], allowPrivate: true, adoptBep42Id: false });
const stored = [randomId(), randomId(), randomId()];
let address = '';

test.before(async () => {
  await node.start();
  const a = node.address()!;
  address = `${a.host}:${a.port}`;
  stored.forEach((infoHash, i) => node.store.announce(infoHash, { host: `127.0.0.${i + 2}`, port: 6881 + i }, false));
});

test.after.always(() => node.stop());

test('sample --json returns the infohashes the node stores', async (t) => {
  const result = await runCli(t, ['sample', address, '--json', '--target', idToHex(randomId()).toUpperCase()]);
  t.is(result.code, 0, result.stderr);
  const s = JSON.parse(result.stdout) as { node: string; id: string; interval: number; num: number; samples: string[]; nodes: number; rttMs: number };
  t.is(s.node, address);
  t.is(s.id, idToHex(node.id));
  t.is(s.num, 3);
  t.true(Number.isInteger(s.interval) && s.interval > 0);
  t.deepEqual([...s.samples].sort(), stored.map((h) => idToHex(h)).sort());
  t.is(s.nodes, 0);
  t.is(typeof s.rttMs, 'number');
});

test('sample against a node without BEP 51 says so and exits 1', async (t) => {
  // A KRPC socket with no handlers answers every method with 204 (method unknown).
  const bare = new KrpcSocket();
  await bare.bind(0, loopbackHost());
  t.teardown(() => bare.close());
  const { host, port } = bare.address();
  const result = await runCli(t, ['sample', `${host}:${port}`]);
  t.is(result.code, 1);
  t.is(result.stdout, '');
  t.regex(result.stderr, /does not support BEP 51/);
});

test('ping --json gets the in-process node id', async (t) => {
  const result = await runCli(t, ['ping', address, '--json']);
  t.is(result.code, 0, result.stderr);
  const p = JSON.parse(result.stdout) as { node: string; id: string };
  t.is(p.node, address);
  t.is(p.id, idToHex(node.id));
});
