import test from 'ava';
import RPC from 'k-rpc-socket';
import { decodeNodes } from '../bep5/compact.js';
import { KrpcRemoteError } from '../bep5/errors.js';
import { KrpcSocket } from '../bep5/krpc-socket.js';
import { randomId } from '../bep5/node-id.js';
import { loopbackHost } from './helpers/udp.js';

/**
 * k-rpc-socket (webtorrent's KRPC layer) is an independent implementation: if it and we
 * understand each other in both directions, our encoding is not just self-consistent.
 * Per the toolchain notes we never pass `peer.id` to it (that path crashes it on bad input).
 */
async function kRpcPeer(t: { teardown(fn: () => void): void }): Promise<{ rpc: RPC; host: string; port: number }> {
  const rpc = RPC({ timeout: 2000 });
  const host = loopbackHost();
  await new Promise<void>((resolve) => rpc.bind(0, host, () => resolve()));
  t.teardown(() => rpc.destroy());
  return { rpc, host, port: rpc.address().port };
}

async function ours(t: { teardown(fn: () => Promise<void>): void }): Promise<KrpcSocket> {
  const s = new KrpcSocket();
  await s.bind(0, loopbackHost());
  t.teardown(() => s.close());
  return s;
}

test('we query k-rpc-socket: ping, find_node and get_peers replies parse', async (t) => {
  const { rpc, host, port } = await kRpcPeer(t);
  const theirId = randomId();
  const node = { id: randomId(), host: '10.0.0.7', port: 6881 };
  const nodes = Buffer.concat([node.id, Buffer.from([10, 0, 0, 7, 0x1a, 0xe1])]);
  rpc.on('query', (q, peer) => {
    const method = q.q?.toString();
    if (method === 'ping') rpc.response(peer, q, { id: theirId });
    else if (method === 'find_node') rpc.response(peer, q, { id: theirId, nodes });
    else if (method === 'get_peers') rpc.response(peer, q, { id: theirId, token: Buffer.from('abcd'), values: [Buffer.from([10, 1, 1, 1, 0, 80])] });
    else rpc.error(peer, q, [204, 'Method Unknown']);
  });
  const s = await ours(t);
  const to = { host, port };

  t.deepEqual((await s.query(to, { method: 'ping', id: randomId() })).reply.id, theirId);
  t.deepEqual((await s.query(to, { method: 'find_node', id: randomId(), target: randomId() })).reply.nodes, [node]);
  const gp = await s.query(to, { method: 'get_peers', id: randomId(), infoHash: randomId() });
  t.deepEqual(gp.reply.values, [{ host: '10.1.1.1', port: 80 }]);
  t.deepEqual(gp.reply.token, Buffer.from('abcd'));
  const err = await t.throwsAsync(s.query(to, { method: 'sample_infohashes', id: randomId(), target: randomId() }), {
    instanceOf: KrpcRemoteError,
  });
  t.is(err?.krpcCode, 204);
});

test('k-rpc-socket queries us: replies, errors and our BEP 42 ip field reach it intact', async (t) => {
  const { rpc } = await kRpcPeer(t);
  const s = await ours(t);
  const ourId = randomId();
  const node = { id: randomId(), host: '10.0.0.9', port: 4000 };
  s.handle('find_node', () => ({ id: ourId, nodes: [node] }));
  const peer = s.address();

  const res = await new Promise<RPC.Message>((resolve, reject) =>
    rpc.query(peer, { q: 'find_node', a: { id: randomId(), target: randomId() } }, (err, r) => (err ? reject(err) : resolve(r!))),
  );
  const r = res.r as { id: Buffer; nodes: Buffer };
  t.deepEqual(r.id, ourId);
  t.deepEqual(decodeNodes(r.nodes, 4), [node]);
  t.is((res.ip as Buffer).length, 6, 'BEP 42 ip field present and compact');
  t.deepEqual(res.t!.length, 2, 'their 2-byte transaction id is echoed');

  const err = await new Promise<Error & { code?: number }>((resolve) =>
    rpc.query(peer, { q: 'vote', a: { id: randomId() } }, (e) => resolve(e as Error & { code?: number })),
  );
  t.truthy(err);
  t.regex(err.message, /method unknown/);
});
