/**
 * bep5/replies.ts, what holds for every reply: parsed replies are copies of the datagram,
 * encodeReply writes what the BEPs show, every reply round-trips encodeReply → the wire →
 * parseReply, and arbitrary bodies give a reply or a FieldError, nothing else.
 * Set FC_SEED (and FC_PATH) to replay a failure that fast-check reports.
 */
import test from 'ava';
import fc from 'fast-check';
import { params } from './helpers/fast-check.js';
import { deepStrictEqual } from 'node:assert/strict';
import { decode, encode, type BencodeDict, type Encodable } from '../bep5/bencode.js';
import { type NodeInfo, type PeerAddress } from '../bep5/compact.js';
import { BLOOM_FILTER_BYTES, MAX_SAMPLE_INTERVAL_SECONDS, MAX_TOKEN_BYTES } from '../bep5/constants.js';
import { FieldError } from '../bep5/errors.js';
import { formatIp, isIpv4Mapped } from '../bep5/ip.js';
import { METHODS, type Method } from '../bep5/queries.js';
import { encodeReply, parseReply, type ReplyInput, type ReplyOf } from '../bep5/replies.js';
import { asArrived as body, bytes as filled, ID_A, ID_R, TOKEN } from './helpers/bep5-wire.js';
import { EIGHT, node6, nodeId, SAMPLES, V6_A } from './helpers/reply-bodies.js';

// ---------------------------------------------------------------------------------------------
// Copies

test('returned ids, node ids, samples, tokens and bloom filters are copies of the datagram', (t) => {
  const bfsd = filled(BLOOM_FILTER_BYTES, 0x11);
  const bfpe = filled(BLOOM_FILTER_BYTES, 0x22);
  const gpDatagram = encode({ t: 'aa', y: 'r', r: { id: ID_R, token: TOKEN, nodes: EIGHT, nodes6: node6(nodeId(0), V6_A, 1), values: [Buffer.from([1, 2, 3, 4, 0, 80])], BFsd: bfsd, BFpe: bfpe } });
  const gp = parseReply('get_peers', (decode(gpDatagram) as BencodeDict)['r'] as BencodeDict);

  const siDatagram = encode({ t: 'aa', y: 'r', r: { id: ID_R, interval: 60, samples: Buffer.concat(SAMPLES), nodes: EIGHT } });
  const si = parseReply('sample_infohashes', (decode(siDatagram) as BencodeDict)['r'] as BencodeDict);

  const pingDatagram = encode({ t: 'aa', y: 'r', r: { id: ID_R } });
  const ping = parseReply('ping', (decode(pingDatagram) as BencodeDict)['r'] as BencodeDict);

  gpDatagram.fill(0xee);
  siDatagram.fill(0xee);
  pingDatagram.fill(0xee);

  t.true(ping.id.equals(ID_R));
  t.true(gp.id.equals(ID_R));
  t.true(gp.token?.equals(TOKEN));
  t.true(gp.bfsd?.equals(bfsd));
  t.true(gp.bfpe?.equals(bfpe));
  gp.nodes.forEach((n, i) => t.true(n.id.equals(nodeId(i))));
  t.true(gp.nodes6[0]?.id.equals(nodeId(0)));
  t.deepEqual(gp.values, [{ host: '1.2.3.4', port: 80 }]);
  t.true(si.id.equals(ID_R));
  t.deepEqual(si.samples.map((s) => s.toString('hex')), SAMPLES.map((s) => s.toString('hex')));
  si.nodes.forEach((n, i) => t.true(n.id.equals(nodeId(i))));
});

test('samples are separate buffers: changing one does not change another', (t) => {
  const si = parseReply('sample_infohashes', body({ id: ID_R, interval: 60, samples: Buffer.concat(SAMPLES) }));
  si.samples[0]!.fill(0);
  t.true(si.samples[1]!.equals(SAMPLES[1]!));
  t.true(si.samples[2]!.equals(SAMPLES[2]!));
});

// ---------------------------------------------------------------------------------------------
// Encoding

test('encodeReply omits node lists given as undefined and writes [] as an empty string', (t) => {
  const enc = <M extends Method>(m: M, r: ReplyInput<M>): string => encode(encodeReply(m, r)).toString('latin1');
  const id = `2:id20:${ID_R.toString('latin1')}`;
  t.is(enc('find_node', { id: ID_R, nodes: [] }), `d${id}5:nodes0:e`);
  t.is(enc('find_node', { id: ID_R, nodes6: [] }), `d${id}6:nodes60:e`);
  t.is(enc('find_node', { id: ID_R, nodes: undefined, nodes6: undefined }), `d${id}e`);
  t.is(enc('find_node', { id: ID_R, nodes: [], nodes6: [] }), `d${id}5:nodes0:6:nodes60:e`);
  t.is(enc('get_peers', { id: ID_R, token: TOKEN, nodes: [] }), `d${id}5:nodes0:5:token8:aoeusnthe`);
  t.is(enc('sample_infohashes', { id: ID_R, interval: 60, num: 0, samples: [] }), `d${id}8:intervali60e3:numi0e7:samples0:e`);
  t.is(
    enc('sample_infohashes', { id: ID_R, interval: 60, num: 0, samples: [], nodes: [], nodes6: undefined }),
    `d${id}8:intervali60e5:nodes0:3:numi0e7:samples0:e`,
  );
  // An empty values list is not written; a non-empty one is a list of compact peers.
  t.is(enc('get_peers', { id: ID_R, values: [], nodes: [] }), `d${id}5:nodes0:e`);
  t.is(enc('get_peers', { id: ID_R, values: [{ host: '1.2.3.4', port: 258 }] }), `d${id}6:valuesl6:\x01\x02\x03\x04\x01\x02ee`);
  // ping / announce_peer: id only.
  t.is(enc('ping', { id: ID_R }), `d${id}e`);
  t.is(enc('announce_peer', { id: ID_R }), `d${id}e`);
});

test('encodeReply reproduces the BEP 5 example responses byte for byte', (t) => {
  t.is(
    encode({ r: encodeReply('ping', { id: ID_R }), t: 'aa', y: 'r' }).toString('latin1'),
    'd1:rd2:id20:mnopqrstuvwxyz123456e1:t2:aa1:y1:re',
  );
  t.is(
    encode({
      r: encodeReply('get_peers', {
        id: ID_A,
        token: TOKEN,
        values: [
          { host: '97.120.106.101', port: 0x2e75 },
          { host: '105.100.104.116', port: 0x6e6d },
        ],
      }),
      t: 'aa',
      y: 'r',
    }).toString('latin1'),
    'd1:rd2:id20:abcdefghij01234567895:token8:aoeusnth6:valuesl6:axje.u6:idhtnmee1:t2:aa1:y1:re',
  );
});

test('encodeReply: an empty find_node reply that passes the encoder still parses (empty lists)', (t) => {
  const r = decode(encode(encodeReply('find_node', { id: ID_R, nodes: [], nodes6: [] }))) as BencodeDict;
  t.deepEqual(parseReply('find_node', r), { id: ID_R, nodes: [], nodes6: [] });
});

// Round trips --------------------------------------------------------------------------------

const id20 = fc.uint8Array({ minLength: 20, maxLength: 20 }).map((u) => Buffer.from(u));
const v4Host = fc.uint8Array({ minLength: 4, maxLength: 4 }).map((u) => formatIp(u));
/** IPv6 hosts, minus IPv4-mapped ones (those are written as 6-byte IPv4 by design). */
const v6Host = fc
  .uint8Array({ minLength: 16, maxLength: 16 })
  .filter((u) => !isIpv4Mapped(u))
  .map((u) => formatIp(u));
const port = fc.integer({ min: 0, max: 65_535 });
const node4Arb: fc.Arbitrary<NodeInfo> = fc.record({ id: id20, host: v4Host, port });
const node6Arb: fc.Arbitrary<NodeInfo> = fc.record({ id: id20, host: v6Host, port });
const peerArb: fc.Arbitrary<PeerAddress> = fc.record({ host: fc.oneof(v4Host, v6Host), port });
const nodes4 = fc.option(fc.array(node4Arb, { maxLength: 8 }), { nil: undefined });
const nodes6 = fc.option(fc.array(node6Arb, { maxLength: 8 }), { nil: undefined });
const tokenArb = fc.option(
  fc.uint8Array({ minLength: 1, maxLength: MAX_TOKEN_BYTES }).map((u) => Buffer.from(u)),
  { nil: undefined },
);
const bloomArb = fc.option(
  fc.uint8Array({ minLength: BLOOM_FILTER_BYTES, maxLength: BLOOM_FILTER_BYTES }).map((u) => Buffer.from(u)),
  { nil: undefined },
);

/** Plain objects (fast-check records have a null prototype), so deepStrictEqual compares shapes only. */
const plainNodes = (n: NodeInfo[] | undefined): NodeInfo[] => (n ?? []).map((x) => ({ id: x.id, host: x.host, port: x.port }));
const plainPeers = (p: PeerAddress[] | undefined): PeerAddress[] => (p ?? []).map((x) => ({ host: x.host, port: x.port }));

/** encodeReply → the wire → parseReply. */
function viaWire<M extends Method>(method: M, reply: ReplyInput<M>): ReplyOf<M> {
  const datagram = encode({ t: Buffer.from([1, 2, 3, 4]), y: 'r', r: encodeReply(method, reply) });
  return parseReply(method, (decode(datagram) as BencodeDict)['r'] as BencodeDict);
}

test('property: ping / announce_peer replies round-trip', (t) => {
  fc.assert(
    fc.property(id20, (id) => {
      deepStrictEqual(viaWire('ping', { id }), { id });
      deepStrictEqual(viaWire('announce_peer', { id }), { id });
    }),
    params(100),
  );
  t.pass();
});

test('property: find_node replies round-trip', (t) => {
  fc.assert(
    fc.property(
      id20,
      nodes4,
      nodes6,
      (id, nodes, nodes6) => {
        fc.pre(nodes !== undefined || nodes6 !== undefined);
        deepStrictEqual(viaWire('find_node', { id, nodes, nodes6 }), { id, nodes: plainNodes(nodes), nodes6: plainNodes(nodes6) });
      },
    ),
    params(300),
  );
  t.pass();
});

test('property: get_peers replies round-trip', (t) => {
  fc.assert(
    fc.property(
      fc.record({
        id: id20,
        token: tokenArb,
        values: fc.option(fc.array(peerArb, { maxLength: 20 }), { nil: undefined }),
        nodes: nodes4,
        nodes6,
        bfsd: bloomArb,
        bfpe: bloomArb,
      }),
      (reply) => {
        // Something to say: a non-empty values list or a node list (see the report on values: []).
        fc.pre((reply.values !== undefined && reply.values.length > 0) || reply.nodes !== undefined || reply.nodes6 !== undefined);
        deepStrictEqual(viaWire('get_peers', reply), {
          id: reply.id,
          token: reply.token,
          values: plainPeers(reply.values),
          nodes: plainNodes(reply.nodes),
          nodes6: plainNodes(reply.nodes6),
          bfsd: reply.bfsd,
          bfpe: reply.bfpe,
        });
      },
    ),
    params(300),
  );
  t.pass();
});

test('property: sample_infohashes replies round-trip', (t) => {
  fc.assert(
    fc.property(
      fc.record({
        id: id20,
        interval: fc.integer({ min: 0, max: MAX_SAMPLE_INTERVAL_SECONDS }),
        num: fc.nat(),
        samples: fc.array(id20, { maxLength: 20 }),
        nodes: nodes4,
        nodes6,
      }),
      (reply) => {
        deepStrictEqual(viaWire('sample_infohashes', reply), {
          id: reply.id,
          interval: reply.interval,
          num: reply.num,
          samples: reply.samples,
          nodes: plainNodes(reply.nodes),
          nodes6: plainNodes(reply.nodes6),
        });
      },
    ),
    params(300),
  );
  t.pass();
});

test('property: parseReply on arbitrary bodies returns or throws FieldError only', (t) => {
  const keys = ['id', 'nodes', 'nodes6', 'values', 'token', 'BFsd', 'BFpe', 'interval', 'num', 'samples', 'v', 'k', 'seq', 'sig', 'x'];
  const lengths = [0, 5, 6, 18, 20, 26, 32, 38, 40, 52, 64, 76, 255, 256];
  const leaf: fc.Arbitrary<Encodable> = fc.oneof(
    fc.constantFrom(...lengths).chain((n) => fc.uint8Array({ minLength: n, maxLength: n })).map((u) => Buffer.from(u)),
    fc.uint8Array({ maxLength: 60 }).map((u) => Buffer.from(u)),
    fc.integer({ min: -30_000, max: 30_000 }),
  );
  const value: fc.Arbitrary<Encodable> = fc.oneof(leaf, fc.array(leaf, { maxLength: 10 }), fc.dictionary(fc.constantFrom(...keys), leaf));
  fc.assert(
    fc.property(fc.constantFrom(...METHODS), fc.dictionary(fc.constantFrom(...keys), value), (method, r) => {
      try {
        const reply = parseReply(method, body(r));
        if (reply.id.length !== 20) throw new Error('bad id');
      } catch (err) {
        if (!(err instanceof FieldError)) throw err;
      }
    }),
    params(300),
  );
  t.pass();
});
