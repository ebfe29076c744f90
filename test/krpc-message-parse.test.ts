/**
 * bep5/krpc-message.ts, parsing: classifying decoded datagrams as query / response / error
 * (BEP 5) by `t` and `y`, queries with their method, args and BEP 43 `ro`, the top-level extras
 * `v` and `ip` (BEP 42), and responses and errors; a malformed message says whether it can be
 * answered (replyTo). Inputs are decoded from real bencoded bytes, so each test sees what
 * arrives from the wire.
 */
import test, { type ExecutionContext } from 'ava';
import { decode, encode, type Encodable } from '../bep5/bencode.js';
import { MalformedMessageError } from '../bep5/errors.js';
import { CLIENT_VERSION, MAX_ERROR_MESSAGE_CHARS, MAX_INCOMING_TRANSACTION_ID_BYTES, MAX_VERSION_BYTES } from '../bep5/constants.js';
import { parseMessage, type IncomingMessage } from '../bep5/krpc-message.js';
import { AA, GENERIC_ERROR, ID_A, ID_R, PING_QUERY, PING_RESPONSE } from './helpers/bep5-wire.js';
import { asError, asQuery, asResponse } from './helpers/krpc-message.js';

/** parseMessage on the decoded bytes of a datagram written as a latin1 string. */
function parseWire(packet: string): IncomingMessage {
  return parseMessage(decode(Buffer.from(packet, 'latin1')));
}

/** parseMessage on a message built as a JS object, encoded and decoded as it would travel. */
function parse(msg: { readonly [key: string]: Encodable | undefined }): IncomingMessage {
  return parseMessage(decode(encode(msg)));
}

/** Asserts a MalformedMessageError and returns it. */
function malformed(t: ExecutionContext, fn: () => unknown, what?: string): MalformedMessageError | undefined {
  const err = t.throws(fn, { instanceOf: MalformedMessageError }, what);
  if (err !== undefined) {
    t.is(err.code, 'ERR_KRPC_MALFORMED');
    t.is(err.name, 'MalformedMessageError');
    t.true(err.message.includes(err.reason));
  }
  return err;
}

function malformedNoReply(t: ExecutionContext, fn: () => unknown, what?: string): void {
  const err = malformed(t, fn, what);
  t.is(err?.replyTo, undefined, what);
}

function malformedReplyTo(t: ExecutionContext, fn: () => unknown, tid: Buffer, what?: string): void {
  const err = malformed(t, fn, what);
  t.true(Buffer.isBuffer(err?.replyTo), what);
  t.true(err?.replyTo?.equals(tid), what);
}

const PING_ARGS = { id: ID_A };

// ---------------------------------------------------------------------------------------------
// Classification

test('BEP 5 ping query example is a query', (t) => {
  const q = asQuery(t, parseWire(PING_QUERY));
  t.true(q.t.equals(AA));
  t.is(q.method, 'ping');
  t.true((q.args['id'] as Buffer).equals(ID_A));
  t.false(q.readOnly);
  t.is(q.v, undefined);
});

test('BEP 5 ping response example is a response', (t) => {
  const r = asResponse(t, parseWire(PING_RESPONSE));
  t.true(r.t.equals(AA));
  t.true((r.body['id'] as Buffer).equals(ID_R));
  t.is(r.ip, undefined);
  t.is(r.v, undefined);
});

test('BEP 5 generic error example is an error 201', (t) => {
  const e = asError(t, parseWire(GENERIC_ERROR));
  t.true(e.t.equals(AA));
  t.is(e.code, 201);
  t.is(e.message, 'A Generic Error Ocurred');
  t.is(e.ip, undefined);
});

test('the other BEP 5 example queries classify as queries with their method names', (t) => {
  const examples: [string, string][] = [
    ['find_node', 'd1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz123456e1:q9:find_node1:t2:aa1:y1:qe'],
    ['get_peers', 'd1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz123456e1:q9:get_peers1:t2:aa1:y1:qe'],
    [
      'announce_peer',
      'd1:ad2:id20:abcdefghij012345678912:implied_porti1e9:info_hash20:mnopqrstuvwxyz1234564:porti6881e5:token8:aoeusnthe1:q13:announce_peer1:t2:aa1:y1:qe',
    ],
  ];
  for (const [method, packet] of examples) t.is(asQuery(t, parseWire(packet)).method, method);
});

test('a datagram that is not a dictionary is malformed, without replyTo', (t) => {
  for (const packet of ['le', 'l1:qe', 'i1e', '4:ping', `l${PING_QUERY}e`]) malformedNoReply(t, () => parseWire(packet), packet);
});

// ---------------------------------------------------------------------------------------------
// t

test('t of 1 and 32 bytes is accepted', (t) => {
  for (const len of [1, 2, 4, MAX_INCOMING_TRANSACTION_ID_BYTES]) {
    const tid = Buffer.alloc(len, 0xfe);
    t.true(parse({ t: tid, y: 'q', q: 'ping', a: PING_ARGS }).t.equals(tid));
    t.true(parse({ t: tid, y: 'r', r: { id: ID_R } }).t.equals(tid));
  }
});

test('t missing, empty, not a string or longer than 32 bytes: malformed, without replyTo', (t) => {
  const bad: [string, Encodable | undefined][] = [
    ['missing', undefined],
    ['empty', ''],
    ['integer', 1],
    ['list', ['aa']],
    ['dict', { t: 'aa' }],
    ['33 bytes', Buffer.alloc(33, 0x61)],
    ['MAX + 1 bytes', Buffer.alloc(MAX_INCOMING_TRANSACTION_ID_BYTES + 1, 0x61)],
    ['1000 bytes', Buffer.alloc(1000, 0x61)],
  ];
  for (const [what, tid] of bad) {
    // Even a well-formed query cannot be answered without a usable t.
    malformedNoReply(t, () => parse({ t: tid, y: 'q', q: 'ping', a: PING_ARGS }), `query, t ${what}`);
    malformedNoReply(t, () => parse({ t: tid, y: 'q' }), `bare query, t ${what}`);
    malformedNoReply(t, () => parse({ t: tid, y: 'r', r: { id: ID_R } }), `response, t ${what}`);
    malformedNoReply(t, () => parse({ t: tid, y: 'e', e: [201, 'x'] }), `error, t ${what}`);
  }
});

// ---------------------------------------------------------------------------------------------
// y

test('y missing, unknown, or more than one character: malformed, without replyTo', (t) => {
  const bad: [string, Encodable | undefined][] = [
    ['missing', undefined],
    ['x', 'x'],
    ['Q', 'Q'],
    ['qq', 'qq'],
    ['q with a NUL', Buffer.from([0x71, 0x00])],
    ['empty', ''],
    ['integer', 113],
    ['list', ['q']],
  ];
  for (const [what, y] of bad) {
    // Looks like a query in every other way, still no answer: we cannot know it is one.
    malformedNoReply(t, () => parse({ t: 'aa', y, q: 'ping', a: PING_ARGS }), `y ${what}`);
    malformedNoReply(t, () => parse({ t: 'aa', y, r: { id: ID_R } }), `y ${what}`);
  }
});

// ---------------------------------------------------------------------------------------------
// Queries

test('y=q with q or a missing or malformed: malformed WITH replyTo equal to t', (t) => {
  const tid = Buffer.from([0x00, 0xff, 0x10, 0x20]);
  const bad: [string, Record<string, Encodable | undefined>][] = [
    ['q missing', { a: PING_ARGS }],
    ['q empty', { q: '', a: PING_ARGS }],
    ['q integer', { q: 1, a: PING_ARGS }],
    ['q list', { q: ['ping'], a: PING_ARGS }],
    ['q of 65 bytes', { q: 'x'.repeat(65), a: PING_ARGS }],
    ['a missing', { q: 'ping' }],
    ['a list', { q: 'ping', a: [PING_ARGS] }],
    ['a string', { q: 'ping', a: 'd2:id20:abcdefghij0123456789e' }],
    ['a integer', { q: 'ping', a: 0 }],
    ['both missing', {}],
  ];
  for (const [what, rest] of bad) malformedReplyTo(t, () => parse({ t: tid, y: 'q', ...rest }), tid, what);
  // The BEP 5 example with `a` removed.
  malformedReplyTo(t, () => parseWire('d1:q4:ping1:t2:aa1:y1:qe'), AA, 'ping without a');
});

test('the method name is kept as a string even when unknown', (t) => {
  for (const method of ['vote', 'get', 'put', 'PING', 'find_nodes', 'x', 'x'.repeat(64), '__proto__']) {
    t.is(asQuery(t, parse({ t: 'aa', y: 'q', q: method, a: PING_ARGS })).method, method);
  }
  // Non-UTF-8 bytes survive as latin1, one char per byte.
  const raw = Buffer.from([0x70, 0xe9, 0xff, 0x00]);
  const m = asQuery(t, parse({ t: 'aa', y: 'q', q: raw, a: PING_ARGS }));
  t.true(Buffer.from(m.method, 'latin1').equals(raw));
});

test('query args are passed through unvalidated, as a dictionary', (t) => {
  const q = asQuery(t, parse({ t: 'aa', y: 'q', q: 'vote', a: { id: 5, anything: ['x'] } }));
  t.is(q.args['id'], 5);
  const empty = asQuery(t, parse({ t: 'aa', y: 'q', q: 'ping', a: {} }));
  t.deepEqual(Object.keys(empty.args), []);
});

test('BEP 43 ro: 1 is read-only; 0, absent or not an integer is not', (t) => {
  const ro = (value: Encodable | undefined): boolean => asQuery(t, parse({ t: 'aa', y: 'q', q: 'ping', a: PING_ARGS, ro: value })).readOnly;
  t.true(ro(1));
  t.false(ro(0));
  t.false(ro(undefined));
  t.false(ro('1'));
  t.false(ro([1]));
  // The BEP 43 wire form.
  t.true(asQuery(t, parseWire('d1:ad2:id20:abcdefghij0123456789e1:q4:ping2:roi1e1:t2:aa1:y1:qe')).readOnly);
  t.false(asQuery(t, parseWire('d1:ad2:id20:abcdefghij0123456789e1:q4:ping2:roi0e1:t2:aa1:y1:qe')).readOnly);
});

// ---------------------------------------------------------------------------------------------
// v

test('v is kept when a string of up to 64 bytes; ignored when an integer, a list or longer', (t) => {
  const cases: [Encodable | undefined, Buffer | undefined][] = [
    ['UT12', Buffer.from('UT12')],
    [CLIENT_VERSION, CLIENT_VERSION],
    ['', Buffer.alloc(0)],
    [Buffer.alloc(MAX_VERSION_BYTES, 0x41), Buffer.alloc(MAX_VERSION_BYTES, 0x41)],
    [Buffer.alloc(MAX_VERSION_BYTES + 1, 0x41), undefined],
    [1, undefined],
    [['UT12'], undefined],
    [{ v: 'UT12' }, undefined],
    [undefined, undefined],
  ];
  for (const [v, expected] of cases) {
    const messages = [
      parse({ t: 'aa', y: 'q', q: 'ping', a: PING_ARGS, v }),
      parse({ t: 'aa', y: 'r', r: { id: ID_R }, v }),
      parse({ t: 'aa', y: 'e', e: [201, 'x'], v }),
    ];
    for (const m of messages) {
      if (expected === undefined) t.is(m.v, undefined);
      else t.true(m.v?.equals(expected));
    }
  }
});

// ---------------------------------------------------------------------------------------------
// ip (BEP 42)

test('ip is decoded when 6 or 18 bytes, on responses and errors', (t) => {
  const v4 = Buffer.from([203, 0, 113, 9, 0x1a, 0xe1]);
  const v6 = Buffer.concat([Buffer.from('20010db8000000000000000000000042', 'hex'), Buffer.from([0xc3, 0x50])]);
  t.deepEqual(asResponse(t, parse({ t: 'aa', y: 'r', r: { id: ID_R }, ip: v4 })).ip, { host: '203.0.113.9', port: 6881 });
  t.deepEqual(asResponse(t, parse({ t: 'aa', y: 'r', r: { id: ID_R }, ip: v6 })).ip, { host: '2001:db8::42', port: 50_000 });
  t.deepEqual(asError(t, parse({ t: 'aa', y: 'e', e: [203, 'bad'], ip: v4 })).ip, { host: '203.0.113.9', port: 6881 });
  t.deepEqual(asError(t, parse({ t: 'aa', y: 'e', e: [203, 'bad'], ip: v6 })).ip, { host: '2001:db8::42', port: 50_000 });
});

test('a malformed ip is ignored, not fatal', (t) => {
  for (const ip of [Buffer.alloc(5), Buffer.alloc(7), Buffer.alloc(0), Buffer.alloc(4), Buffer.alloc(16), Buffer.alloc(17), Buffer.alloc(19), 1, [Buffer.alloc(6)], { ip: 'x' }] as Encodable[]) {
    t.is(asResponse(t, parse({ t: 'aa', y: 'r', r: { id: ID_R }, ip })).ip, undefined);
    t.is(asError(t, parse({ t: 'aa', y: 'e', e: [201, 'x'], ip })).ip, undefined);
  }
});

// ---------------------------------------------------------------------------------------------
// Responses

test('y=r with r missing or not a dictionary: malformed, without replyTo', (t) => {
  for (const r of [undefined, 'x', 1, [{ id: ID_R }]] as (Encodable | undefined)[]) {
    malformedNoReply(t, () => parse({ t: 'aa', y: 'r', r }), `r ${JSON.stringify(r)}`);
  }
  // A response carrying `a` (query-shaped) still needs `r`.
  malformedNoReply(t, () => parse({ t: 'aa', y: 'r', a: PING_ARGS, q: 'ping' }));
});

// ---------------------------------------------------------------------------------------------
// Errors

test('e: [203] (message absent) keeps the code with an empty message', (t) => {
  const e = asError(t, parse({ t: 'aa', y: 'e', e: [203] }));
  t.is(e.code, 203);
  t.is(e.message, '');
});

test('e with a non-string message keeps the code with an empty message', (t) => {
  for (const message of [5, ['x'], { m: 'x' }] as Encodable[]) {
    const e = asError(t, parse({ t: 'aa', y: 'e', e: [202, message] }));
    t.is(e.code, 202);
    t.is(e.message, '');
  }
});

test('extra items after the message are ignored', (t) => {
  const e = asError(t, parse({ t: 'aa', y: 'e', e: [204, 'Method Unknown', 'extra', 7] }));
  t.is(e.code, 204);
  t.is(e.message, 'Method Unknown');
});

test('e that is not a [code, message] list: malformed, without replyTo', (t) => {
  const bad: [string, Encodable | undefined][] = [
    ['["x"]', ['x']],
    ['["201", "x"]', ['201', 'x']],
    ['[[201], "x"]', [[201], 'x']],
    ['[]', []],
    ['missing', undefined],
    ['a string', '201 A Generic Error'],
    ['an integer', 201],
    ['a dict', { code: 201 }],
  ];
  for (const [what, e] of bad) malformedNoReply(t, () => parse({ t: 'aa', y: 'e', e }), what);
  malformedNoReply(t, () => parseWire('d1:el1:xe1:t2:aa1:y1:ee'), 'wire ["x"]');
});

test('a very long error message is truncated to 200 characters', (t) => {
  const long = 'A'.repeat(10_000);
  const e = asError(t, parse({ t: 'aa', y: 'e', e: [201, long] }));
  t.is(e.message.length, 200);
  t.is(MAX_ERROR_MESSAGE_CHARS, 200);
  t.is(e.message, long.slice(0, MAX_ERROR_MESSAGE_CHARS));
  // Exactly 200 is kept whole; multibyte text is cut by characters, not bytes.
  t.is(asError(t, parse({ t: 'aa', y: 'e', e: [201, 'B'.repeat(200)] })).message, 'B'.repeat(200));
  const greek = 'λ'.repeat(500);
  t.is(asError(t, parse({ t: 'aa', y: 'e', e: [201, greek] })).message, 'λ'.repeat(MAX_ERROR_MESSAGE_CHARS));
  const cjk = '漢'.repeat(500);
  t.is(asError(t, parse({ t: 'aa', y: 'e', e: [201, cjk] })).message, '漢'.repeat(MAX_ERROR_MESSAGE_CHARS));
});

test('error messages are decoded as UTF-8; invalid bytes become U+FFFD', (t) => {
  t.is(asError(t, parse({ t: 'aa', y: 'e', e: [201, 'café ✓'] })).message, 'café ✓');
  t.is(asError(t, parse({ t: 'aa', y: 'e', e: [201, Buffer.from([0x61, 0xff, 0x62])] })).message, 'a\ufffdb');
});

test('negative and huge error codes are kept as sent', (t) => {
  t.is(asError(t, parse({ t: 'aa', y: 'e', e: [-1, 'x'] })).code, -1);
  t.is(asError(t, parse({ t: 'aa', y: 'e', e: [Number.MAX_SAFE_INTEGER, 'x'] })).code, Number.MAX_SAFE_INTEGER);
});
