/**
 * bep5/routing-table.ts, its buckets: how the table splits (only where our own id falls, down
 * to 160 buckets at most), node states over time (good, questionable, bad), and full buckets
 * (pinging the least recently seen, the replacement cache, remove).
 */
import test from 'ava';
import { ManualClock } from '../bep5/clock.js';
import { commonPrefixBits, idToHex, randomId } from '../bep5/node-id.js';
import { seededRandom } from '../bep5/random.js';
import { RoutingTable, type Contact, type ResponseOutcome, type RoutingTableOptions } from '../bep5/routing-table.js';
import { farId, hexes, host, idAt, PORT, table, ZERO } from './helpers/routing-table.js';

const MIN = 60_000;
const STALE = 15 * MIN;

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
