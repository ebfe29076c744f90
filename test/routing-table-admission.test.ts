/**
 * bep5/routing-table.ts, what gets in: the admission rules for contacts (own id, bogons, port 0,
 * allowPrivate, one entry per address and one address per id), lookups by address, copies
 * handed out; saved tables read back (toJSON / fromJSON, garbage entries, a bounded read); and
 * bad options.
 */
import test from 'ava';
import { ManualClock } from '../bep5/clock.js';
import { MAX_PERSISTED_NODES } from '../bep5/constants.js';
import { idToHex, randomId } from '../bep5/node-id.js';
import { seededRandom } from '../bep5/random.js';
import { RoutingTable, type ResponseOutcome, type RoutingTableOptions } from '../bep5/routing-table.js';
import { RoutingTableError } from '../bep5/errors.js';
import { farId, host, PORT, table, ZERO } from './helpers/routing-table.js';

// ---------------------------------------------------------------- admission rules

test('rejections: own id, bogons, port 0', (t) => {
  const { rt } = table();
  const id = farId(1);
  const rejected = (reason: string): ResponseOutcome => ({ status: 'rejected', reason }) as ResponseOutcome;
  t.deepEqual(rt.recordResponse({ id: ZERO, host: host(1), port: PORT }), rejected('own-id'));
  for (const bogon of ['10.0.0.1', '127.0.0.1', '192.168.1.1', '100.64.0.1', '0.0.0.0', '224.0.0.1', '255.255.255.255', '::1', '::', 'fe80::1', '2001:db8::1', '::ffff:10.0.0.1', 'example.com', '', '1.2.3']) {
    t.deepEqual(rt.recordResponse({ id, host: bogon, port: PORT }), rejected('bogon'), bogon);
  }
  t.deepEqual(rt.recordResponse({ id, host: host(1), port: 0 }), rejected('port-zero'));
  t.is(rt.size, 0);
  t.throws(() => rt.recordResponse({ id, host: host(1), port: 70_000 }), { instanceOf: RangeError });
  t.throws(() => rt.recordResponse({ id: Buffer.alloc(19), host: host(1), port: PORT }), { instanceOf: TypeError });
  t.deepEqual(rt.recordResponse({ id, host: '2a00:1450::1', port: PORT }), { status: 'added' }, 'public IPv6');
});

test('allowPrivate admits local addresses but never unspecified, multicast or port 0', (t) => {
  const { rt } = table({ allowPrivate: true });
  let n = 0;
  for (const local of ['10.0.0.1', '127.0.0.1', '192.168.1.1', '::1', 'fe80::1%eth0', 'fd00::1']) {
    t.deepEqual(rt.recordResponse({ id: farId(n++), host: local, port: PORT }), { status: 'added' }, local);
  }
  for (const never of ['0.0.0.0', '0.1.2.3', '224.0.0.1', '239.1.1.1', '255.255.255.255', '::', 'ff02::1', 'localhost']) {
    t.deepEqual(rt.recordResponse({ id: farId(n++), host: never, port: PORT }), { status: 'rejected', reason: 'bogon' }, never);
  }
  t.deepEqual(rt.recordResponse({ id: farId(n++), host: '10.0.0.2', port: 0 }), { status: 'rejected', reason: 'port-zero' });
});

test('one entry per address, one address per id, until the old entry is bad', (t) => {
  const { rt } = table();
  const a = { id: farId(1), host: host(1), port: PORT };
  rt.recordResponse(a);
  const taken = { id: farId(2), host: a.host, port: PORT };
  t.deepEqual(rt.recordResponse(taken), { status: 'rejected', reason: 'address-taken' });
  t.deepEqual(rt.recordResponse({ ...taken, host: `::ffff:${a.host}` }), { status: 'rejected', reason: 'address-taken' }, 'IPv4-mapped is the same address');
  t.deepEqual(rt.recordResponse({ ...taken, port: PORT + 1 }), { status: 'added' }, 'another port is another address');
  const moved = { ...a, host: host(9) };
  t.deepEqual(rt.recordResponse(moved), { status: 'rejected', reason: 'id-moved' });
  t.is(rt.get(a.id)!.host, a.host);
  t.deepEqual(rt.recordResponse({ ...a, host: `::ffff:${a.host}` }), { status: 'updated' }, 'same id, same address spelled differently');

  // Once bad, the old entry gives way to the id's new address…
  rt.recordFailure(a);
  rt.recordFailure(a);
  const r1 = rt.recordResponse(moved);
  t.is(r1.status, 'replaced');
  t.is(r1.status === 'replaced' && r1.evicted.host, a.host);
  t.is(rt.get(a.id)!.host, moved.host);
  // …and a bad entry gives its address to a new id.
  rt.recordFailure(moved);
  rt.recordFailure(moved);
  const r2 = rt.recordResponse({ id: farId(3), host: moved.host, port: PORT });
  t.is(r2.status, 'replaced');
  t.is(r2.status === 'replaced' && idToHex(r2.evicted.id), idToHex(a.id));
  t.is(rt.get(a.id), undefined);
  t.is(rt.size, 2);
});

test('getByAddress finds a contact by where it answered from', (t) => {
  const { rt } = table();
  rt.recordResponse({ id: farId(1), host: host(1), port: PORT });
  t.is(idToHex(rt.getByAddress(host(1), PORT)!.id), idToHex(farId(1)));
  t.is(idToHex(rt.getByAddress(`::ffff:${host(1)}`, PORT)!.id), idToHex(farId(1)));
  t.is(rt.getByAddress(host(1), PORT + 1), undefined);
  t.is(rt.getByAddress('nonsense', PORT), undefined);
  // What a timeout handler that knows only the address does:
  rt.recordFailure(rt.getByAddress(host(1), PORT)!);
  t.is(rt.get(farId(1))!.failures, 1);
});

test('recordQuery never adds', (t) => {
  const { rt } = table();
  for (let n = 0; n < 20; n++) rt.recordQuery({ id: farId(n), host: host(n), port: PORT });
  t.is(rt.size, 0);
  t.deepEqual(rt.all(), []);
  rt.recordQuery({ id: Buffer.alloc(3), host: 'garbage', port: -1 });
  t.is(rt.size, 0);
});

test('returned contacts are copies', (t) => {
  const { rt } = table();
  const a = { id: farId(1), host: host(1), port: PORT };
  rt.recordResponse(a);
  a.id[19] = 0xff; // the caller's buffer is not kept either
  const c = rt.get(farId(1))!;
  c.id.fill(0);
  c.failures = 99;
  rt.all()[0]!.port = 1;
  rt.closest(farId(1))[0]!.host = 'x';
  t.deepEqual(rt.get(farId(1)), { ...c, id: farId(1), failures: 0 });
  t.is(rt.all()[0]!.port, PORT);
});

// ---------------------------------------------------------------- persistence

test('toJSON / fromJSON round trip: saved nodes come back as candidates, not contacts', (t) => {
  const random = seededRandom(13);
  const own = randomId(random);
  const clock = new ManualClock();
  const rt = new RoutingTable({ ownId: own, clock, random });
  for (let i = 0; i < 200; i++) rt.recordResponse({ id: randomId(random), host: i % 3 === 0 ? `2a00:1450::${i.toString(16)}` : host(i), port: 1000 + i });
  const bad = rt.all()[0]!;
  rt.recordFailure(bad);
  rt.recordFailure(bad);

  const json = JSON.parse(JSON.stringify(rt)) as unknown;
  t.deepEqual(json, rt.toJSON());
  const saved = rt.toJSON();
  t.is(saved.ownId, own.toString('hex'));
  t.is(saved.nodes.length, rt.size - 1, 'bad nodes are not saved');
  t.false(saved.nodes.some((n) => n.id === idToHex(bad.id)));

  const { table: loaded, candidates } = RoutingTable.fromJSON(json, { clock });
  t.is(loaded.size, 0, 'nothing is trusted until it answers again');
  t.deepEqual(loaded.ownId, own);
  t.deepEqual(
    candidates.map((c) => ({ id: idToHex(c.id), host: c.host, port: c.port })),
    saved.nodes,
  );
  // Candidates that answer rebuild the table.
  for (const c of candidates) loaded.recordResponse(c);
  t.deepEqual(loaded.toJSON().nodes.map((n) => n.id).sort(), saved.nodes.map((n) => n.id).sort());

  // The caller's own id wins over the file's, and a saved node with that id is skipped.
  const newOwn = Buffer.from(saved.nodes[0]!.id, 'hex');
  const again = RoutingTable.fromJSON(json, { ownId: newOwn });
  t.deepEqual(again.table.ownId, newOwn);
  t.is(again.candidates.length, saved.nodes.length - 1);
});

test('fromJSON: garbage entries are skipped, a wrong top-level shape is a typed error', (t) => {
  const own = ZERO.toString('hex');
  const good = { id: farId(1).toString('hex'), host: host(1), port: PORT };
  const { candidates } = RoutingTable.fromJSON(
    {
      ownId: own,
      nodes: [
        null,
        1,
        'x',
        [],
        {},
        { ...good, id: 5 },
        { ...good, id: 'zz'.repeat(20) },
        { ...good, id: farId(2).toString('hex').slice(2) }, // 19 bytes
        { ...good, id: `${farId(2).toString('hex')}00` }, // 21 bytes
        { ...good, id: ` ${farId(2).toString('hex').slice(1)}` },
        { ...good, host: 'not-an-ip' },
        { ...good, host: 5 },
        { ...good, host: '10.0.0.1' },
        { ...good, host: '1.2.3.4'.repeat(100_000) },
        { ...good, port: 70_000 },
        { ...good, port: 0 },
        { ...good, port: -1 },
        { ...good, port: 6881.5 },
        { ...good, port: '6881' },
        { ...good, port: Number.NaN },
        { ...good, id: own },
        good,
        { ...good, host: host(2) }, // duplicate id
        { ...good, id: farId(3).toString('hex'), host: `::ffff:${host(1)}` }, // duplicate address
        { id: farId(4).toString('hex').toUpperCase(), host: host(4), port: 1 },
      ],
    },
    {},
  );
  t.deepEqual(
    candidates.map((c) => [idToHex(c.id), c.host, c.port]),
    [
      [good.id, good.host, good.port],
      [farId(4).toString('hex'), host(4), 1],
    ],
  );

  // allowPrivate lets saved LAN nodes through.
  t.is(RoutingTable.fromJSON({ ownId: own, nodes: [{ ...good, host: '10.0.0.1' }] }, { allowPrivate: true }).candidates.length, 1);

  for (const shape of [null, undefined, 42, 'x', [], {}, { nodes: {} }, { nodes: 'x' }, { ownId: own }]) {
    const err = t.throws(() => RoutingTable.fromJSON(shape, { ownId: ZERO }), { instanceOf: RoutingTableError }, JSON.stringify(shape));
    t.is(err?.reason, 'bad-json');
    t.is(err?.code, 'ERR_ROUTING_TABLE');
  }
  // No usable own id in the file and none given.
  for (const ownId of [undefined, 'zz'.repeat(20), own.slice(2), 7]) {
    const err = t.throws(() => RoutingTable.fromJSON({ ownId, nodes: [] }, {}), { instanceOf: RoutingTableError });
    t.is(err?.reason, 'bad-json');
  }
  t.notThrows(() => RoutingTable.fromJSON({ ownId: 'garbage', nodes: [] }, { ownId: ZERO }));
});

test('fromJSON reads a bounded number of entries', (t) => {
  const JUNK = { id: 'junk', host: 'junk', port: 'junk' };
  const many = Array.from({ length: 1_000_000 }, (_, i) =>
    i < 5000 ? { id: farId(i).toString('hex'), host: host(i), port: PORT } : JUNK,
  );
  many[999_999] = { id: farId(999_999).toString('hex'), host: host(999_999), port: PORT };
  const started = performance.now();
  const { candidates } = RoutingTable.fromJSON({ ownId: ZERO.toString('hex'), nodes: many }, {});
  t.is(candidates.length, MAX_PERSISTED_NODES);
  t.false(candidates.some((c) => c.id.equals(farId(999_999))), 'entries past the cap are not read');
  t.true(performance.now() - started < 2000);
});

// ---------------------------------------------------------------- options

test('bad options are a typed error', (t) => {
  const bad: Array<Partial<RoutingTableOptions>> = [
    { ownId: Buffer.alloc(19) },
    { k: 0 },
    { k: 1.5 },
    { staleAfterMs: 0 },
    { staleAfterMs: Number.POSITIVE_INFINITY },
    { failuresBeforeBad: 0 },
    { replacementCacheSize: -1 },
  ];
  for (const opts of bad) {
    const err = t.throws(() => new RoutingTable({ ownId: ZERO, ...opts }), { instanceOf: RoutingTableError });
    t.is(err?.reason, 'bad-option');
  }
  const small = new RoutingTable({ ownId: ZERO, k: 2, clock: new ManualClock() });
  for (let n = 0; n < 5; n++) small.recordResponse({ id: farId(n), host: host(n), port: PORT });
  t.is(small.size, 2);
});
