/**
 * bep5/krpc-message.ts, encoding and properties: the message encoders give the BEP 5 example
 * bytes (with BEP 43 `ro`, `v` and the BEP 42 `ip` extra) and round-trip through parseMessage;
 * parseMessage on random bytes, random bencode and mutated messages gives a message or a
 * MalformedMessageError, never anything else.
 * Set FC_SEED (and FC_PATH) to replay a failure that fast-check reports.
 */
import test from 'ava';
import fc from 'fast-check';
import { params } from './helpers/fast-check.js';
import { decode, encode, tryDecode, type BencodeDict, type BencodeValue, type Encodable } from '../bep5/bencode.js';
import { BencodeDecodeError, MalformedMessageError } from '../bep5/errors.js';
import { CLIENT_VERSION, MAX_ERROR_MESSAGE_CHARS, MAX_INCOMING_TRANSACTION_ID_BYTES, MAX_VERSION_BYTES } from '../bep5/constants.js';
import { encodeErrorMessage, encodeQueryMessage, encodeResponseMessage, parseMessage, type IncomingMessage } from '../bep5/krpc-message.js';
import { AA, GENERIC_ERROR, ID_A, ID_R, PING_QUERY, PING_RESPONSE } from './helpers/bep5-wire.js';
import { asError, asQuery, asResponse } from './helpers/krpc-message.js';

// ---------------------------------------------------------------------------------------------
// Encoding

test('encodeQueryMessage / encodeResponseMessage / encodeErrorMessage give the BEP 5 example bytes', (t) => {
  t.is(encodeQueryMessage(AA, 'ping', { id: ID_A }, { v: undefined }).toString('latin1'), PING_QUERY);
  t.is(encodeResponseMessage(AA, { id: ID_R }, { v: undefined }).toString('latin1'), PING_RESPONSE);
  t.is(encodeErrorMessage(AA, 201, 'A Generic Error Ocurred', { v: undefined }).toString('latin1'), GENERIC_ERROR);
  // Extras default to none.
  t.is(encodeQueryMessage(AA, 'ping', { id: ID_A }).toString('latin1'), PING_QUERY);
  t.is(encodeResponseMessage(AA, { id: ID_R }).toString('latin1'), PING_RESPONSE);
  t.is(encodeErrorMessage(AA, 201, 'A Generic Error Ocurred').toString('latin1'), GENERIC_ERROR);
});

test('readOnly adds 2:roi1e to queries (BEP 43); readOnly false adds nothing', (t) => {
  t.is(
    encodeQueryMessage(AA, 'ping', { id: ID_A }, { readOnly: true }).toString('latin1'),
    'd1:ad2:id20:abcdefghij0123456789e1:q4:ping2:roi1e1:t2:aa1:y1:qe',
  );
  t.is(encodeQueryMessage(AA, 'ping', { id: ID_A }, { readOnly: false }).toString('latin1'), PING_QUERY);
  t.true(asQuery(t, parseMessage(decode(encodeQueryMessage(AA, 'ping', { id: ID_A }, { readOnly: true })))).readOnly);
});

test('v is written when given', (t) => {
  const bytes = encodeQueryMessage(AA, 'ping', { id: ID_A }, { v: CLIENT_VERSION });
  t.is(bytes.toString('latin1'), `d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:v4:DS\x00\x011:y1:qe`);
  t.true(parseMessage(decode(bytes)).v?.equals(CLIENT_VERSION));
});

test('the ip extra encodes as 6-byte compact for IPv4 and 18-byte for IPv6', (t) => {
  const v4 = encodeResponseMessage(AA, { id: ID_R }, { ip: { host: '1.2.3.4', port: 6881 } });
  t.is(v4.toString('latin1'), `d2:ip6:\x01\x02\x03\x04\x1a\xe11:rd2:id20:mnopqrstuvwxyz123456e1:t2:aa1:y1:re`);
  t.deepEqual(asResponse(t, parseMessage(decode(v4))).ip, { host: '1.2.3.4', port: 6881 });

  const v6 = encodeResponseMessage(AA, { id: ID_R }, { ip: { host: '2001:db8::1', port: 443 } });
  const v6ip = (decode(v6) as BencodeDict)['ip'] as Buffer;
  t.is(v6ip.length, 18);
  t.is(v6ip.toString('hex'), '20010db8000000000000000000000001' + '01bb');
  t.deepEqual(asResponse(t, parseMessage(decode(v6))).ip, { host: '2001:db8::1', port: 443 });

  // A dual-stack socket's IPv4-mapped view of an IPv4 peer is written as IPv4.
  const mapped = encodeResponseMessage(AA, { id: ID_R }, { ip: { host: '::ffff:1.2.3.4', port: 6881 } });
  t.is(((decode(mapped) as BencodeDict)['ip'] as Buffer).toString('hex'), '01020304' + '1ae1');

  const err = encodeErrorMessage(AA, 203, 'bad token', { ip: { host: '1.2.3.4', port: 6881 } });
  t.is(err.toString('latin1'), `d1:eli203e9:bad tokene2:ip6:\x01\x02\x03\x04\x1a\xe11:t2:aa1:y1:ee`);
  const e = asError(t, parseMessage(decode(err)));
  t.deepEqual(e.ip, { host: '1.2.3.4', port: 6881 });
  t.is(e.code, 203);
  t.is(e.message, 'bad token');
});

test('queries never carry ip', (t) => {
  const q = encodeQueryMessage(AA, 'ping', { id: ID_A }, { ip: { host: '1.2.3.4', port: 1 } });
  t.is(q.toString('latin1'), PING_QUERY);
});

test('encoded messages round-trip through parseMessage', (t) => {
  const tid = Buffer.from([0xde, 0xad, 0xbe, 0xef]);
  const q = asQuery(t, parseMessage(decode(encodeQueryMessage(tid, 'get_peers', { id: ID_A, info_hash: ID_R }, { v: CLIENT_VERSION }))));
  t.true(q.t.equals(tid));
  t.is(q.method, 'get_peers');
  t.true((q.args['info_hash'] as Buffer).equals(ID_R));
  t.true(q.v?.equals(CLIENT_VERSION));
  const e = asError(t, parseMessage(decode(encodeErrorMessage(tid, 204, 'Method Unknown'))));
  t.true(e.t.equals(tid));
  t.is(e.code, 204);
  t.is(e.message, 'Method Unknown');
});

// ---------------------------------------------------------------------------------------------
// Properties

/** Checks what parseMessage promises for any decoded value; throws (for fast-check) otherwise. */
function checkParse(value: BencodeValue): void {
  let m: IncomingMessage;
  try {
    m = parseMessage(value);
  } catch (err) {
    if (!(err instanceof MalformedMessageError)) throw err;
    if (err.replyTo !== undefined) {
      // Only a query with a usable t is answered, and with that very t.
      const d = value as BencodeDict;
      const y = d['y'];
      if (!Buffer.isBuffer(y) || y.toString('latin1') !== 'q') throw new Error('replyTo on a non-query');
      const tid = d['t'];
      if (!Buffer.isBuffer(tid) || !tid.equals(err.replyTo)) throw new Error('replyTo is not t');
      if (err.replyTo.length < 1 || err.replyTo.length > MAX_INCOMING_TRANSACTION_ID_BYTES) throw new Error('replyTo length');
    }
    return;
  }
  if (!Buffer.isBuffer(m.t) || m.t.length < 1 || m.t.length > MAX_INCOMING_TRANSACTION_ID_BYTES) throw new Error('bad t');
  if (m.v !== undefined && (!Buffer.isBuffer(m.v) || m.v.length > MAX_VERSION_BYTES)) throw new Error('bad v');
  switch (m.y) {
    case 'q':
      if (typeof m.method !== 'string' || m.method.length < 1) throw new Error('bad method');
      if (typeof m.args !== 'object' || m.args === null || Array.isArray(m.args) || Buffer.isBuffer(m.args)) throw new Error('bad args');
      if (typeof m.readOnly !== 'boolean') throw new Error('bad readOnly');
      break;
    case 'r':
      if (typeof m.body !== 'object' || m.body === null || Array.isArray(m.body) || Buffer.isBuffer(m.body)) throw new Error('bad body');
      if (m.ip !== undefined && (typeof m.ip.host !== 'string' || !Number.isInteger(m.ip.port))) throw new Error('bad ip');
      break;
    case 'e':
      if (!Number.isSafeInteger(m.code)) throw new Error('bad code');
      if (typeof m.message !== 'string' || m.message.length > MAX_ERROR_MESSAGE_CHARS) throw new Error('bad message');
      if (m.ip !== undefined && (typeof m.ip.host !== 'string' || !Number.isInteger(m.ip.port))) throw new Error('bad ip');
      break;
    default:
      throw new Error(`bad y ${String((m as { y: unknown }).y)}`);
  }
}

test('property: random byte strings give a message or MalformedMessageError, never anything else', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      const value = tryDecode(bytes);
      if (value instanceof BencodeDecodeError) return;
      checkParse(value);
    }),
    params(300),
  );
  t.pass();
});

const KEYS = ['t', 'y', 'q', 'a', 'r', 'e', 'v', 'ip', 'ro', 'id', '__proto__', 'x'];
const leaf: fc.Arbitrary<Encodable> = fc.oneof(
  fc.constantFrom('q', 'r', 'e', 'qq', '', 'ping', 'aa', 'x'),
  fc.constantFrom(0, 1, 6, 18, 32, 33, 64, 65, 201).chain((n) => fc.uint8Array({ minLength: n, maxLength: n })).map((u) => Buffer.from(u)),
  fc.uint8Array({ maxLength: 40 }).map((u) => Buffer.from(u)),
  fc.integer(),
  fc.constantFrom(0, 1, -1, 201, 203, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER),
);
const anyValue: fc.Arbitrary<Encodable> = fc.letrec<{ value: Encodable }>((tie) => ({
  value: fc.oneof(
    { maxDepth: 4, depthIdentifier: 'msg' },
    leaf,
    fc.array(tie('value'), { maxLength: 4, depthIdentifier: 'msg' }),
    fc.dictionary(fc.constantFrom(...KEYS), tie('value'), { maxKeys: 5, depthIdentifier: 'msg' }),
  ),
})).value;

/** Message-shaped dictionaries: each well-known key is present with a plausible or random value. */
const messageLike: fc.Arbitrary<Encodable> = fc.record(
  {
    t: fc.oneof(leaf, fc.constantFrom<Encodable>('aa', Buffer.alloc(32, 1), Buffer.alloc(33, 1))),
    y: fc.oneof(fc.constantFrom<Encodable>('q', 'r', 'e'), anyValue),
    q: fc.oneof(fc.constantFrom<Encodable>('ping', 'get_peers', 'vote', ''), anyValue),
    a: fc.oneof(fc.constant<Encodable>({ id: ID_A }), anyValue),
    r: fc.oneof(fc.constant<Encodable>({ id: ID_R }), anyValue),
    e: fc.oneof(fc.constantFrom<Encodable>([201, 'x'], [203], ['x'], []), anyValue),
    v: anyValue,
    ip: anyValue,
    ro: anyValue,
  },
  { requiredKeys: [] },
);

test('property: random valid-bencode structures give a message or MalformedMessageError, never anything else', (t) => {
  fc.assert(
    fc.property(fc.oneof(anyValue, messageLike), (structure) => {
      checkParse(decode(encode(structure)));
    }),
    params(300),
  );
  t.pass();
});

test('property: mutated valid messages give a message or MalformedMessageError, never anything else', (t) => {
  const base = [PING_QUERY, PING_RESPONSE, GENERIC_ERROR].map((s) => Buffer.from(s, 'latin1'));
  fc.assert(
    fc.property(
      fc.constantFrom(...base),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
      (packet, edits) => {
        const bytes = Buffer.from(packet);
        for (const [at, b] of edits) bytes[at % bytes.length] = b;
        const value = tryDecode(bytes);
        if (value instanceof BencodeDecodeError) return;
        checkParse(value);
      },
    ),
    params(300),
  );
  t.pass();
});
