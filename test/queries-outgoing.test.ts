/**
 * bep5/queries.ts, outgoing queries: encodeQueryArgs writes the BEP 5 example bytes and only the
 * flags that are set; properties: every method round-trips through the wire, and parseQueryArgs
 * on arbitrary argument dicts returns or throws FieldError only; and assertValidQuery.
 * Set FC_SEED (and FC_PATH) to replay a failure that fast-check reports.
 */
import test from 'ava';
import fc from 'fast-check';
import { params } from './helpers/fast-check.js';
import { deepStrictEqual } from 'node:assert/strict';
import { decode, encode, type BencodeDict, type Encodable } from '../bep5/bencode.js';
import { MAX_TOKEN_BYTES } from '../bep5/constants.js';
import { FieldError } from '../bep5/errors.js';
import { METHODS, assertValidQuery, encodeQueryArgs, isMethod, parseQueryArgs, type AnnouncePeerQuery, type Query, type Want } from '../bep5/queries.js';
import { asArrived as args, bytes, ID_A, ID_R as ID_B, TOKEN } from './helpers/bep5-wire.js';
import { valueArb } from './helpers/bep44.js';

// ---------------------------------------------------------------------------------------------
// Encoding

test('encodeQueryArgs reproduces the BEP 5 example packets byte for byte', (t) => {
  const packet = (q: Query): string => encode({ a: encodeQueryArgs(q), q: q.method, t: 'aa', y: 'q' }).toString('latin1');
  t.is(packet({ method: 'ping', id: ID_A }), 'd1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe');
  t.is(
    packet({ method: 'find_node', id: ID_A, target: ID_B }),
    'd1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz123456e1:q9:find_node1:t2:aa1:y1:qe',
  );
  t.is(
    packet({ method: 'get_peers', id: ID_A, infoHash: ID_B }),
    'd1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz123456e1:q9:get_peers1:t2:aa1:y1:qe',
  );
  t.is(
    packet({ method: 'announce_peer', id: ID_A, infoHash: ID_B, port: 6881, impliedPort: true, token: TOKEN }),
    'd1:ad2:id20:abcdefghij012345678912:implied_porti1e9:info_hash20:mnopqrstuvwxyz1234564:porti6881e5:token8:aoeusnthe1:q13:announce_peer1:t2:aa1:y1:qe',
  );
});

test('encodeQueryArgs writes only set flags', (t) => {
  const enc = (q: Query): string => encode(encodeQueryArgs(q)).toString('latin1');
  t.false(enc({ method: 'get_peers', id: ID_A, infoHash: ID_B, noseed: false, scrape: false }).includes('noseed'));
  t.false(enc({ method: 'get_peers', id: ID_A, infoHash: ID_B, noseed: false, scrape: false }).includes('scrape'));
  t.true(enc({ method: 'get_peers', id: ID_A, infoHash: ID_B, noseed: true, scrape: true }).includes('6:noseedi1e6:scrapei1e'));
  t.false(enc({ method: 'announce_peer', id: ID_A, infoHash: ID_B, port: 1, token: TOKEN, impliedPort: false, seed: false }).includes('implied_port'));
  t.true(enc({ method: 'announce_peer', id: ID_A, infoHash: ID_B, port: 1, token: TOKEN, seed: true }).includes('4:seedi1e'));
  t.true(enc({ method: 'find_node', id: ID_A, target: ID_B, want: { n4: true, n6: true } }).includes('4:wantl2:n42:n6e'));
  t.false(enc({ method: 'find_node', id: ID_A, target: ID_B }).includes('want'));
});

const id20 = fc.uint8Array({ minLength: 20, maxLength: 20 }).map((u) => Buffer.from(u));
const wantArb: fc.Arbitrary<Want | undefined> = fc.option(fc.record({ n4: fc.boolean(), n6: fc.boolean() }), { nil: undefined });
const flagArb = fc.option(fc.boolean(), { nil: undefined });
const tokenArb = fc.uint8Array({ minLength: 1, maxLength: MAX_TOKEN_BYTES }).map((u) => Buffer.from(u));

const seqArb = fc.option(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), { nil: undefined });
const bytesOf = (n: number): fc.Arbitrary<Buffer> => fc.uint8Array({ minLength: n, maxLength: n }).map((u) => Buffer.from(u));

const queryArb: fc.Arbitrary<Query> = fc.oneof(
  fc.record({ method: fc.constant('ping' as const), id: id20 }),
  fc.record({ method: fc.constant('get' as const), id: id20, target: id20, seq: seqArb, want: wantArb }),
  fc.record({ method: fc.constant('put' as const), id: id20, token: tokenArb, value: valueArb() }).map(({ value, ...q }): Query => ({ ...q, ...value })),
  fc
    .record({
      method: fc.constant('put' as const),
      id: id20,
      token: tokenArb,
      value: valueArb(),
      k: bytesOf(32),
      sig: bytesOf(64),
      seq: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
      salt: fc.option(fc.uint8Array({ maxLength: 64 }).map((u) => Buffer.from(u)), { nil: undefined }),
      cas: seqArb,
    })
    .map(({ value, ...q }): Query => ({ ...q, ...value })),
  fc.record({ method: fc.constant('find_node' as const), id: id20, target: id20, want: wantArb }),
  fc.record({ method: fc.constant('sample_infohashes' as const), id: id20, target: id20, want: wantArb }),
  fc.record({ method: fc.constant('get_peers' as const), id: id20, infoHash: id20, want: wantArb, noseed: flagArb, scrape: flagArb }),
  fc.oneof(
    fc.record({
      method: fc.constant('announce_peer' as const),
      id: id20,
      infoHash: id20,
      port: fc.integer({ min: 1, max: 65_535 }),
      impliedPort: flagArb,
      token: tokenArb,
      seed: flagArb,
    }),
    fc.record({
      method: fc.constant('announce_peer' as const),
      id: id20,
      infoHash: id20,
      port: fc.constant(0),
      impliedPort: fc.constant(true),
      token: tokenArb,
      seed: flagArb,
    }),
  ),
);

/** What parseQueryArgs returns for a query we encoded: flags become booleans, implied ports 0. */
function expectedParse(q: Query): Query {
  // fast-check records have a null prototype; parseQueryArgs returns plain objects.
  // BEP 32 wants one or more strings, so an all-false want is not sent and parses as absent.
  const want = (w: Want | undefined): Want | undefined => (w && (w.n4 || w.n6) ? { n4: w.n4, n6: w.n6 } : undefined);
  switch (q.method) {
    case 'ping':
      return { method: q.method, id: q.id };
    case 'get':
      return { method: q.method, id: q.id, target: q.target, seq: q.seq, want: want(q.want) };
    case 'put': {
      const put: Query = { method: q.method, id: q.id, token: q.token, v: q.v, vBytes: q.vBytes };
      if (q.k === undefined) return put;
      // An empty salt is as if none was given; an absent cas stays absent.
      return { ...put, k: q.k, sig: q.sig, seq: q.seq, ...(q.salt && q.salt.length > 0 ? { salt: q.salt } : {}), ...(q.cas === undefined ? {} : { cas: q.cas }) };
    }
    case 'find_node':
    case 'sample_infohashes':
      return { method: q.method, id: q.id, target: q.target, want: want(q.want) };
    case 'get_peers':
      return { method: q.method, id: q.id, infoHash: q.infoHash, want: want(q.want), noseed: q.noseed === true, scrape: q.scrape === true };
    case 'announce_peer':
      return {
        method: q.method,
        id: q.id,
        infoHash: q.infoHash,
        port: q.impliedPort ? 0 : q.port,
        impliedPort: q.impliedPort === true,
        token: q.token,
        seed: q.seed === true,
      };
  }
}

test('property: encodeQueryArgs → encode → decode → parseQueryArgs round-trips every method', (t) => {
  fc.assert(
    fc.property(queryArb, (q) => {
      assertValidQuery(q);
      const datagram = encode({ t: 'aa', y: 'q', q: q.method, a: encodeQueryArgs(q) });
      const msg = decode(datagram) as BencodeDict;
      const method = (msg['q'] as Buffer).toString('latin1');
      if (!isMethod(method)) throw new Error(`method ${method}`);
      const parsed = parseQueryArgs(method, msg['a'] as BencodeDict);
      deepStrictEqual(parsed, expectedParse(q));
    }),
    params(300),
  );
  t.pass();
});

test('property: parseQueryArgs on arbitrary argument dicts returns or throws FieldError only', (t) => {
  const keys = ['id', 'target', 'info_hash', 'port', 'implied_port', 'token', 'seed', 'noseed', 'scrape', 'want', 'v', 'k', 'sig', 'seq', 'salt', 'cas', 'x'];
  const leaf: fc.Arbitrary<Encodable> = fc.oneof(
    id20,
    fc.uint8Array({ maxLength: 70 }).map((u) => Buffer.from(u)),
    fc.integer({ min: -70_000, max: 70_000 }),
    fc.constantFrom('n4', 'n6', ''),
  );
  const value: fc.Arbitrary<Encodable> = fc.oneof(leaf, fc.array(leaf, { maxLength: 20 }), fc.dictionary(fc.constantFrom(...keys), leaf));
  fc.assert(
    fc.property(fc.constantFrom(...METHODS), fc.dictionary(fc.constantFrom(...keys), value), (method, a) => {
      try {
        const q = parseQueryArgs(method, args(a));
        if (q.method !== method || q.id.length !== 20) throw new Error('bad result');
      } catch (err) {
        if (!(err instanceof FieldError)) throw err;
      }
    }),
    params(300),
  );
  t.pass();
});

// ---------------------------------------------------------------------------------------------
// assertValidQuery

test('assertValidQuery accepts valid outgoing queries', (t) => {
  const good: Query[] = [
    { method: 'ping', id: ID_A },
    { method: 'find_node', id: ID_A, target: ID_B, want: { n4: true, n6: false } },
    { method: 'sample_infohashes', id: ID_A, target: ID_B },
    { method: 'get_peers', id: ID_A, infoHash: ID_B, noseed: true, scrape: true },
    { method: 'announce_peer', id: ID_A, infoHash: ID_B, port: 6881, token: TOKEN },
    { method: 'announce_peer', id: ID_A, infoHash: ID_B, port: 65_535, token: bytes(MAX_TOKEN_BYTES) },
    { method: 'announce_peer', id: ID_A, infoHash: ID_B, port: 0, impliedPort: true, token: bytes(1) },
  ];
  for (const q of good) t.notThrows(() => assertValidQuery(q), q.method);
});

test('assertValidQuery rejects bad outgoing queries with a TypeError', (t) => {
  const ap: AnnouncePeerQuery = { method: 'announce_peer', id: ID_A, infoHash: ID_B, port: 6881, token: TOKEN };
  const bad: [string, Query][] = [
    ['ping id 19', { method: 'ping', id: bytes(19) }],
    ['ping id 21', { method: 'ping', id: bytes(21) }],
    ['ping id not a Buffer', { method: 'ping', id: 'abcdefghij0123456789' as unknown as Buffer }],
    ['find_node id', { method: 'find_node', id: bytes(0), target: ID_B }],
    ['find_node target', { method: 'find_node', id: ID_A, target: bytes(21) }],
    ['sample_infohashes target', { method: 'sample_infohashes', id: ID_A, target: bytes(19) }],
    ['get_peers infoHash', { method: 'get_peers', id: ID_A, infoHash: bytes(19) }],
    ['announce_peer infoHash', { ...ap, infoHash: bytes(21) }],
    ['announce_peer id', { ...ap, id: bytes(19) }],
    ['port 0 without impliedPort', { ...ap, port: 0 }],
    ['port 0 with impliedPort false', { ...ap, port: 0, impliedPort: false }],
    ['port 65536', { ...ap, port: 65_536 }],
    ['port -1', { ...ap, port: -1 }],
    ['port 1.5', { ...ap, port: 1.5 }],
    ['port NaN', { ...ap, port: Number.NaN }],
    ['port 65536 even with impliedPort', { ...ap, port: 65_536, impliedPort: true }],
    ['empty token', { ...ap, token: Buffer.alloc(0) }],
    ['token too long', { ...ap, token: bytes(MAX_TOKEN_BYTES + 1) }],
  ];
  for (const [what, q] of bad) t.throws(() => assertValidQuery(q), { instanceOf: TypeError }, what);
});
