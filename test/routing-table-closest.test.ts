/**
 * bep5/routing-table.ts, finding nodes: `closest` agrees with a brute-force sort (a property,
 * and a full 160-bucket table with count, includeBad and a filter), and bucket refresh
 * (bucketsNeedingRefresh, touchBucket).
 */
import test from 'ava';
import fc from 'fast-check';
import { ManualClock } from '../bep5/clock.js';
import { DEFAULT_NODE_STALE_AFTER_MS } from '../bep5/constants.js';
import { commonPrefixBits, randomId, xorDistance } from '../bep5/node-id.js';
import { seededRandom } from '../bep5/random.js';
import { RoutingTable, type Contact } from '../bep5/routing-table.js';
import { hexes, host, idAt, PORT, ZERO } from './helpers/routing-table.js';

function bruteClosest(rt: RoutingTable, target: Buffer, count: number, includeBad = false): string[] {
  return hexes(
    rt
      .all()
      .filter((c) => includeBad || rt.state(c) !== 'bad')
      .sort((a, b) => Buffer.compare(xorDistance(a.id, target), xorDistance(b.id, target)))
      .slice(0, count),
  );
}

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
