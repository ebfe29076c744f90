/**
 * bep5/queries.ts, incoming queries: parseQueryArgs on the BEP 5 and BEP 51 example packets,
 * BEP 32 `want`, BEP 33 flags, announce_peer's port and token, the 20-byte fields, and unknown
 * arguments (`__proto__` among them). Inputs are decoded from real bencoded bytes, so each test
 * sees exactly what arrives from the wire (Buffers, null-prototype dicts).
 */
import test from 'ava';
import { decode, type BencodeDict, type Encodable } from '../bep5/bencode.js';
import { MAX_TOKEN_BYTES, MAX_WANT_ITEMS } from '../bep5/constants.js';
import { FieldError } from '../bep5/errors.js';
import { METHODS, isMethod, parseQueryArgs, type AnnouncePeerQuery, type Method, type Want } from '../bep5/queries.js';
import { asArrived as args, bytes, ID_A, ID_R as ID_B, TOKEN } from './helpers/bep5-wire.js';

/** A whole KRPC datagram, decoded as the socket would. */
function wire(packet: string): BencodeDict {
  return decode(Buffer.from(packet, 'latin1')) as BencodeDict;
}

/** The `a` dictionary of a datagram. */
function argsOf(packet: string): BencodeDict {
  return wire(packet)['a'] as BencodeDict;
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

/** Valid arguments for each method; tests remove or replace one field at a time. */
const VALID: Record<Method, Record<string, Encodable>> = {
  ping: { id: ID_A },
  find_node: { id: ID_A, target: ID_B },
  get_peers: { id: ID_A, info_hash: ID_B },
  announce_peer: { id: ID_A, info_hash: ID_B, port: 6881, token: TOKEN },
  sample_infohashes: { id: ID_A, target: ID_B },
  get: { id: ID_A, target: ID_B },
  put: { id: ID_A, token: TOKEN, v: 'Hello World!' },
};

/** The 20-byte fields each method requires. */
const ID_FIELDS: Record<Method, string[]> = {
  ping: ['id'],
  find_node: ['id', 'target'],
  get_peers: ['id', 'info_hash'],
  announce_peer: ['id', 'info_hash'],
  sample_infohashes: ['id', 'target'],
  get: ['id', 'target'],
  put: ['id'],
};

const WANT_METHODS = ['find_node', 'get_peers', 'sample_infohashes', 'get'] as const;

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
  t.deepEqual([...METHODS], ['ping', 'find_node', 'get_peers', 'announce_peer', 'sample_infohashes', 'get', 'put']);
  for (const m of METHODS) t.true(isMethod(m));
  for (const m of ['', 'PING', 'PUT', 'gets', 'vote', 'find_nodes', 'ping ', 'toString', '__proto__']) t.false(isMethod(m), m);
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
    // The method's own fields win (put's `v` is one of the extras' names).
    const extra = parseQueryArgs(method, args({ ...extras, ...VALID[method] }));
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
