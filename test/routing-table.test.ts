import test from 'ava';
import fc from 'fast-check';
import { ManualClock } from '../bep5/clock.js';
import { DEFAULT_NODE_STALE_AFTER_MS, MAX_PERSISTED_NODES } from '../bep5/constants.js';
import { commonPrefixBits, idToHex, randomId, xorDistance } from '../bep5/node-id.js';
import { seededRandom } from '../bep5/random.js';
import { RoutingTable, type Contact, type ResponseOutcome, type RoutingTableOptions } from '../bep5/routing-table.js';
import { RoutingTableError } from '../bep5/errors.js';

const MIN = 60_000;
const STALE = 15 * MIN;
const PORT = 6881;
const ZERO = Buffer.alloc(20);

/** A public IPv4 address per integer (1.0.0.0/8 is not a bogon). */
const host = (i: number): string => `1.${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}`;

/** An id in bucket 0 of a table whose own id is all zeros (top bit set), numbered n. */
function farId(n: number): Buffer {
  const id = Buffer.alloc(20);
  id[0] = 0x80;
  id.writeUInt32BE(n, 16);
  return id;
}

/** `own` with bit `cpl` flipped and the bits after it taken from `tail`: commonPrefixBits = cpl. */
function idAt(own: Uint8Array, cpl: number, tail: Uint8Array): Buffer {
  const id = Buffer.from(tail);
  for (let i = 0; i < 20; i++) {
    const start = i * 8;
    if (start + 8 <= cpl) id[i] = own[i]!;
    else if (start <= cpl) {
      const keep = (0xff << (8 - (cpl - start))) & 0xff; // bits before cpl from own
      const flip = 0x80 >>> (cpl - start);
      id[i] = (own[i]! & keep) | (~own[i]! & flip) | (tail[i]! & ~keep & ~flip & 0xff);
    }
  }
  return id;
}

function table(opts: Partial<RoutingTableOptions> = {}): { rt: RoutingTable; clock: ManualClock } {
  const clock = new ManualClock();
  return { rt: new RoutingTable({ ownId: ZERO, clock, random: seededRandom(1), ...opts }), clock };
}

const hexes = (cs: readonly Contact[]): string[] => cs.map((c) => idToHex(c.id));

function bruteClosest(rt: RoutingTable, target: Buffer, count: number, includeBad = false): string[] {
  return hexes(
    rt
      .all()
      .filter((c) => includeBad || rt.state(c) !== 'bad')
      .sort((a, b) => Buffer.compare(xorDistance(a.id, target), xorDistance(b.id, target)))
      .slice(0, count),
  );
}

/** Every contact is in the bucket its common prefix with our id says. */
function checkLayout(t: import('ava').ExecutionContext, rt: RoutingTable, own: Buffer, k = 8): void {
  const buckets = rt.buckets();
  const last = buckets.length - 1;
  let total = 0;
  buckets.forEach((b, i) => {
    t.true(b.contacts.length <= k, `bucket ${i} over k`);
    t.true(b.replacements <= k);
    t.is(b.prefixBits, i === last ? last : i + 1);
    for (const c of b.contacts) {
      const cpl = commonPrefixBits(c.id, own);
      if (i === last) t.true(cpl >= last, `contact in last bucket ${i} has cpl ${cpl}`);
      else t.is(cpl, i, `contact in bucket ${i} has cpl ${cpl}`);
    }
    total += b.contacts.length;
  });
  t.is(total, rt.size);
}

// ---------------------------------------------------------------- structure

test('an empty table is one bucket over the whole space', (t) => {
  const { rt } = table();
  t.is(rt.size, 0);
  t.deepEqual(
    rt.buckets().map((b) => [b.prefixBits, b.contacts.length, b.replacements]),
    [[0, 0, 0]],
  );
  t.deepEqual(rt.closest(randomId(seededRandom(2))), []);
});

test('buckets split only where our own id falls', (t) => {
  const random = seededRandom(42);
  const own = randomId(random);
  const clock = new ManualClock();
  const rt = new RoutingTable({ ownId: own, clock, random });
  const n = 5000;
  const statuses = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const outcome = rt.recordResponse({ id: randomId(random), host: host(i), port: PORT });
    const label = outcome.status === 'rejected' ? outcome.reason : outcome.status;
    statuses.set(label, (statuses.get(label) ?? 0) + 1);
  }
  // Nothing went bad or questionable, so every overflow is a bucket full of good nodes.
  t.deepEqual([...statuses.keys()].sort(), ['added', 'bucket-full-of-good']);
  checkLayout(t, rt, own);
  const buckets = rt.buckets();
  const expected = Math.log2(n / 8);
  t.true(buckets.length >= expected - 2 && buckets.length <= expected + 4, `${buckets.length} buckets for log2(n/k) = ${expected.toFixed(1)}`);
  // Far buckets see n/2, n/4, ... candidates: all full. Only the last few can have room.
  for (let i = 0; i < buckets.length - 4; i++) t.is(buckets[i]!.contacts.length, 8, `bucket ${i}`);
  t.is(rt.size, statuses.get('added') ?? -1);
});

test('a full bucket that does not hold our id never splits', (t) => {
  const { rt } = table();
  for (let n = 0; n < 8; n++) t.is(rt.recordResponse({ id: farId(n), host: host(n), port: PORT }).status, 'added');
  t.is(rt.buckets().length, 1);
  // The 9th far node: the only bucket holds our id, so it splits once; the far half is full.
  t.deepEqual(rt.recordResponse({ id: farId(8), host: host(8), port: PORT }), { status: 'rejected', reason: 'bucket-full-of-good' });
  t.is(rt.buckets().length, 2);
  for (let n = 9; n < 40; n++) rt.recordResponse({ id: farId(n), host: host(n), port: PORT });
  t.is(rt.buckets().length, 2);
  t.deepEqual(
    rt.buckets().map((b) => b.contacts.length),
    [8, 0],
  );
  // Near ids still go in, and the own bucket keeps splitting as it fills.
  const random = seededRandom(3);
  for (let n = 0; n < 9; n++) rt.recordResponse({ id: idAt(ZERO, 5, randomId(random)), host: host(100 + n), port: PORT });
  t.true(rt.buckets().length > 2);
  checkLayout(t, rt, ZERO);
});

test('the own bucket splits down to 160 buckets at most', (t) => {
  const random = seededRandom(9);
  const own = randomId(random);
  for (const k of [1, 8]) {
    const rt = new RoutingTable({ ownId: own, k, clock: new ManualClock(), random });
    let i = 0;
    for (let cpl = 0; cpl < 160; cpl++) {
      for (let j = 0; j < 8; j++) {
        // The last 3 bits set to j, so the 8 ids of a prefix length are distinct wherever they can be.
        const tail = randomId(random);
        tail[19] = (tail[19]! & 0xf8) | j;
        rt.recordResponse({ id: idAt(own, cpl, tail), host: host(i++), port: PORT });
      }
    }
    checkLayout(t, rt, own, k);
    if (k === 1) {
      // One id per bucket, down to the single id that shares 159 bits with ours.
      t.is(rt.buckets().length, 160);
      t.is(rt.size, 160);
    } else {
      // Only 2^(159 - cpl) ids share exactly cpl bits: 4 + 2 + 1 for the last three, which fit
      // in one bucket of 8, so it never needs to split further.
      t.is(rt.buckets().length, 158);
      t.is(rt.size, 157 * 8 + 7);
    }
  }
});

// ---------------------------------------------------------------- states

test('node states over time', (t) => {
  const { rt, clock } = table();
  const a = { id: farId(1), host: host(1), port: PORT };
  t.deepEqual(rt.recordResponse(a), { status: 'added' });
  const c = (): Contact => rt.get(a.id)!;
  t.is(rt.state(c()), 'good');
  clock.advance(STALE - 1);
  t.is(rt.state(c()), 'good');
  clock.advance(1);
  t.is(rt.state(c()), 'questionable', 'after 15 minutes of silence');
  rt.recordQuery(a);
  t.is(rt.state(c()), 'good', 'has responded once, queried us recently');
  clock.advance(STALE);
  t.is(rt.state(c()), 'questionable');
  // A query from another address with its id is not the node.
  rt.recordQuery({ ...a, port: PORT + 1 });
  t.is(rt.state(c()), 'questionable');
  t.deepEqual(rt.recordResponse({ ...a, version: Buffer.from('UT01'), rttMs: 42 }), { status: 'updated' });
  t.is(rt.state(c()), 'good');
  t.deepEqual(c().version, Buffer.from('UT01'));
  t.is(c().rttMs, 42);
  t.is(rt.recordFailure(a), undefined);
  t.is(c().failures, 1);
  t.not(rt.state(c()), 'bad', 'one timeout is retried before giving up');
  t.is(rt.recordFailure(a), undefined);
  t.is(rt.state(c()), 'bad');
  t.is(rt.size, 1, 'a bad node stays until something replaces it');
  t.deepEqual(rt.closest(a.id), []);
  t.is(rt.closest(a.id, 8, { includeBad: true }).length, 1);
  rt.recordResponse(a);
  t.is(c().failures, 0, 'a response resets failures');
  t.is(rt.state(c()), 'good');
  t.deepEqual(c().version, Buffer.from('UT01'), 'a response without v keeps the last one');
});

test('failuresBeforeBad is configurable', (t) => {
  const { rt } = table({ failuresBeforeBad: 1 });
  const a = { id: farId(1), host: host(1), port: PORT };
  rt.recordResponse(a);
  rt.recordFailure(a);
  t.is(rt.state(rt.get(a.id)!), 'bad');
  // A timeout reported for the wrong address or an unknown id changes nothing.
  const b = { id: farId(2), host: host(2), port: PORT };
  rt.recordResponse(b);
  rt.recordFailure({ ...b, host: host(3) });
  rt.recordFailure({ id: farId(99), host: host(2), port: PORT });
  t.is(rt.get(b.id)!.failures, 0);
});

// ---------------------------------------------------------------- full buckets

/** Eight far nodes added 1 s apart, then left silent until questionable. */
function questionableBucket(opts: Partial<RoutingTableOptions> = {}): { rt: RoutingTable; clock: ManualClock; olds: Array<{ id: Buffer; host: string; port: number }> } {
  const { rt, clock } = table(opts);
  const olds = Array.from({ length: 8 }, (_, n) => ({ id: farId(n), host: host(n), port: PORT }));
  for (const o of olds) {
    rt.recordResponse(o);
    clock.advance(1000);
  }
  clock.advance(STALE);
  return { rt, clock, olds };
}

function pingIds(outcome: ResponseOutcome): string[] {
  if (outcome.status !== 'full') throw new Error(`expected full, got ${JSON.stringify(outcome)}`);
  return hexes(outcome.pingCandidates);
}

test('full bucket: ping the least recently seen, promote a cached newcomer when one fails twice', (t) => {
  const { rt, clock, olds } = questionableBucket();
  const newcomer = (n: number): { id: Buffer; host: string; port: number } => ({ id: farId(100 + n), host: host(100 + n), port: PORT });

  const first = rt.recordResponse(newcomer(1));
  t.deepEqual(pingIds(first), hexes(olds.map((o) => ({ id: o.id }) as Contact)), 'least recently seen first');
  t.is(rt.get(newcomer(1).id), undefined, 'the newcomer waits outside the table');
  t.is(rt.size, 8);
  t.is(rt.buckets()[0]!.replacements, 1);

  // The first candidate answers our ping: it stays, and the next one becomes the first to ping.
  clock.advance(10);
  t.deepEqual(rt.recordResponse(olds[0]!), { status: 'updated' });
  clock.advance(10);
  t.deepEqual(pingIds(rt.recordResponse(newcomer(2))), hexes(olds.slice(1).map((o) => ({ id: o.id }) as Contact)));
  t.is(rt.buckets()[0]!.replacements, 2);

  // The next candidate fails twice: it goes, and the most recently seen newcomer takes its place.
  t.is(rt.recordFailure(olds[1]!), undefined);
  t.truthy(rt.get(olds[1]!.id));
  const promoted = rt.recordFailure(olds[1]!);
  t.is(promoted && idToHex(promoted.id), idToHex(newcomer(2).id));
  t.is(rt.get(olds[1]!.id), undefined);
  t.truthy(rt.get(newcomer(2).id));
  t.is(rt.get(newcomer(2).id)!.addedAt, clock.now());
  t.is(rt.buckets()[0]!.lastChanged, clock.now());
  t.is(rt.buckets()[0]!.replacements, 1);

  // Another goes bad: the remaining newcomer.
  rt.recordFailure(olds[2]!);
  t.is(idToHex(rt.recordFailure(olds[2]!)!.id), idToHex(newcomer(1).id));
  t.is(rt.buckets()[0]!.replacements, 0);

  // One more goes bad with nobody waiting: it stays, bad, until a newcomer replaces it.
  rt.recordFailure(olds[3]!);
  t.is(rt.recordFailure(olds[3]!), undefined);
  t.is(rt.state(rt.get(olds[3]!.id)!), 'bad');
  const replaced = rt.recordResponse(newcomer(3));
  t.is(replaced.status, 'replaced');
  t.is(replaced.status === 'replaced' && idToHex(replaced.evicted.id), idToHex(olds[3]!.id));
  t.is(rt.size, 8);

  // Everyone answers: the bucket is full of good nodes, and newcomers are turned away uncached.
  for (const o of olds.slice(4)) rt.recordResponse(o);
  t.deepEqual(rt.recordResponse(newcomer(4)), { status: 'rejected', reason: 'bucket-full-of-good' });
  t.is(rt.buckets()[0]!.replacements, 0);
  checkLayout(t, rt, ZERO);
});

test('replacement cache: bounded, newest wins, no duplicates', (t) => {
  const { rt, clock, olds } = questionableBucket({ replacementCacheSize: 3 });
  const nc = (n: number, h = 100 + n): { id: Buffer; host: string; port: number } => ({ id: farId(100 + n), host: host(h), port: PORT });
  for (let n = 0; n < 5; n++) {
    t.is(rt.recordResponse(nc(n)).status, 'full');
    clock.advance(1);
  }
  t.is(rt.buckets()[0]!.replacements, 3, 'the two oldest were dropped');
  // The same newcomer again refreshes its place instead of taking a second one.
  t.is(rt.recordResponse(nc(2)).status, 'full');
  clock.advance(1);
  t.is(rt.buckets()[0]!.replacements, 3);
  // A different id at a cached address supersedes the cached entry.
  t.is(rt.recordResponse(nc(9, 100 + 3)).status, 'full');
  t.is(rt.buckets()[0]!.replacements, 3);
  // A newcomer at an address the table holds is refused, not cached.
  t.deepEqual(rt.recordResponse({ id: farId(200), host: olds[7]!.host, port: PORT }), { status: 'rejected', reason: 'address-taken' });

  // Promotion order is most recent response first: 9, then 2, then 4; 3 was superseded, 0 and 1 dropped.
  const promotions: string[] = [];
  for (const o of olds.slice(0, 5)) {
    rt.recordFailure(o);
    const p = rt.recordFailure(o);
    promotions.push(p === undefined ? '-' : idToHex(p.id));
  }
  t.deepEqual(promotions, [idToHex(farId(109)), idToHex(farId(102)), idToHex(farId(104)), '-', '-']);
});

test('a cache size of 0 remembers nothing', (t) => {
  const { rt } = questionableBucket({ replacementCacheSize: 0 });
  t.is(rt.recordResponse({ id: farId(100), host: host(100), port: PORT }).status, 'full');
  t.is(rt.buckets()[0]!.replacements, 0);
});

test('remove frees a slot for the best replacement', (t) => {
  const { rt, olds } = questionableBucket();
  rt.recordResponse({ id: farId(100), host: host(100), port: PORT });
  t.true(rt.remove(olds[0]!.id));
  t.is(rt.get(olds[0]!.id), undefined);
  t.truthy(rt.get(farId(100)), 'promoted');
  t.false(rt.remove(olds[0]!.id));
  t.false(rt.remove(new Uint8Array(19)));
  // A cached newcomer can be removed too.
  rt.recordResponse({ id: farId(101), host: host(101), port: PORT });
  t.is(rt.buckets()[0]!.replacements, 1);
  t.true(rt.remove(farId(101)));
  t.is(rt.buckets()[0]!.replacements, 0);
});

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

// ---------------------------------------------------------------- closest

const id20 = fc.uint8Array({ minLength: 20, maxLength: 20 }).map((u) => Buffer.from(u));

test('closest agrees with a brute-force sort (property)', (t) => {
  fc.assert(
    fc.property(
      id20,
      fc.array(fc.record({ cpl: fc.integer({ min: 0, max: 30 }), tail: id20, bad: fc.boolean() }), { maxLength: 300, size: 'max' }),
      fc.oneof(
        id20.map((x) => ({ kind: 'random' as const, x, cpl: 0 })),
        fc.record({ kind: fc.constant('near' as const), x: id20, cpl: fc.integer({ min: 0, max: 40 }) }),
        fc.constant({ kind: 'own' as const, x: ZERO, cpl: 0 }),
        fc.nat().map((i) => ({ kind: 'member' as const, x: ZERO, cpl: i })),
      ),
      fc.integer({ min: 0, max: 40 }),
      fc.boolean(),
      (own, entries, pick, count, includeBad) => {
        const rt = new RoutingTable({ ownId: own, clock: new ManualClock(), random: seededRandom(5) });
        entries.forEach((e, i) => {
          const node = { id: idAt(own, e.cpl, e.tail), host: host(i), port: PORT };
          rt.recordResponse(node);
          if (e.bad) {
            rt.recordFailure(node);
            rt.recordFailure(node);
          }
        });
        const all = rt.all();
        const target =
          pick.kind === 'random'
            ? pick.x
            : pick.kind === 'near'
              ? idAt(own, pick.cpl, pick.x)
              : pick.kind === 'own'
                ? own
                : all.length > 0
                  ? all[pick.cpl % all.length]!.id
                  : own;
        const got = hexes(rt.closest(target, count, { includeBad }));
        const want = bruteClosest(rt, target, count, includeBad);
        if (JSON.stringify(got) !== JSON.stringify(want)) throw new Error(`mismatch for ${pick.kind}: ${got.length} vs ${want.length}`);
      },
    ),
    { numRuns: 100, seed: 20240501 },
  );
  t.pass();
});

test('closest on a full 160-bucket table matches brute force; default count is k; filter applies', (t) => {
  const random = seededRandom(77);
  const own = randomId(random);
  const rt = new RoutingTable({ ownId: own, clock: new ManualClock(), random });
  let i = 0;
  for (let cpl = 0; cpl < 160; cpl++) {
    for (let j = 0; j < 8; j++) rt.recordResponse({ id: idAt(own, cpl, randomId(random)), host: host(i++), port: PORT });
  }
  t.true(rt.size > 1200);
  for (let n = 0; n < 200; n++) {
    const target = n % 2 === 0 ? randomId(random) : idAt(own, n % 160, randomId(random));
    t.deepEqual(hexes(rt.closest(target)), bruteClosest(rt, target, 8));
  }
  const target = randomId(random);
  t.deepEqual(hexes(rt.closest(target, 100)), bruteClosest(rt, target, 100));
  t.deepEqual(hexes(rt.closest(target, 5000)), bruteClosest(rt, target, 5000));
  t.deepEqual(rt.closest(target, 0), []);
  const odd = (c: Contact): boolean => (c.id[19]! & 1) === 1;
  const filtered = rt.closest(target, 8, { filter: odd });
  t.is(filtered.length, 8);
  t.true(filtered.every(odd));
  t.deepEqual(
    hexes(filtered),
    hexes(
      rt
        .all()
        .filter(odd)
        .sort((a, b) => Buffer.compare(xorDistance(a.id, target), xorDistance(b.id, target)))
        .slice(0, 8),
    ),
  );
  t.throws(() => rt.closest(Buffer.alloc(19)));
  t.throws(() => rt.closest(target, -1), { instanceOf: RangeError });
});

// ---------------------------------------------------------------- refresh

test('bucketsNeedingRefresh: stale buckets with targets inside their range; touchBucket clears them', (t) => {
  const random = seededRandom(11);
  const own = randomId(random);
  const clock = new ManualClock();
  const rt = new RoutingTable({ ownId: own, clock, random });
  for (let i = 0; i < 300; i++) rt.recordResponse({ id: randomId(random), host: host(i), port: PORT });
  const buckets = rt.buckets();
  const last = buckets.length - 1;
  t.true(buckets.length > 4);
  t.deepEqual(rt.bucketsNeedingRefresh(), [], 'everything just changed');

  clock.advance(DEFAULT_NODE_STALE_AFTER_MS);
  const due = rt.bucketsNeedingRefresh();
  t.deepEqual(
    due.map((d) => d.index),
    buckets.map((_, i) => i),
  );
  for (const { index, target } of due) {
    const cpl = commonPrefixBits(target, own);
    if (index === last) t.true(cpl >= last, `target for last bucket has cpl ${cpl}`);
    else t.is(cpl, index, `target for bucket ${index}`);
  }
  // A response from a node refreshes its bucket only.
  const member = buckets[1]!.contacts[0]!;
  rt.recordResponse(member);
  t.false(rt.bucketsNeedingRefresh().some((d) => d.index === 1));
  t.is(rt.bucketsNeedingRefresh().length, buckets.length - 1);
  // A query from a node does not.
  rt.recordQuery(buckets[2]!.contacts[0]!);
  t.true(rt.bucketsNeedingRefresh().some((d) => d.index === 2));
  for (const { target } of rt.bucketsNeedingRefresh()) rt.touchBucket(target);
  t.deepEqual(rt.bucketsNeedingRefresh(), []);
  clock.advance(DEFAULT_NODE_STALE_AFTER_MS - 1);
  t.deepEqual(rt.bucketsNeedingRefresh(), []);
  clock.advance(1);
  t.is(rt.bucketsNeedingRefresh().length, buckets.length);
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
