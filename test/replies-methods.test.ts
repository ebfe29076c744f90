/**
 * bep5/replies.ts, method by method: validation of reply bodies (`r`) against the method they
 * answer (BEP 5 ping, announce_peer, find_node and get_peers, BEP 32 nodes6 and mixed values,
 * BEP 33 bloom filters, BEP 51 sample_infohashes) and of the id every reply carries. Inputs are
 * decoded from real bencoded bytes, so each test sees exactly what arrives from the wire.
 */
import test, { type ExecutionContext } from 'ava';
import { decode, type BencodeDict, type Encodable } from '../bep5/bencode.js';
import { BLOOM_FILTER_BYTES, MAX_SAMPLE_INTERVAL_SECONDS, MAX_TOKEN_BYTES } from '../bep5/constants.js';
import { FieldError } from '../bep5/errors.js';
import { METHODS, type Method } from '../bep5/queries.js';
import { parseReply } from '../bep5/replies.js';
import { asArrived as body, bytes as filled, ID_A, ID_R, TOKEN } from './helpers/bep5-wire.js';
import { EIGHT, node4, node6, nodeId, SAMPLES, V6_A, V6_B } from './helpers/reply-bodies.js';

/** A whole datagram, decoded as the socket would; returns its `r`. */
function bodyOf(packet: string): BencodeDict {
  return (decode(Buffer.from(packet, 'latin1')) as BencodeDict)['r'] as BencodeDict;
}

function fieldError(t: ExecutionContext, fn: () => unknown, mention?: RegExp): string {
  const err = t.throws(fn, { instanceOf: FieldError });
  const reason = err?.reason ?? '';
  if (mention !== undefined) t.regex(reason, mention);
  return reason;
}

test('the BEP-fixed sizes are the ones the BEPs give', (t) => {
  t.is(BLOOM_FILTER_BYTES, 256); // BEP 33
  t.is(MAX_SAMPLE_INTERVAL_SECONDS, 21_600); // BEP 51
});

// ---------------------------------------------------------------------------------------------
// ping / announce_peer

test('BEP 5 ping and announce_peer response examples parse', (t) => {
  const r = bodyOf('d1:rd2:id20:mnopqrstuvwxyz123456e1:t2:aa1:y1:re');
  t.deepEqual(parseReply('ping', r), { id: ID_R });
  t.deepEqual(parseReply('announce_peer', r), { id: ID_R });
});

test('extra fields in a ping reply are ignored', (t) => {
  t.deepEqual(parseReply('ping', body({ id: ID_R, nodes: 'x', ip: 5, zzz: ['a'] })), { id: ID_R });
});

// ---------------------------------------------------------------------------------------------
// find_node

test('find_node reply with 8 IPv4 nodes', (t) => {
  const reply = parseReply('find_node', body({ id: ID_R, nodes: EIGHT }));
  t.true(reply.id.equals(ID_R));
  t.is(reply.nodes.length, 8);
  t.deepEqual(reply.nodes6, []);
  reply.nodes.forEach((n, i) => {
    t.true(n.id.equals(nodeId(i)));
    t.is(n.host, `10.0.0.${i + 1}`);
    t.is(n.port, 6881 + i);
  });
});

test('find_node reply with nodes6 only (BEP 32)', (t) => {
  const reply = parseReply('find_node', body({ id: ID_R, nodes6: Buffer.concat([node6(nodeId(0), V6_A, 1), node6(nodeId(1), V6_B, 65_535)]) }));
  t.deepEqual(reply.nodes, []);
  t.deepEqual(
    reply.nodes6.map((n) => [n.id.toString('hex'), n.host, n.port]),
    [
      [nodeId(0).toString('hex'), '2001:db8::1', 1],
      [nodeId(1).toString('hex'), '2a01::ff', 65_535],
    ],
  );
});

test('find_node reply with both families, and with empty node lists', (t) => {
  const both = parseReply('find_node', body({ id: ID_R, nodes: node4(nodeId(0), [1, 2, 3, 4], 80), nodes6: node6(nodeId(1), V6_A, 443) }));
  t.is(both.nodes.length, 1);
  t.is(both.nodes6.length, 1);
  // An empty string: the node was asked and knows none.
  t.deepEqual(parseReply('find_node', body({ id: ID_R, nodes: '' })), { id: ID_R, nodes: [], nodes6: [] });
});

test('find_node reply with its id alone is an empty answer (a node with an empty table, as jech/dht sends); one with values instead of nodes is a FieldError', (t) => {
  t.deepEqual(parseReply('find_node', body({ id: ID_R })), { id: ID_R, nodes: [], nodes6: [] });
  fieldError(t, () => parseReply('find_node', body({ id: ID_R, values: ['abcdef'] })), /nodes/);
});

test('get_peers reply with a token and neither values nor nodes is an empty answer that keeps its token; with none of the three a FieldError', (t) => {
  const r = parseReply('get_peers', body({ id: ID_R, token: 'abcdefgh' }));
  t.like(r, { values: [], nodes: [], nodes6: [] });
  t.is((r as { token?: Buffer }).token?.toString(), 'abcdefgh');
  fieldError(t, () => parseReply('get_peers', body({ id: ID_R })), /values or nodes/);
});

test('BEP 5 find_node response example ("def456...", 9 bytes) is a partial entry', (t) => {
  fieldError(t, () => parseReply('find_node', bodyOf('d1:rd2:id20:0123456789abcdefghij5:nodes9:def456...e1:t2:aa1:y1:re')), /nodes/);
});

for (const method of ['find_node', 'get_peers', 'sample_infohashes'] as const) {
  test(`${method}: nodes of 25 or 27 bytes, nodes6 of 37 or 39, are FieldErrors`, (t) => {
    const base: Record<string, Encodable> =
      method === 'sample_infohashes' ? { id: ID_R, interval: 60, num: 0, samples: '' } : { id: ID_R };
    for (const len of [1, 25, 27, 26 * 8 - 1, 26 * 8 + 1]) {
      fieldError(t, () => parseReply(method, body({ ...base, nodes: filled(len, 1) })), /^nodes\b/);
    }
    for (const len of [26, 37, 39, 38 * 2 + 1]) {
      fieldError(t, () => parseReply(method, body({ ...base, nodes6: filled(len, 1) })), /^nodes6\b/);
    }
    // A good list next to a bad one does not save it.
    fieldError(t, () => parseReply(method, body({ ...base, nodes: EIGHT, nodes6: filled(37, 1) })), /nodes6/);
    // Not a string at all.
    fieldError(t, () => parseReply(method, body({ ...base, nodes: [EIGHT] })), /nodes/);
    fieldError(t, () => parseReply(method, body({ ...base, nodes: 26 })), /nodes/);
  });
}

// ---------------------------------------------------------------------------------------------
// get_peers

test('BEP 5 get_peers "response with peers" example parses', (t) => {
  const reply = parseReply('get_peers', bodyOf('d1:rd2:id20:abcdefghij01234567895:token8:aoeusnth6:valuesl6:axje.u6:idhtnmee1:t2:aa1:y1:re'));
  t.true(reply.id.equals(ID_A));
  t.true(reply.token?.equals(TOKEN));
  // "axje.u": 0x61 0x78 0x6a 0x65, port 0x2e75; "idhtnm": 0x69 0x64 0x68 0x74, port 0x6e6d.
  t.deepEqual(reply.values, [
    { host: '97.120.106.101', port: 0x2e75 },
    { host: '105.100.104.116', port: 0x6e6d },
  ]);
  t.deepEqual(reply.nodes, []);
  t.deepEqual(reply.nodes6, []);
  t.is(reply.bfsd, undefined);
  t.is(reply.bfpe, undefined);
});

test('get_peers values may mix 6- and 18-byte entries (BEP 32), with a token', (t) => {
  const values = [
    Buffer.from([192, 0, 2, 1, 0x1a, 0xe1]),
    Buffer.concat([V6_A, Buffer.from([0x1a, 0xe2])]),
    Buffer.from([198, 51, 100, 7, 0, 80]),
    Buffer.concat([V6_B, Buffer.from([0xff, 0xff])]),
  ];
  const reply = parseReply('get_peers', body({ id: ID_R, token: TOKEN, values }));
  t.deepEqual(reply.values, [
    { host: '192.0.2.1', port: 6881 },
    { host: '2001:db8::1', port: 6882 },
    { host: '198.51.100.7', port: 80 },
    { host: '2a01::ff', port: 65_535 },
  ]);
  t.true(reply.token?.equals(TOKEN));
});

test('get_peers with nodes only, and without a token (BEP 33: token may be absent)', (t) => {
  const reply = parseReply('get_peers', body({ id: ID_R, nodes: EIGHT }));
  t.is(reply.token, undefined);
  t.deepEqual(reply.values, []);
  t.is(reply.nodes.length, 8);
  t.deepEqual(reply.nodes6, []);
  const v6 = parseReply('get_peers', body({ id: ID_R, token: TOKEN, nodes6: node6(nodeId(0), V6_A, 1) }));
  t.is(v6.nodes6.length, 1);
  t.true(v6.token?.equals(TOKEN));
});

test('get_peers with values and nodes together (BEP 32)', (t) => {
  const reply = parseReply('get_peers', body({ id: ID_R, token: TOKEN, values: [Buffer.from([1, 2, 3, 4, 0, 1])], nodes: EIGHT }));
  t.is(reply.values.length, 1);
  t.is(reply.nodes.length, 8);
});

test('get_peers with neither values nor nodes nor a token is a FieldError', (t) => {
  fieldError(t, () => parseReply('get_peers', body({ id: ID_R })), /values or nodes/);
  fieldError(t, () => parseReply('get_peers', body({ id: ID_R, BFsd: filled(256, 0), BFpe: filled(256, 0) })), /values or nodes/);
  // With a token it is an answer (an empty table, or a scrape-only reply): bep5/replies.ts.
  t.notThrows(() => parseReply('get_peers', body({ id: ID_R, token: TOKEN, BFsd: filled(256, 0), BFpe: filled(256, 0) })));
});

test('get_peers values: bad items and non-lists are FieldErrors', (t) => {
  const bad: Encodable[] = [
    [Buffer.alloc(5)],
    [Buffer.alloc(7)],
    [Buffer.alloc(17)],
    [Buffer.alloc(19)],
    [Buffer.alloc(0)],
    [Buffer.alloc(6), Buffer.alloc(5)],
    [6881],
    [[Buffer.alloc(6)]],
    Buffer.alloc(12), // a compact string instead of a list
    6,
  ];
  for (const values of bad) fieldError(t, () => parseReply('get_peers', body({ id: ID_R, token: TOKEN, values, nodes: EIGHT })), /values/);
});

test('get_peers token: absent or empty means none; too long or not a string is a FieldError', (t) => {
  t.true(parseReply('get_peers', body({ id: ID_R, token: filled(MAX_TOKEN_BYTES, 7), nodes: '' })).token?.equals(filled(MAX_TOKEN_BYTES, 7)));
  fieldError(t, () => parseReply('get_peers', body({ id: ID_R, token: filled(MAX_TOKEN_BYTES + 1, 7), nodes: '' })), /token/);
  t.is(parseReply('get_peers', body({ id: ID_R, token: '', nodes: '' })).token, undefined, 'an empty token is no token');
  fieldError(t, () => parseReply('get_peers', body({ id: ID_R, token: 1234, nodes: '' })), /token/);
});

test('get_peers BFsd / BFpe: 256 bytes accepted; 255 or 257 rejected (BEP 33)', (t) => {
  const bfsd = filled(BLOOM_FILTER_BYTES, 0xa5);
  const bfpe = filled(BLOOM_FILTER_BYTES, 0x5a);
  const reply = parseReply('get_peers', body({ id: ID_R, token: TOKEN, nodes: EIGHT, BFsd: bfsd, BFpe: bfpe }));
  t.true(reply.bfsd?.equals(bfsd));
  t.true(reply.bfpe?.equals(bfpe));
  for (const key of ['BFsd', 'BFpe']) {
    for (const len of [255, 257, 0]) {
      fieldError(t, () => parseReply('get_peers', body({ id: ID_R, nodes: EIGHT, [key]: filled(len, 1) })), new RegExp(key));
    }
    fieldError(t, () => parseReply('get_peers', body({ id: ID_R, nodes: EIGHT, [key]: 256 })), new RegExp(key));
  }
  // Only one of them is fine.
  t.is(parseReply('get_peers', body({ id: ID_R, nodes: EIGHT, BFsd: bfsd })).bfpe, undefined);
});

// ---------------------------------------------------------------------------------------------
// sample_infohashes

test('sample_infohashes reply with interval, num, samples and nodes (BEP 51)', (t) => {
  const reply = parseReply('sample_infohashes', body({ id: ID_R, interval: 3600, num: 1234, samples: Buffer.concat(SAMPLES), nodes: EIGHT }));
  t.true(reply.id.equals(ID_R));
  t.is(reply.interval, 3600);
  t.is(reply.num, 1234);
  t.deepEqual(reply.samples.map((s) => s.toString('hex')), SAMPLES.map((s) => s.toString('hex')));
  t.is(reply.nodes.length, 8);
  t.deepEqual(reply.nodes6, []);
});

test('sample_infohashes: zero-length samples and no nodes are fine', (t) => {
  t.deepEqual(parseReply('sample_infohashes', body({ id: ID_R, interval: 0, num: 0, samples: '' })), {
    id: ID_R,
    interval: 0,
    num: 0,
    samples: [],
    nodes: [],
    nodes6: [],
  });
});

test('sample_infohashes: samples missing is a FieldError (tells non-supporting nodes apart)', (t) => {
  fieldError(t, () => parseReply('sample_infohashes', body({ id: ID_R, interval: 60, num: 5, nodes: EIGHT })), /samples/);
});

test('sample_infohashes: samples of a partial length or the wrong type are FieldErrors', (t) => {
  for (const len of [1, 19, 21, 39, 41]) {
    fieldError(t, () => parseReply('sample_infohashes', body({ id: ID_R, interval: 60, samples: filled(len, 1) })), /samples/);
  }
  fieldError(t, () => parseReply('sample_infohashes', body({ id: ID_R, interval: 60, samples: [SAMPLES[0]!] })), /samples/);
  fieldError(t, () => parseReply('sample_infohashes', body({ id: ID_R, interval: 60, samples: 20 })), /samples/);
});

test('sample_infohashes: an interval past 21600 is clamped, a missing one is 0; a negative one is rejected', (t) => {
  const at = (interval: Encodable | undefined) => parseReply('sample_infohashes', body({ id: ID_R, interval, samples: '' }));
  t.is(at(MAX_SAMPLE_INTERVAL_SECONDS).interval, MAX_SAMPLE_INTERVAL_SECONDS);
  t.is(at(MAX_SAMPLE_INTERVAL_SECONDS + 1).interval, MAX_SAMPLE_INTERVAL_SECONDS);
  t.is(at(21_601).interval, 21_600);
  t.is(at(Number.MAX_SAFE_INTEGER).interval, MAX_SAMPLE_INTERVAL_SECONDS);
  t.is(at(0).interval, 0);
  fieldError(t, () => at(-1), /interval/);
  fieldError(t, () => at('60'), /interval/);
  t.is(at(undefined).interval, 0, 'a missing interval reads as 0 (advisory field)');
});

test('sample_infohashes: num missing defaults to the samples count; negative num is rejected', (t) => {
  const reply = parseReply('sample_infohashes', body({ id: ID_R, interval: 60, samples: Buffer.concat(SAMPLES) }));
  t.is(reply.num, 3);
  // num smaller than the samples count is passed through as sent.
  t.is(parseReply('sample_infohashes', body({ id: ID_R, interval: 60, num: 1, samples: Buffer.concat(SAMPLES) })).num, 1);
  fieldError(t, () => parseReply('sample_infohashes', body({ id: ID_R, interval: 60, num: -1, samples: '' })), /num/);
  fieldError(t, () => parseReply('sample_infohashes', body({ id: ID_R, interval: 60, num: '3', samples: '' })), /num/);
});

// ---------------------------------------------------------------------------------------------
// id

const VALID_BODY: Record<Method, Record<string, Encodable>> = {
  ping: { id: ID_R },
  announce_peer: { id: ID_R },
  find_node: { id: ID_R, nodes: EIGHT },
  get_peers: { id: ID_R, token: TOKEN, nodes: EIGHT },
  sample_infohashes: { id: ID_R, interval: 60, num: 3, samples: Buffer.concat(SAMPLES) },
  get: { id: ID_R, token: TOKEN, nodes: EIGHT },
  put: { id: ID_R },
};

for (const method of METHODS) {
  test(`${method}: id of the wrong length or type is a FieldError`, (t) => {
    t.notThrows(() => parseReply(method, body(VALID_BODY[method])));
    for (const id of [filled(19, 1), filled(21, 1), filled(0, 1), 20, [ID_R]] as Encodable[]) {
      fieldError(t, () => parseReply(method, body({ ...VALID_BODY[method], id })), /\bid\b/);
    }
    fieldError(t, () => parseReply(method, body({ ...VALID_BODY[method], id: undefined })), /missing id/);
  });
}
