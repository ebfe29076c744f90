/**
 * Hostile traffic at a whole running DhtNode (handlers, token checks, peer store, routing
 * table, querier verification), not just at its KrpcSocket: every datagram of the hostile
 * corpus and every wrong-typed field of every method is dropped or refused, nothing gets into
 * the store or the table, and the node answers throughout. Serial, like the other
 * node-hostile-*.test.ts files.
 */
import test from 'ava';
import { type BencodeDict, type Encodable, encode } from '../bep5/bencode.js';
import { randomId } from '../bep5/node-id.js';
import { type Expected, HOSTILE_DATAGRAMS } from './fixtures/hostile-datagrams.js';
import { asDict, ask, bytes, drain, errorCode, probe, q, r, rawPeer, startNode, tokenFor, y } from './helpers/node-hostile.js';
import { pollUntil } from './helpers/wait.js';

interface Case {
  name: string;
  bytes: Buffer;
  expected: Expected;
  /** The KRPC error code, when the answer must be a specific error. */
  code?: number;
}

/**
 * Every method with each of its fields replaced by wrong types and lengths, from an otherwise
 * valid query. The announce_peer base carries a real token for the attacker's IP, so a
 * mutation that slipped through validation would be stored, and the test would see it.
 */
function wrongTypedCases(id: Buffer, token: Buffer, infoHash: Buffer): Case[] {
  const target = randomId();
  const base: Record<string, Record<string, Encodable>> = {
    ping: { id },
    find_node: { id, target },
    get_peers: { id, info_hash: infoHash },
    announce_peer: { id, info_hash: infoHash, port: 6881, token },
    sample_infohashes: { id, target },
  };
  const badIds: Array<[string, Encodable | undefined]> = [
    ['missing', undefined],
    ['an integer', 1],
    ['a negative integer', -1],
    ['a list of ids', [target]],
    ['a dict', { id: target }],
    ['19 bytes', target.subarray(1)],
    ['21 bytes', Buffer.concat([target, Buffer.from([1])])],
    ['empty', Buffer.alloc(0)],
    ['40 hex chars', target.toString('hex')],
  ];
  const badWants: Array<[string, Encodable]> = [
    ['an integer', 4],
    ['a string', 'n4'],
    ['a dict', { n4: 1 }],
    ['a list of integers', [4, 6]],
    ['a nested list', [['n4']]],
    ['17 items', Array<string>(17).fill('n4')],
    ['10,000 items', Array<string>(10_000).fill('n6')],
  ];
  const badFlags: Array<[string, Encodable]> = [
    ['a string', '1'],
    ['a list', [1]],
    ['a dict', {}],
  ];
  const badTokens: Array<[string, Encodable | undefined]> = [
    ['missing', undefined],
    ['an integer', 1],
    ['a list', [token]],
    ['a dict', { token }],
    ['empty', ''],
    ['65 bytes', Buffer.alloc(65, 1)],
  ];
  const badPorts: Array<[string, Encodable | undefined]> = [
    ['missing', undefined],
    ['a string', '6881'],
    ['0 without implied_port', 0],
    ['negative', -1],
    ['65,536', 65_536],
    ['2^40', 2 ** 40],
    ['a list', [6881]],
  ];
  const cases: Case[] = [];
  const add = (method: string, field: string, what: string, value: Encodable | undefined, extra: Record<string, Encodable> = {}): void => {
    cases.push({
      name: `${method} with ${field} ${what}`,
      bytes: q(method, { ...base[method], ...extra, [field]: value }),
      expected: 'error',
      code: 203,
    });
  };
  for (const method of Object.keys(base)) {
    for (const [what, v] of badIds) add(method, 'id', what, v);
  }
  for (const method of ['find_node', 'sample_infohashes']) for (const [what, v] of badIds) add(method, 'target', what, v);
  for (const method of ['get_peers', 'announce_peer']) for (const [what, v] of badIds) add(method, 'info_hash', what, v);
  for (const method of ['find_node', 'get_peers', 'sample_infohashes']) for (const [what, v] of badWants) add(method, 'want', what, v);
  for (const [what, v] of badFlags) {
    add('get_peers', 'noseed', what, v);
    add('get_peers', 'scrape', what, v);
    add('announce_peer', 'seed', what, v);
    add('announce_peer', 'implied_port', what, v);
  }
  for (const [what, v] of badTokens) add('announce_peer', 'token', what, v);
  for (const [what, v] of badPorts) add('announce_peer', 'port', what, v);
  // With implied_port the port may be absent, but if present it must still be an integer.
  add('announce_peer', 'port', 'a string with implied_port', '6881', { implied_port: 1 });
  // Valid shape, wrong content: tokens that are not ours for this IP.
  add('announce_peer', 'token', 'of the right length but forged', Buffer.alloc(token.length, 0x5a));
  add('announce_peer', 'token', 'one byte short', token.subarray(1));
  add('announce_peer', 'token', 'with a byte appended', Buffer.concat([token, Buffer.from([0])]));
  // The `a` dictionary itself.
  cases.push({ name: 'announce_peer with a as a list', bytes: encode({ t: 'ab', y: 'q', q: 'announce_peer', a: [base.announce_peer!] }), expected: 'error', code: 203 });
  return cases;
}

test.serial('every hostile datagram and every wrong-typed field is dropped or refused, and the node lives on', async (t) => {
  const { node, at } = await startNode(t);
  const internal: unknown[] = [];
  node.socket()!.on('internal-error', (e) => internal.push(e));
  const attacker = await rawPeer(t);
  const prober = await rawPeer(t);
  const attackerId = randomId();
  const attackerQueries: BencodeDict[] = [];
  const token = await tokenFor(attacker, at, attackerId);
  t.is(token.length, 8);
  const infoHash = randomId();

  const cases: Case[] = [
    ...HOSTILE_DATAGRAMS.map(([name, bytes, expected]) => ({ name, bytes, expected })),
    ...wrongTypedCases(attackerId, token, infoHash),
  ];
  t.true(cases.length > 150, `${cases.length} cases`);
  for (const c of cases) {
    const started = process.hrtime.bigint();
    await attacker.send(c.bytes, at.port, at.host);
    t.true(await probe(prober, at), `no ping answer after: ${c.name}`);
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    t.true(ms < 1000, `${c.name} took ${ms} ms`);
    const answers = drain(attacker, attackerQueries);
    if (c.expected === 'drop') {
      t.deepEqual(answers, [], `${c.name}: expected silence`);
      continue;
    }
    t.is(answers.length, 1, `${c.name}: expected one answer`);
    const [answer] = answers;
    if (answer === undefined) continue;
    t.is(y(answer), c.expected === 'error' ? 'e' : 'r', c.name);
    if (c.code !== undefined) t.is(errorCode(answer), c.code, `${c.name}: ${JSON.stringify(answer.e && String(answer.e))}`);
  }

  // Nothing was stored: every announce was malformed or carried a bad token.
  t.deepEqual(node.store.size, { infohashes: 0, peers: 0 });
  const stats = node.stats().families.ipv4!.socket;
  t.deepEqual(internal, []);
  t.is(stats.internalErrors, 0);
  t.is(stats.handlerFailures, 0, 'no handler threw (a 202 would mean a bug)');
  t.is(stats.errorsOut[202], undefined);
  t.is(stats.dropped['handlers-busy'], 0);
  t.is(stats.dropped['reply-too-large'], 0);

  // BEP 5: queries alone never put anyone in the table. The node pinged each unknown querier
  // once to verify it (the attacker and the prober), nobody answered, and after the timeout
  // the table is still empty. Nobody answers any query of the node, so each ends in a timeout.
  const socketStats = (): typeof stats => node.stats().families.ipv4!.socket;
  const sent = (): number => Object.values(socketStats().queriesOut).reduce((a, b) => a + b, 0);
  await pollUntil(() => sent() > 0 && socketStats().timeouts === sent(), 'the verification pings to time out', 5_000, 20);
  // The node decides on a ping as it answers a query; this last query's answer therefore comes
  // after any ping an earlier query drew (`ask` collects those on the way).
  await ask(attacker, at, q('ping', { id: attackerId }, 'zz'), attackerQueries);
  drain(attacker, attackerQueries);
  t.deepEqual(
    attackerQueries.map((d) => bytes(d.q).toString()),
    ['ping'],
    'one verification ping per address, not one per query',
  );
  t.is(node.table()!.size, 0);
  t.is(node.table()!.getByAddress(attacker.host, attacker.port), undefined);
  t.is(node.table()!.get(attackerId), undefined);

  // Control: a querier that does answer the verification ping is added, so the check above
  // is not passing for want of pings.
  const responder = await rawPeer(t);
  const responderId = randomId();
  const responderQueries: BencodeDict[] = [];
  const pong = await ask(responder, at, q('ping', { id: responderId }), responderQueries);
  t.deepEqual(bytes(r(pong).id), node.id);
  const verification = responderQueries[0] ?? asDict((await responder.next(2000)).msg);
  t.is(bytes(verification.q).toString(), 'ping');
  await responder.send(encode({ t: bytes(verification.t), y: 'r', r: { id: responderId } }), at.port, at.host);
  await pollUntil(() => node.table()!.size > 0, 'the responder to enter the table', 2_000, 10);
  t.is(node.table()!.size, 1);
  t.truthy(node.table()!.get(responderId));

  // And the unmodified announce the wrong-typed ones were derived from is stored.
  const ok = await ask(attacker, at, q('announce_peer', { id: attackerId, info_hash: infoHash, port: 6881, token }));
  t.deepEqual(bytes(r(ok).id), node.id);
  t.deepEqual(node.store.getPeers(infoHash, { family: 4, max: 10 }), [{ host: attacker.host, port: 6881 }]);
  t.true(await probe(prober, at));
});
