import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DhtNode } from '../bep5/node.js';
import { type DhtNodeOptions } from '../bep5/node-types.js';
import { randomId, xorDistance } from '../bep5/node-id.js';
import { seededRandom } from '../bep5/random.js';
import { loopbackHost } from './helpers/udp.js';

/**
 * An in-process network of 200 real nodes, each on its own 127.x.y.z address, talking over
 * real UDP. Nodes join one after another from a few earlier nodes, as on the real DHT.
 */
const SIZE = 200;

function closestIds(ids: Buffer[], target: Buffer, k = 8): string[] {
  return [...ids]
    .sort((a, b) => Buffer.compare(xorDistance(a, target), xorDistance(b, target)))
    .slice(0, k)
    .map((id) => id.toString('hex'));
}

function nodeOptions(extra: DhtNodeOptions = {}): DhtNodeOptions {
  // High outgoing budget: 200 nodes share one process; pacing is tested elsewhere.
  return { host: loopbackHost(), port: 0, allowPrivate: true, outgoingRate: 100_000, outgoingBurst: 100_000, adoptBep42Id: false, ...extra };
}

const network: DhtNode[] = [];

test.before(async () => {
  const random = seededRandom(2026);
  const first = new DhtNode(nodeOptions({ bootstrap: [], id: randomId(random) }));
  await first.start();
  network.push(first);
  // Join in waves: each node bootstraps from up to 3 nodes that joined before it.
  for (let wave = 1; network.length < SIZE; wave++) {
    const batch = Math.min(20, SIZE - network.length);
    const joiners = await Promise.all(
      Array.from({ length: batch }, async () => {
        const seeds = Array.from({ length: 3 }, () => network[Math.floor(Math.random() * network.length)]!.address()!);
        const node = new DhtNode(nodeOptions({ bootstrap: seeds.map((a) => `${a.host}:${a.port}`), id: randomId(random) }));
        await node.start();
        await node.bootstrap({ signal: AbortSignal.timeout(20_000) });
        return node;
      }),
    );
    network.push(...joiners);
  }
  // One refresh round, as a real node does over its first minutes: look up our own id again.
  await Promise.all(network.map((n) => n.bootstrap({ signal: AbortSignal.timeout(20_000) })));
});

test.after.always(async () => {
  await Promise.all(network.map((n) => n.stop()));
});

test('every node joined: its table holds many nodes, and no one holds itself', (t) => {
  t.is(network.length, SIZE);
  const sizes = network.map((n) => n.table()!.size);
  t.true(Math.min(...sizes) >= 8, `smallest table ${Math.min(...sizes)}`);
  for (const n of network) t.falsy(n.table()!.get(n.id));
});

test('find_node lookups from random nodes converge on the true 8 closest', async (t) => {
  const ids = network.map((n) => n.id);
  const random = seededRandom(7);
  let exact = 0;
  const rounds = 20;
  for (let i = 0; i < rounds; i++) {
    const from = network[Math.floor(Math.random() * SIZE)]!;
    const target = randomId(random);
    let result;
    for await (const e of from.lookup(target)) if (e.type === 'done') result = e.result;
    const found = result!.closest.map((c) => c.node.id.toString('hex'));
    const expected = closestIds(ids.filter((id) => !id.equals(from.id)), target);
    const overlap = found.filter((h) => expected.includes(h)).length;
    t.true(overlap >= 7, `lookup ${i}: ${overlap}/8 of the true closest`);
    if (overlap === 8) exact++;
  }
  t.true(exact >= rounds - 2, `${exact}/${rounds} exact`);
});

test('a peer announced through one node is found from any other node', async (t) => {
  const infoHash = randomId(seededRandom(11));
  const announcer = network[17]!;
  const announced = await announcer.announce(infoHash, { port: 51413 });
  t.true(announced.announced.length >= 6, `announced to ${announced.announced.length} nodes`);
  for (const finder of [network[3]!, network[150]!, network[199]!]) {
    const peers: string[] = [];
    for await (const e of finder.findPeers(infoHash)) if (e.type === 'peers') peers.push(...e.peers.map((p) => `${p.host}:${p.port}`));
    t.true(peers.includes(`${announcer.address()!.host}:51413`), `found ${peers.join(', ')}`);
  }
  // implied_port: the announcer's DHT port is what gets stored.
  const implied = randomId(seededRandom(12));
  await announcer.announce(implied, { impliedPort: true });
  const peers: string[] = [];
  for await (const e of network[42]!.findPeers(implied)) if (e.type === 'peers') peers.push(...e.peers.map((p) => `${p.host}:${p.port}`));
  const a = announcer.address()!;
  t.true(peers.includes(`${a.host}:${a.port}`));
});

test('a restarted node reloads its table from the data directory and rejoins without bootstrap', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'dhtscope-node-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const seed = network[5]!.address()!;
  const host = loopbackHost();
  const first = new DhtNode(nodeOptions({ host, bootstrap: [`${seed.host}:${seed.port}`], dataDir }));
  await first.start();
  await first.bootstrap({ signal: AbortSignal.timeout(20_000) });
  const id = first.id;
  const known = first.table()!.size;
  t.true(known >= 8);
  await first.stop();

  const second = new DhtNode(nodeOptions({ host, bootstrap: [], dataDir }));
  await second.start();
  t.teardown(() => second.stop());
  t.deepEqual(second.id, id, 'the saved id is kept');
  t.is(second.table()!.size, 0, 'saved contacts are not trusted until they answer again');
  const size = await second.bootstrap({ signal: AbortSignal.timeout(20_000) });
  t.true(size >= 8, `rejoined with ${size} nodes and no bootstrap router`);
});
