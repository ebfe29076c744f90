import test from 'ava';
import { encode } from '../bep5/bencode.js';
import { KrpcSocket } from '../bep5/krpc-socket.js';
import { randomId } from '../bep5/node-id.js';
import { HOSTILE_DATAGRAMS } from './fixtures/hostile-datagrams.js';
import { RawPeer, loopbackHost } from './helpers/udp.js';

test('every hostile datagram is dropped or answered with an error, and the socket keeps answering pings', async (t) => {
  const node = new KrpcSocket();
  const nodeId = randomId();
  node.handle('ping', () => ({ id: nodeId }));
  node.handle('find_node', () => ({ id: nodeId, nodes: [] }));
  node.handle('get_peers', () => ({ id: nodeId, nodes: [] }));
  node.handle('announce_peer', () => ({ id: nodeId }));
  const internal: unknown[] = [];
  node.on('internal-error', (e) => internal.push(e));
  const me = await node.bind(0, loopbackHost());
  const attacker = await RawPeer.bind();
  const prober = await RawPeer.bind();
  t.teardown(() => Promise.all([node.close(), attacker.close(), prober.close()]));

  for (const [name, bytes, expected] of HOSTILE_DATAGRAMS) {
    const started = process.hrtime.bigint();
    await attacker.send(bytes, me.port, me.host);
    // A ping right behind it must be answered: the hostile datagram neither hung nor killed the socket.
    await prober.send(encode({ t: 'pp', y: 'q', q: 'ping', a: { id: randomId() } }), me.port, me.host);
    const answer = await prober.next(2000).catch(() => undefined);
    t.truthy(answer, `no ping answer after: ${name}`);
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    t.true(ms < 1000, `${name} took ${ms} ms`);
    // The attacker gets exactly what a correct node sends: nothing, one error, or one reply.
    const answers = attacker.received.splice(0).map((r) => r.msg.toString('latin1'));
    if (expected === 'drop') t.deepEqual(answers, [], `${name}: expected silence`);
    else {
      t.is(answers.length, 1, `${name}: expected one answer`);
      t.regex(answers[0] ?? '', expected === 'error' ? /1:y1:e/ : /1:y1:r/, name);
    }
  }

  const stats = node.stats();
  t.deepEqual(internal, []);
  t.is(stats.internalErrors, 0);
  const count = (e: string): number => HOSTILE_DATAGRAMS.filter(([, , x]) => x === e).length;
  t.is(stats.queriesIn.ping, HOSTILE_DATAGRAMS.length + count('reply'), 'every probe and every valid ping answered');
  const dropped = Object.values(stats.dropped).reduce((a, b) => a + b, 0);
  const answeredWithError = Object.values(stats.errorsOut).reduce((a, b) => a + b, 0);
  t.true(dropped >= count('drop'), `dropped ${dropped} of ${count('drop')}`);
  t.is(answeredWithError, count('error'));
  t.true(stats.dropped.undecodable >= 10);
  t.is(stats.errorsOut[204], 1, 'the unknown method gets 204');
});

test('a flood of garbage leaves memory bounded and pending state empty', async (t) => {
  const node = new KrpcSocket();
  node.handle('ping', () => ({ id: randomId() }));
  const me = await node.bind(0, loopbackHost());
  const attacker = await RawPeer.bind();
  t.teardown(() => Promise.all([node.close(), attacker.close()]));
  const before = process.memoryUsage().heapUsed;
  for (let round = 0; round < 20; round++) {
    await Promise.all(HOSTILE_DATAGRAMS.map(([, bytes]) => attacker.send(bytes, me.port, me.host)));
  }
  // The flood can overflow the kernel's receive buffer, which then drops any datagram, so
  // probe a few times: what matters is that the node answers once the burst has been read.
  const prober = await RawPeer.bind();
  t.teardown(() => prober.close());
  let answered = false;
  for (let attempt = 0; attempt < 10 && !answered; attempt++) {
    await prober.send(encode({ t: 'pp', y: 'q', q: 'ping', a: { id: randomId() } }), me.port, me.host);
    answered = (await prober.next(500).catch(() => undefined)) !== undefined;
  }
  t.true(answered);
  global.gc?.();
  const grown = process.memoryUsage().heapUsed - before;
  t.true(grown < 64 * 1024 * 1024, `heap grew ${grown} bytes`);
  t.is(node.inflight, 0);
  t.is(node.stats().internalErrors, 0);
});
