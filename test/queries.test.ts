/**
 * bep5/queries.ts: validation of incoming query arguments (BEP 5, 32, 33, 51), the encoder
 * for outgoing ones, and assertValidQuery. Inputs are decoded from real bencoded bytes, so
 * each test sees exactly what arrives from the wire (Buffers, null-prototype dicts).
 * Set FC_SEED (and FC_PATH) to replay a failure that fast-check reports.
 */
import test from 'ava';
import fc from 'fast-check';
import { params } from './helpers/fast-check.js';
import { deepStrictEqual } from 'node:assert/strict';
import { decode, encode, type BencodeDict, type Encodable } from '../bep5/bencode.js';
import { MAX_TOKEN_BYTES, MAX_WANT_ITEMS } from '../bep5/constants.js';
import { FieldError } from '../bep5/errors.js';
import {
  METHODS,
  assertValidQuery,
  encodeQueryArgs,
  isMethod,
  parseQueryArgs,
  type AnnouncePeerQuery,
  type Method,
  type Query,
  type Want,
} from '../bep5/queries.js';


// ---------------------------------------------------------------------------------------------
// Helpers

const ID_A = Buffer.from('abcdefghij0123456789', 'latin1');
const ID_B = Buffer.from('mnopqrstuvwxyz123456', 'latin1');
const TOKEN = Buffer.from('aoeusnth', 'latin1');

/** A whole KRPC datagram, decoded as the socket would. */
function wire(packet: string): BencodeDict {
  return decode(Buffer.from(packet, 'latin1')) as BencodeDict;
}

/** The `a` dictionary of a datagram. */
function argsOf(packet: string): BencodeDict {
  return wire(packet)['a'] as BencodeDict;
}

/** Arguments exactly as they would arrive: encoded, then decoded. */
function args(a: { readonly [key: string]: Encodable | undefined }): BencodeDict {
  return decode(encode(a)) as BencodeDict;
}

/** Asserts a FieldError and returns its reason ('' if none was thrown, so the test fails). */
function fieldError(t: import('ava').ExecutionContext, fn: () => unknown, mention?: RegExp): string {
  const err = t.throws(fn, { instanceOf: FieldError });
  const reason = err?.reason ?? '';
  if (err !== undefined) {
    t.is(err.code, 'ERR_KRPC_FIELD');
    t.is(err.message, reason);
  }
  if (mention !== undefined) t.regex(reason, mention);
  return reason;
}

const bytes = (n: number, fill = 0x61): Buffer => Buffer.alloc(n, fill);

/** Valid arguments for each method; tests remove or replace one field at a time. */
const VALID: Record<Method, Record<string, Encodable>> = {
  ping: { id: ID_A },
  find_node: { id: ID_A, target: ID_B },
  get_peers: { id: ID_A, info_hash: ID_B },
  announce_peer: { id: ID_A, info_hash: ID_B, port: 6881, token: TOKEN },
  sample_infohashes: { id: ID_A, target: ID_B },
};

/** The 20-byte fields each method requires. */
const ID_FIELDS: Record<Method, string[]> = {
  ping: ['id'],
  find_node: ['id', 'target'],
  get_peers: ['id', 'info_hash'],
  announce_peer: ['id', 'info_hash'],
  sample_infohashes: ['id', 'target'],
};

const WANT_METHODS = ['find_node', 'get_peers', 'sample_infohashes'] as const;

function wantOf(method: (typeof WANT_METHODS)[number], extra: Record<string, Encodable>): Want | undefined {
  return parseQueryArgs(method, args({ ...VALID[method], ...extra })).want;
}

// ---------------------------------------------------------------------------------------------
// The BEP 5 example packets

test('BEP 5 ping example query parses', (t) => {
  const q = parseQueryArgs('ping', argsOf('d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe'));
  t.deepEqual(q, { method: 'ping', id: ID_A });
  t.true(Buffer.isBuffer(q.id));
});

test('BEP 5 find_node example query parses', (t) => {
  const q = parseQueryArgs(
    'find_node',
    argsOf('d1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz123456e1:q9:find_node1:t2:aa1:y1:qe'),
  );
  t.is(q.method, 'find_node');
  t.true(q.id.equals(ID_A));
  t.true(q.target.equals(ID_B));
  t.is(q.want, undefined);
});

test('BEP 5 get_peers example query parses, with BEP 33 flags off', (t) => {
  const q = parseQueryArgs(
    'get_peers',
    argsOf('d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz123456e1:q9:get_peers1:t2:aa1:y1:qe'),
  );
  t.is(q.method, 'get_peers');
  t.true(q.id.equals(ID_A));
  t.true(q.infoHash.equals(ID_B));
  t.is(q.want, undefined);
  t.false(q.noseed);
  t.false(q.scrape);
});

test('BEP 5 announce_peer example (implied_port 1, port 6881) parses with port 0', (t) => {
  const q = parseQueryArgs(
    'announce_peer',
    argsOf(
      'd1:ad2:id20:abcdefghij012345678912:implied_porti1e9:info_hash20:mnopqrstuvwxyz1234564:porti6881e5:token8:aoeusnthe1:q13:announce_peer1:t2:aa1:y1:qe',
    ),
  );
  t.is(q.method, 'announce_peer');
  t.true(q.id.equals(ID_A));
  t.true(q.infoHash.equals(ID_B));
  t.true(q.impliedPort);
  t.is(q.port, 0);
  t.true(q.token.equals(TOKEN));
  t.false(q.seed);
});

test('announce_peer without implied_port keeps the port', (t) => {
  const q = parseQueryArgs(
    'announce_peer',
    argsOf('d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz1234564:porti6881e5:token8:aoeusnthe1:q13:announce_peer1:t2:aa1:y1:qe'),
  );
  t.false(q.impliedPort);
  t.is(q.port, 6881);
});

test('BEP 51 sample_infohashes query parses', (t) => {
  const q = parseQueryArgs(
    'sample_infohashes',
    argsOf('d1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz123456e1:q17:sample_infohashes1:t2:aa1:y1:qe'),
  );
  t.is(q.method, 'sample_infohashes');
  t.true(q.id.equals(ID_A));
  t.true(q.target.equals(ID_B));
  t.is(q.want, undefined);
});

test('METHODS and isMethod', (t) => {
  t.deepEqual([...METHODS], ['ping', 'find_node', 'get_peers', 'announce_peer', 'sample_infohashes']);
  for (const m of METHODS) t.true(isMethod(m));
  for (const m of ['', 'PING', 'put', 'get', 'vote', 'find_nodes', 'ping ', 'toString', '__proto__']) t.false(isMethod(m), m);
});

// ---------------------------------------------------------------------------------------------
// BEP 32 want

for (const method of WANT_METHODS) {
  test(`${method}: want n4 / n6 / both`, (t) => {
    t.deepEqual(wantOf(method, { want: ['n4'] }), { n4: true, n6: false });
    t.deepEqual(wantOf(method, { want: ['n6'] }), { n4: false, n6: true });
    t.deepEqual(wantOf(method, { want: ['n4', 'n6'] }), { n4: true, n6: true });
    t.deepEqual(wantOf(method, { want: ['n6', 'n4', 'n6'] }), { n4: true, n6: true });
  });

  test(`${method}: unknown want strings are silently ignored`, (t) => {
    t.deepEqual(wantOf(method, { want: ['n4', 'n5', 'N6', 'n44', 'n', '', 'x', Buffer.from([0x6e, 0x36, 0x00])] }), {
      n4: true,
      n6: false,
    });
    t.deepEqual(wantOf(method, { want: ['foo'] }), { n4: false, n6: false });
    t.deepEqual(wantOf(method, { want: [] }), { n4: false, n6: false });
  });

  test(`${method}: want absent is undefined`, (t) => {
    t.is(wantOf(method, {}), undefined);
  });

  test(`${method}: want that is not a list is a FieldError`, (t) => {
    for (const bad of ['n4', 4, { n4: 1 }] as Encodable[]) fieldError(t, () => wantOf(method, { want: bad }), /want/);
  });

  test(`${method}: a non-string want item is a FieldError`, (t) => {
    for (const bad of [[1], ['n4', 6], [['n4']], [{ n4: 'n4' }]] as Encodable[]) fieldError(t, () => wantOf(method, { want: bad }), /want/);
  });

  test(`${method}: at most ${MAX_WANT_ITEMS} want items`, (t) => {
    t.deepEqual(wantOf(method, { want: Array.from({ length: MAX_WANT_ITEMS }, () => 'n6') }), { n4: false, n6: true });
    fieldError(t, () => wantOf(method, { want: Array.from({ length: MAX_WANT_ITEMS + 1 }, () => 'n6') }), /want/);
  });
}

test('ping ignores a want argument entirely, even a malformed one', (t) => {
  t.deepEqual(parseQueryArgs('ping', args({ id: ID_A, want: 5 })), { method: 'ping', id: ID_A });
});

// ---------------------------------------------------------------------------------------------
// BEP 33 flags

test('get_peers noseed / scrape flags', (t) => {
  const gp = (extra: Record<string, Encodable>) => parseQueryArgs('get_peers', args({ ...VALID.get_peers, ...extra }));
  t.like(gp({ noseed: 1 }), { noseed: true, scrape: false });
  t.like(gp({ scrape: 1 }), { noseed: false, scrape: true });
  t.like(gp({ noseed: 1, scrape: 1 }), { noseed: true, scrape: true });
  t.like(gp({ noseed: 0, scrape: 0 }), { noseed: false, scrape: false });
  t.like(gp({}), { noseed: false, scrape: false });
  fieldError(t, () => gp({ noseed: '1' }), /noseed/);
  fieldError(t, () => gp({ scrape: ['1'] }), /scrape/);
});

test('announce_peer seed flag', (t) => {
  const ap = (extra: Record<string, Encodable>) => parseQueryArgs('announce_peer', args({ ...VALID.announce_peer, ...extra }));
  t.true(ap({ seed: 1 }).seed);
  t.false(ap({ seed: 0 }).seed);
  t.false(ap({}).seed);
  fieldError(t, () => ap({ seed: 'yes' }), /seed/);
});

// ---------------------------------------------------------------------------------------------
// announce_peer port and token

function announce(a: Record<string, Encodable | undefined>): AnnouncePeerQuery {
  return parseQueryArgs('announce_peer', args(a));
}

test('announce_peer: port 1 and 65535 are accepted', (t) => {
  t.is(announce({ ...VALID.announce_peer, port: 1 }).port, 1);
  t.is(announce({ ...VALID.announce_peer, port: 65_535 }).port, 65_535);
});

test('announce_peer: without implied_port, port must be an integer 1..65535', (t) => {
  for (const port of [0, 65_536, -1, 1 << 20, Number.MAX_SAFE_INTEGER, '6881', Buffer.from([0x1a, 0xe1]), [6881]] as Encodable[]) {
    fieldError(t, () => announce({ ...VALID.announce_peer, port }), /port/);
  }
  fieldError(t, () => announce({ ...VALID.announce_peer, port: undefined }), /missing port/);
  // implied_port 0 is "not set".
  fieldError(t, () => announce({ ...VALID.announce_peer, implied_port: 0, port: undefined }), /port/);
  fieldError(t, () => announce({ ...VALID.announce_peer, implied_port: 0, port: 0 }), /port/);
  t.like(announce({ ...VALID.announce_peer, implied_port: 0, port: 6881 }), { impliedPort: false, port: 6881 });
});

test('announce_peer: implied_port=1 makes port optional and yields port 0', (t) => {
  t.like(announce({ ...VALID.announce_peer, implied_port: 1, port: undefined }), { impliedPort: true, port: 0 });
  t.like(announce({ ...VALID.announce_peer, implied_port: 1, port: 0 }), { impliedPort: true, port: 0 });
  t.like(announce({ ...VALID.announce_peer, implied_port: 1, port: 6881 }), { impliedPort: true, port: 0 });
  // Out of range is ignored, as BEP 5 says the port "should be ignored"...
  t.like(announce({ ...VALID.announce_peer, implied_port: 1, port: 70_000 }), { impliedPort: true, port: 0 });
  // ...but the type is still checked.
  fieldError(t, () => announce({ ...VALID.announce_peer, implied_port: 1, port: '6881' }), /port/);
});

test('announce_peer: implied_port must be an integer', (t) => {
  fieldError(t, () => announce({ ...VALID.announce_peer, implied_port: '1' }), /implied_port/);
  fieldError(t, () => announce({ ...VALID.announce_peer, implied_port: [1] }), /implied_port/);
});

test('announce_peer: token is required, a string of 1..64 bytes', (t) => {
  t.true(announce({ ...VALID.announce_peer, token: bytes(1) }).token.equals(bytes(1)));
  t.true(announce({ ...VALID.announce_peer, token: bytes(MAX_TOKEN_BYTES) }).token.equals(bytes(MAX_TOKEN_BYTES)));
  fieldError(t, () => announce({ ...VALID.announce_peer, token: undefined }), /missing token/);
  fieldError(t, () => announce({ ...VALID.announce_peer, token: '' }), /token/);
  fieldError(t, () => announce({ ...VALID.announce_peer, token: bytes(MAX_TOKEN_BYTES + 1) }), /token/);
  fieldError(t, () => announce({ ...VALID.announce_peer, token: 1234 }), /token/);
  fieldError(t, () => announce({ ...VALID.announce_peer, token: ['aoeusnth'] }), /token/);
});

// ---------------------------------------------------------------------------------------------
// 20-byte fields

for (const method of METHODS) {
  for (const field of ID_FIELDS[method]) {
    test(`${method}: ${field} of the wrong length or type is a FieldError naming ${field}`, (t) => {
      const mention = new RegExp(`\\b${field}\\b`);
      t.notThrows(() => parseQueryArgs(method, args(VALID[method])));
      for (const bad of [bytes(19), bytes(21), bytes(0), bytes(40), 20, 0, [ID_A], [], { id: ID_A }] as Encodable[]) {
        fieldError(t, () => parseQueryArgs(method, args({ ...VALID[method], [field]: bad })), mention);
      }
      fieldError(t, () => parseQueryArgs(method, args({ ...VALID[method], [field]: undefined })), new RegExp(`missing ${field}`));
    });
  }
}

test('get_peers / announce_peer do not accept target in place of info_hash', (t) => {
  fieldError(t, () => parseQueryArgs('get_peers', args({ id: ID_A, target: ID_B })), /info_hash/);
  fieldError(t, () => parseQueryArgs('announce_peer', args({ id: ID_A, target: ID_B, port: 1, token: TOKEN })), /info_hash/);
  fieldError(t, () => parseQueryArgs('find_node', args({ id: ID_A, info_hash: ID_B })), /target/);
});

// ---------------------------------------------------------------------------------------------
// Unknown arguments

test('unknown extra arguments are ignored by every method', (t) => {
  const extras: Record<string, Encodable> = {
    zzz: 'x',
    v: 1,
    a: { nested: [1, 2, 3] },
    __proto__x: 'y',
    '': Buffer.from([0xff]),
    name: 'ubuntu.iso',
    read_only: 1,
  };
  for (const method of METHODS) {
    const plain = parseQueryArgs(method, args(VALID[method]));
    const extra = parseQueryArgs(method, args({ ...VALID[method], ...extras }));
    t.deepEqual(extra, plain, method);
  }
  // Another method's fields are unknown extras too.
  t.deepEqual(parseQueryArgs('ping', args({ id: ID_A, target: 5, info_hash: 'x', port: -1 })), { method: 'ping', id: ID_A });
});

test('a `__proto__` argument is an ordinary ignored key', (t) => {
  const a = decode(Buffer.from('d9:__proto__d2:id20:xxxxxxxxxxxxxxxxxxxxe2:id20:abcdefghij0123456789e', 'latin1')) as BencodeDict;
  t.deepEqual(parseQueryArgs('ping', a), { method: 'ping', id: ID_A });
  // And it cannot supply a missing id.
  const b = decode(Buffer.from('d9:__proto__d2:id20:xxxxxxxxxxxxxxxxxxxxee', 'latin1')) as BencodeDict;
  fieldError(t, () => parseQueryArgs('ping', b), /missing id/);
});

test('a plain-object args dict with an inherited id is not read', (t) => {
  const inherited = Object.create({ id: ID_A }) as BencodeDict;
  fieldError(t, () => parseQueryArgs('ping', inherited), /missing id/);
});

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

const queryArb: fc.Arbitrary<Query> = fc.oneof(
  fc.record({ method: fc.constant('ping' as const), id: id20 }),
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
  const keys = ['id', 'target', 'info_hash', 'port', 'implied_port', 'token', 'seed', 'noseed', 'scrape', 'want', 'x'];
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
