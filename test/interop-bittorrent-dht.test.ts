import test, { type ExecutionContext } from 'ava';
import DHT from 'bittorrent-dht';
import { createSocket, type Socket } from 'node:dgram';
import RPC from 'k-rpc-socket';
import { tryDecode } from '../bep5/bencode.js';
import { BencodeDecodeError, KrpcTimeoutError } from '../bep5/errors.js';
import { decodeNodes, decodePeer, type PeerAddress } from '../bep5/compact.js';
import { isDict } from '../bep5/fields.js';
import { DhtNode } from '../bep5/node.js';
import { type DhtNodeOptions } from '../bep5/node-types.js';
import { randomId } from '../bep5/node-id.js';
import { loopbackHost } from './helpers/udp.js';
import { pollUntil } from './helpers/wait.js';

/**
 * bittorrent-dht 11.0.12 (webtorrent's DHT: k-rpc 5.1.0 over k-rpc-socket 1.11.1) is the
 * second independent implementation we test against. Every node runs on its own 127.x.y.z
 * address; no bittorrent-dht instance is ever built without `bootstrap: false` or an explicit
 * loopback list, so nothing here can reach the public routers.
 *
 * What its source says about loopback (client.js, k-rpc/index.js): there is no address filter
 * at all. Queriers and responders with a 20-byte id go straight into its k-bucket (127.x
 * included), and its `host` option is not a bind address: it only makes announce() also
 * store the announcer itself under that host. Bind addresses go through listen().
 */

type T = ExecutionContext<unknown>;

const QUERY_TIMEOUT_MS = 1_000;

/**
 * A dgram socket for k-rpc-socket that drops what would hurt it (toolchain notes, pitfall 16):
 * anything our strict decoder rejects, a `t` too short for its readUInt16BE, and a response
 * whose r.id is not a 20-byte string. Our node never sends those; the guard keeps stray
 * datagrams from other test files from killing the worker.
 */
function guardedSocket(): Socket {
  const socket = createSocket('udp4');
  const emit = socket.emit.bind(socket) as (event: string | symbol, ...args: unknown[]) => boolean;
  socket.emit = ((event: string | symbol, ...args: unknown[]): boolean => {
    if (event === 'message' && !wellFormed(args[0] as Buffer)) return false;
    return emit(event, ...args);
  }) as typeof socket.emit;
  return socket;
}

function wellFormed(datagram: Buffer): boolean {
  const v = tryDecode(datagram, { maxDepth: 8 });
  if (v instanceof BencodeDecodeError || !isDict(v)) return false;
  if (!Buffer.isBuffer(v.t) || v.t.length < 2) return false;
  const r = v.r;
  if (r !== undefined && (!isDict(r) || !Buffer.isBuffer(r.id) || r.id.length !== 20)) return false;
  return true;
}

const at = (a: PeerAddress): string => `${a.host}:${a.port}`;

async function ours(t: T, bootstrap: PeerAddress[], extra: DhtNodeOptions = {}): Promise<DhtNode> {
  const node = new DhtNode({
    host: loopbackHost(),
    port: 0,
    bootstrap: bootstrap.map(at),
    allowPrivate: true,
    outgoingRate: 100_000,
    outgoingBurst: 100_000,
    adoptBep42Id: false,
    queryTimeoutMs: QUERY_TIMEOUT_MS,
    ...extra,
  });
  await node.start();
  t.teardown(() => node.stop());
  return node;
}

interface Theirs {
  dht: DHT;
  host: string;
  port: number;
  /** Its 'warning' and 'error' events. */
  problems: string[];
}

/**
 * A bittorrent-dht node. It starts bootstrapping on the next tick, so listen() is called in the
 * same tick as the constructor: dgram queues the bootstrap queries until the bind completes,
 * instead of auto-binding to 0.0.0.0 first. Resolves once it is listening and bootstrapped.
 */
async function theirs(t: T, bootstrap: PeerAddress[] | false): Promise<Theirs> {
  const host = loopbackHost();
  const dht = new DHT({
    bootstrap: bootstrap === false ? false : bootstrap.map((a) => ({ host: a.host, port: a.port })),
    timeout: QUERY_TIMEOUT_MS,
    socket: guardedSocket(),
  });
  const problems: string[] = [];
  dht.on('error', (err) => problems.push(`error: ${err.message}`));
  dht.on('warning', (err) => problems.push(`warning: ${err.message}`));
  const listening = new Promise<void>((resolve) => dht.listen(0, host, () => resolve()));
  const ready = new Promise<void>((resolve) => dht.once('ready', () => resolve()));
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        dht.destroy(() => resolve());
      }),
  );
  await Promise.all([listening, ready]);
  return { dht, host, port: dht.address().port, problems };
}

const addr = (x: Theirs | DhtNode): PeerAddress => (x instanceof DhtNode ? x.address()! : { host: x.host, port: x.port });

async function collectPeers(node: DhtNode, infoHash: Buffer): Promise<Array<{ peer: string; from: string }>> {
  const found: Array<{ peer: string; from: string }> = [];
  for await (const e of node.findPeers(infoHash)) {
    if (e.type === 'peers') for (const p of e.peers) found.push({ peer: at(p), from: at(e.from) });
  }
  return found;
}

test('mixed network: peers announced on either implementation are found through the other', async (t) => {
  // Joined one after another, each from a mix of the earlier nodes, as on the real DHT.
  const n0 = await ours(t, []);
  const b0 = await theirs(t, [addr(n0)]);
  const n1 = await ours(t, [addr(n0), addr(b0)]);
  await n1.bootstrap({ signal: AbortSignal.timeout(10_000) });
  const b1 = await theirs(t, [addr(n0), addr(b0), addr(n1)]);
  const n2 = await ours(t, [addr(b0), addr(b1)]);
  await n2.bootstrap({ signal: AbortSignal.timeout(10_000) });
  const b2 = await theirs(t, [addr(n1), addr(b1), addr(n2)]);
  // One refresh round: our nodes look themselves up again and meet the later joiners.
  const ourNodes = [n0, n1, n2];
  const theirNodes = [b0, b1, b2];
  await Promise.all(ourNodes.map((n) => n.bootstrap({ signal: AbortSignal.timeout(10_000) })));

  const ourHosts = new Set(ourNodes.map((n) => n.address()!.host));
  const theirIds = new Set(theirNodes.map((b) => b.dht.nodeId.toString('hex')));
  for (const n of ourNodes) {
    const known = n.table()!.all().filter((c) => theirIds.has(c.id.toString('hex'))).length;
    t.true(known >= 2, `${at(n.address()!)} knows ${known} bittorrent-dht nodes`);
  }
  for (const b of theirNodes) {
    const known = b.dht.nodes.toArray().filter((c) => ourHosts.has(c.host)).length;
    t.true(known >= 2, `bittorrent-dht ${b.host} knows ${known} of our nodes`);
  }

  // bittorrent-dht announces (get_peers lookup, then announce_peer with our tokens) ...
  const theirHash = randomId();
  const accepted: string[] = [];
  for (const n of ourNodes) n.on('announce', (a) => a.infoHash.equals(theirHash) && accepted.push(at(a.peer)));
  const hits = await new Promise<number>((resolve, reject) =>
    b1.dht.announce(theirHash, 51413, (err, n) => (err ? reject(err) : resolve(n ?? 0))),
  );
  t.true(hits >= 3, `bittorrent-dht's announce reached ${hits} nodes`);
  t.true(accepted.length >= 2, `our nodes accepted it ${accepted.length} times`);
  t.true(accepted.every((p) => p === `${b1.host}:51413`), accepted.join(', '));
  // ... and our lookup finds the peer (the lookup reports each distinct peer once, from
  // whichever node answered first) ...
  const announced = `${b1.host}:51413`;
  const found = await collectPeers(n2, theirHash);
  t.true(found.some((f) => f.peer === announced), `found ${JSON.stringify(found)}`);
  // ... and bittorrent-dht's own stores serve it in values-only replies (it leaves out
  // `nodes` once it has peers), which our reply parser accepts.
  for (const b of [b0, b2]) {
    const gp = await n2.socket()!.query(addr(b), { method: 'get_peers', id: n2.id, infoHash: theirHash });
    t.deepEqual(gp.reply.values.map(at), [announced], `get_peers at bittorrent-dht ${b.host}`);
    t.deepEqual(gp.reply.nodes, []);
    t.is(gp.reply.token?.length, 20);
  }

  // Our node announces (lookup, then announce_peer to the closest with a token) ...
  const ourHash = randomId();
  const stored: string[] = [];
  for (const b of theirNodes) {
    b.dht.on('announce', (peer, infoHash) => Buffer.from(infoHash).equals(ourHash) && stored.push(`${peer.host}:${peer.port}`));
  }
  const outcome = await n1.announce(ourHash, { port: 6882 });
  const announcedTo = new Set(outcome.announced.map((c) => c.id.toString('hex')));
  t.true([...theirIds].filter((id) => announcedTo.has(id)).length >= 2, 'bittorrent-dht nodes accepted our announce_peer');
  t.is(outcome.failed, 0);
  t.true(stored.length >= 2 && stored.every((p) => p === `${n1.address()!.host}:6882`), stored.join(', '));

  // ... and bittorrent-dht's lookup emits it as a 'peer' from a remote reply.
  const peers: Array<{ peer: string; from: string | null }> = [];
  const onPeer = (peer: DHT.Peer, infoHash: Buffer, from: { address: string; port: number } | null): void => {
    if (Buffer.from(infoHash).equals(ourHash)) peers.push({ peer: `${peer.host}:${peer.port}`, from: from && from.address });
  };
  b2.dht.on('peer', onPeer);
  await new Promise<void>((resolve, reject) => b2.dht.lookup(ourHash, (err) => (err ? reject(err) : resolve())));
  b2.dht.removeListener('peer', onPeer);
  const mine = `${n1.address()!.host}:6882`;
  const remote = peers.filter((p) => p.peer === mine && p.from !== null);
  t.true(remote.length > 0, `bittorrent-dht saw ${JSON.stringify(peers)}`);
  t.true(
    remote.some((p) => ourHosts.has(p.from!)),
    'bittorrent-dht parsed the values of one of our get_peers replies',
  );
  // Everything we sent it decoded and matched its transactions: it never warned.
  t.deepEqual(theirNodes.flatMap((b) => b.problems), []);
});

test('bittorrent-dht queries our node, and our node queries it (it answers ping, ignores BEP 51)', async (t) => {
  const node = await ours(t, []);
  const b = await theirs(t, false);
  const to = addr(b);
  const me = node.address()!;

  // Its ping (the one addNode uses): our id comes back, and we ping it back to verify it.
  const pong = await new Promise<DHT.Node>((resolve, reject) =>
    b.dht._sendPing(me, (err, n) => (err || !n ? reject(err ?? new Error('no node')) : resolve(n))),
  );
  t.deepEqual(Buffer.from(pong.id), node.id);
  t.is(pong.port, me.port);
  await pollUntil(() => node.table()!.get(b.dht.nodeId) !== undefined, 'bittorrent-dht to enter our table', 2_000, 20);
  t.truthy(node.table()!.get(b.dht.nodeId), 'it answered our verification ping, so it entered our table');

  // addNode without an id: it pings us and keeps us.
  b.dht.addNode(me);
  await pollUntil(() => b.dht.nodes.get(node.id) !== null, 'bittorrent-dht to keep our node', 2_000, 20);
  t.truthy(b.dht.nodes.get(node.id));

  // Its find_node through its own KRPC layer: our compact nodes parse with its own reader.
  const res = await new Promise<DHT.Message>((resolve, reject) =>
    b.dht._rpc.query(me, { q: 'find_node', a: { id: b.dht.nodeId, target: randomId() } }, (err, r) =>
      err || !r ? reject(err ?? new Error('no reply')) : resolve(r),
    ),
  );
  const r = res.r as { id: Buffer; nodes: Buffer };
  t.deepEqual(Buffer.from(r.id), node.id);
  t.deepEqual(
    decodeNodes(r.nodes, 4).map((n) => n.id.toString('hex')),
    [b.dht.nodeId.toString('hex')],
    'the only node we know is the one asking',
  );
  t.deepEqual(decodePeer(res.ip as Buffer), { host: b.host, port: b.port }, 'BEP 42 ip: its address as we see it');

  // Our ping: answered with its id. It sends neither `v` nor BEP 42's `ip`.
  const ping = await node.ping(to);
  t.deepEqual(ping.reply.id, Buffer.from(b.dht.nodeId));
  t.is(ping.v, undefined);
  t.is(ping.ip, undefined);

  // Our get_peers: a token and nodes, no values.
  const gp = await node.socket()!.query(to, { method: 'get_peers', id: node.id, infoHash: randomId() });
  t.is(gp.reply.token?.length, 20, 'its token is a 20-byte SHA-1 of host + secret');
  t.deepEqual(gp.reply.values, []);

  // BEP 51: bittorrent-dht has no sample_infohashes and its query switch has no default case,
  // so an unknown method gets no answer at all (not 204): our query times out.
  const before = node.stats().families.ipv4!.socket.timeouts;
  await t.throwsAsync(node.sampleInfohashes(to, randomId(), { timeoutMs: 300 }), { instanceOf: KrpcTimeoutError });
  t.is(node.stats().families.ipv4!.socket.timeouts, before + 1);
  t.is(node.stats().families.ipv4!.socket.errorsIn, 0, 'no 204 came back');
});

test('bittorrent-dht adds anyone who queries it to its table, even for a query it never answers', async (t) => {
  // BEP 5 says a querier must first answer a query of ours; k-rpc adds every querier with a
  // 20-byte id on arrival. Documented here because it makes its tables easy to poison.
  const b = await theirs(t, false);
  const node = await ours(t, []);
  t.is(b.dht.nodes.get(node.id), null);
  await t.throwsAsync(node.sampleInfohashes(addr(b), randomId(), { timeoutMs: 300 }), { instanceOf: KrpcTimeoutError });
  const entry = b.dht.nodes.get(node.id);
  t.truthy(entry);
  t.is(entry?.host, node.address()!.host);
});

test('a k-rpc-socket client pings, finds nodes, gets a token and announces to our node', async (t) => {
  const node = await ours(t, []);
  const other = await ours(t, [node.address()!]);
  await other.bootstrap({ signal: AbortSignal.timeout(10_000) });
  const me = node.address()!;

  const rpc = RPC({ timeout: QUERY_TIMEOUT_MS, socket: guardedSocket() });
  const host = loopbackHost();
  await new Promise<void>((resolve) => rpc.bind(0, host, () => resolve()));
  t.teardown(() => rpc.destroy());
  const clientId = randomId();
  const ask = (q: string, a: Record<string, unknown>): Promise<RPC.Message> =>
    new Promise((resolve, reject) => rpc.query(me, { q, a: { id: clientId, ...a } }, (err, res) => (err || !res ? reject(err ?? new Error('no reply')) : resolve(res))));

  const ping = await ask('ping', {});
  t.deepEqual(ping.r!.id, node.id);

  // `other` joined through `node`, which pinged it back and so knows it.
  await pollUntil(() => node.table()!.get(other.id) !== undefined, 'the node to know `other`', 2_000, 20);
  const fn = await ask('find_node', { target: other.id });
  t.deepEqual(decodeNodes(fn.r!.nodes as Buffer, 4)[0], { id: other.id, ...other.address()! });

  const infoHash = randomId();
  const gp = await ask('get_peers', { info_hash: infoHash });
  const token = gp.r!.token as Buffer;
  t.true(Buffer.isBuffer(token) && token.length === 8);
  t.is(gp.r!.values, undefined);
  t.true(Buffer.isBuffer(gp.r!.nodes));

  const events: string[] = [];
  node.on('announce', (a) => events.push(`${at(a.peer)} seed=${a.seed}`));
  const ann = await ask('announce_peer', { info_hash: infoHash, port: 6881, token });
  t.deepEqual(ann.r!.id, node.id);
  t.deepEqual(events, [`${host}:6881 seed=false`]);
  t.is(node.store.count(infoHash), 1);
  t.deepEqual(node.store.getPeers(infoHash, { family: 4, max: 10 }), [{ host, port: 6881 }]);

  // implied_port: the source port of the datagram is stored instead (same IP: a refresh).
  const implied = await ask('announce_peer', { info_hash: infoHash, port: 1, implied_port: 1, token });
  t.deepEqual(implied.r!.id, node.id);
  t.deepEqual(node.store.getPeers(infoHash, { family: 4, max: 10 }), [{ host, port: rpc.address().port }]);

  // A token is bound to the IP it was issued to, and the client sees the peer in get_peers.
  const gp2 = await ask('get_peers', { info_hash: infoHash });
  t.deepEqual(
    (gp2.r!.values as Buffer[]).map((v) => decodePeer(v)),
    [{ host, port: rpc.address().port }],
  );

  // Another node of ours finds it through a lookup.
  const found = await collectPeers(other, infoHash);
  t.true(found.some((f) => f.peer === `${host}:${rpc.address().port}`), JSON.stringify(found));
});
