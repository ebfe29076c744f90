/**
 * The HTTP API (server/api/) over an index written through the real write path (applyShardedBatch)
 * on a real redis-server, its lists: recent and popular infohashes and an infohash's peers,
 * paged while the index changes (and a property of the paging underneath), /api/stats and
 * /api/nodes/census.
 */
import test from 'ava';
import fc from 'fast-check';
import { deepStrictEqual } from 'node:assert/strict';
import type { Discovery } from '../crawler/discovery.js';
import { createApiServer } from '../server/api/server.js';
import { dayOf, IndexKeys } from '../indexer/keys.js';
import { pageSortedSet } from '../indexer/queries.js';
import { params } from './helpers/fast-check.js';
import { randomPrefix } from './helpers/redis.js';
import { ADDR, get, IH, NOW, PEER, sampleBatch, T0, useApiServer } from './helpers/api.js';

const { redis, setup } = useApiServer(test);

test('paging through 250 recent infohashes, 100 at a time, returns each once in order while new ones arrive', async (t) => {
  const { app, apply } = await setup(t);
  const A = (n: number): string => `a${n.toString(16).padStart(39, '0')}`;
  // Groups of 7 share a time, so page boundaries fall inside groups of equal scores.
  const at = (i: number): number => T0 + Math.floor(i / 7) * 1000;
  await apply(Array.from({ length: 250 }, (_, i) => ({ type: 'infohash', infohash: A(i), node: ADDR(1), source: 'sample', at: at(i) })));
  // Score descending, then member descending: here simply 249 … 0.
  const expected = Array.from({ length: 250 }, (_, i) => A(249 - i));

  const pages: string[][] = [];
  let cursor: string | null = null;
  let round = 0;
  do {
    const res = await get(app, `/api/infohashes?sort=recent&limit=100${cursor === null ? '' : `&cursor=${cursor}`}`);
    t.is(res.status, 200);
    const ids = (res.body.items as Array<{ infohash: string }>).map((i) => i.infohash);
    pages.push(ids);
    cursor = res.body.nextCursor;
    round++;
    // Between pages: new infohashes, and re-sightings of items already returned, including
    // the very item the cursor names (it moves to the top, away from its old position).
    const last = ids.at(-1)!;
    await apply([
      ...Array.from({ length: 30 }, (_, i): Discovery => ({ type: 'infohash', infohash: IH(1000 * round + i), node: ADDR(2), source: 'sample', at: NOW - 5000 + i })),
      { type: 'infohash', infohash: last, node: ADDR(3), source: 'sample', at: NOW - 100 },
      { type: 'infohash', infohash: ids[0]!, node: ADDR(3), source: 'sample', at: NOW - 50 },
    ]);
  } while (cursor !== null && round < 10);
  t.deepEqual(
    pages.map((p) => p.length),
    [100, 100, 50],
  );
  t.deepEqual(pages.flat(), expected);
});

test('popular lists by live peer count with summaries, and pages the same way', async (t) => {
  const { app, apply } = await setup(t);
  const events: Discovery[] = [];
  for (let n = 1; n <= 5; n++) {
    events.push({ type: 'infohash', infohash: IH(n), node: ADDR(n), source: 'sample', at: T0 + n });
    events.push({ type: 'peers', infohash: IH(n), peers: Array.from({ length: n === 5 ? 2 : n }, (_, i) => PEER(10 * n + i)), node: ADDR(1), at: T0 + 100 });
  }
  await apply(events);
  const first = await get(app, '/api/infohashes?sort=popular&limit=3');
  t.is(first.body.sort, 'popular');
  // 4 peers, 3, then a tie at 2 between IH(5) and IH(2): the larger member first.
  t.deepEqual(first.body.items, [
    { infohash: IH(4), firstSeen: T0 + 4, lastSeen: T0 + 100, seen: 1, sources: 1, peerCount: 4, swarm: null },
    { infohash: IH(3), firstSeen: T0 + 3, lastSeen: T0 + 100, seen: 1, sources: 1, peerCount: 3, swarm: null },
    { infohash: IH(5), firstSeen: T0 + 5, lastSeen: T0 + 100, seen: 1, sources: 1, peerCount: 2, swarm: null },
  ]);
  const second = await get(app, `/api/infohashes?sort=popular&limit=3&cursor=${first.body.nextCursor}`);
  t.deepEqual(
    second.body.items.map((i: { infohash: string }) => i.infohash),
    [IH(2), IH(1)],
  );
  t.is(second.body.nextCursor, null);
  // The default list is recent, 50 at most.
  const recent = await get(app, '/api/infohashes');
  t.is(recent.body.sort, 'recent');
  t.deepEqual(
    recent.body.items.map((i: { infohash: string }) => i.infohash),
    [IH(5), IH(4), IH(3), IH(2), IH(1)],
  );
});

test('peers page through every live peer once, newest first; expired peers are not listed', async (t) => {
  const { c, keys, app, apply } = await setup(t);
  const tied = Array.from({ length: 150 }, (_, i) => PEER(i));
  const older = Array.from({ length: 30 }, (_, i) => `198.51.100.${i}:${2000 + i}`);
  await apply([
    { type: 'infohash', infohash: IH(7), node: ADDR(1), source: 'sample', at: T0 },
    { type: 'peers', infohash: IH(7), peers: older, node: ADDR(1), at: T0 + 50_000 },
    { type: 'peers', infohash: IH(7), peers: tied, node: ADDR(2), at: T0 + 100_000 },
  ]);
  const byteDesc = (a: string, b: string): number => Buffer.compare(Buffer.from(b), Buffer.from(a));
  const expected = [...[...tied].sort(byteDesc).map((address) => ({ address, lastSeen: T0 + 100_000 })), ...[...older].sort(byteDesc).map((address) => ({ address, lastSeen: T0 + 50_000 }))];

  const first = await get(app, `/api/infohashes/${IH(7)}/peers?limit=100`);
  t.is(first.body.infohash, IH(7));
  t.is(first.body.peers.length, 100);
  const second = await get(app, `/api/infohashes/${IH(7)}/peers?limit=100&cursor=${first.body.nextCursor}`);
  t.is(second.body.nextCursor, null);
  t.deepEqual([...first.body.peers, ...second.body.peers], expected);
  // The record shows the newest 20 and counts all.
  t.like((await get(app, `/api/infohashes/${IH(7)}`)).body, { peerCount: 180 });
  t.is((await get(app, `/api/infohashes/${IH(7)}`)).body.peers.length, 20);

  // Seven hours later every peer is past the 6 h TTL: the infohash is known, its peers are not live.
  const later = await createApiServer({ redis: c, keys, now: () => NOW + 7 * 3600_000 });
  t.teardown(() => later.close());
  t.deepEqual((await get(later, `/api/infohashes/${IH(7)}/peers`)).body, { infohash: IH(7), peers: [], nextCursor: null });
  t.like((await get(later, `/api/infohashes/${IH(7)}`)).body, { peerCount: 0, peers: [] });
});

test('property: a page starts strictly after its (score, member) position, present in the set or not', async (t) => {
  const c = redis.client(t);
  const key = new IndexKeys(randomPrefix()).recent;
  // Few scores, and members that are often prefixes of each other ("ab" < "aba"): the tie-break cases.
  const member = fc.stringMatching(/^[ab]{1,4}$/);
  const entries = fc.uniqueArray(fc.tuple(fc.integer({ min: 0, max: 2 }), member), { selector: ([, m]) => m, maxLength: 30 });
  const order = (a: { score: number; member: string }, b: { score: number; member: string }): number =>
    b.score - a.score || Buffer.compare(Buffer.from(b.member), Buffer.from(a.member));
  await fc.assert(
    fc.asyncProperty(entries, fc.integer({ min: 0, max: 2 }), member, fc.integer({ min: 1, max: 7 }), async (set, score, m, limit) => {
      await c.del(key);
      if (set.length > 0) await c.zadd(key, ...set.flatMap(([sc, mem]) => [sc, mem]));
      const all = set.map(([sc, mem]) => ({ score: sc, member: mem })).sort(order);
      const after = all.filter((x) => order(x, { score, member: m }) > 0);
      const page = await pageSortedSet(c, key, { limit, after: { score, member: m } });
      deepStrictEqual(page.items, after.slice(0, limit));
      deepStrictEqual(page.next, after.length > limit ? after[limit - 1] : null);
      // Paging from the start visits everything once, in order.
      const visited: typeof all = [];
      let next = null;
      do {
        const p = await pageSortedSet(c, key, { limit, after: next });
        visited.push(...p.items);
        next = p.next;
      } while (next !== null);
      deepStrictEqual(visited, all);
    }),
    params(100),
  );
  t.pass();
});

test('GET /api/stats: totals, infohash count, per-minute series and the live provider', async (t) => {
  let calls = 0;
  const live = { crawler: { queriesSent: 1234, sweeps: 2 }, queue: { waiting: 0 } };
  const { app, apply } = await setup(t, {
    liveStats: async () => {
      calls++;
      return live;
    },
  });
  await apply(sampleBatch());
  const res = await get(app, '/api/stats');
  t.is(res.status, 200);
  const b = res.body;
  t.is(b.infohashes, 3);
  t.deepEqual(b.totals, {
    'events:node': 3,
    'events:infohash': 4,
    'events:sample': 1,
    'events:peers': 3,
    'infohashes:new': 3,
    'peers:reported': 6,
    'samples:returned': 20,
    'rtt:sum': 180,
    'rtt:count': 3,
    batches: 1,
  });
  const to = NOW - 30_000;
  t.like(b.series, { from: to - 59 * 60_000, to, stepMs: 60_000, minutes: 60 });
  const at = (metric: string, i: number): number => b.series.metrics[metric][i];
  for (const xs of Object.values(b.series.metrics) as number[][]) t.is(xs.length, 60);
  // T0 is the 30th minute of the window (index 29), T0 + 61 s the next; the batch at NOW the last.
  t.is(at('events:infohash', 29), 3);
  t.is(at('events:infohash', 30), 1);
  t.is(at('events:node', 29), 2);
  t.is(at('events:node', 30), 1);
  t.is(at('infohashes:new', 29), 3);
  t.is(at('peers:reported', 29), 6);
  t.is(at('rtt:sum', 29), 100);
  t.is(at('batches', 59), 1);
  t.is((b.series.metrics['events:infohash'] as number[]).reduce((x, y) => x + y, 0), 4);
  t.deepEqual(b.live, live);
  t.is(calls, 1);

  const short = (await get(app, '/api/stats?minutes=5')).body.series;
  t.like(short, { from: to - 4 * 60_000, to, minutes: 5 });
  t.deepEqual(short.metrics['batches'], [0, 0, 0, 0, 1]);
});

test('/api/stats without a provider has live null; a failing provider does not fail the stats', async (t) => {
  const plain = await setup(t);
  t.is((await get(plain.app, '/api/stats')).body.live, null);
  const failing = await setup(t, {
    liveStats: () => {
      throw new Error('crawler not started');
    },
  });
  await failing.apply(sampleBatch());
  const res = await get(failing.app, '/api/stats');
  t.is(res.status, 200);
  t.is(res.body.live, null);
  t.is(res.body.infohashes, 3);
});

test('GET /api/nodes/census: nodes, flags, decoded versions and 7 days of distinct nodes', async (t) => {
  const { app, apply } = await setup(t);
  await apply(sampleBatch());
  const b = (await get(app, '/api/nodes/census')).body;
  t.is(b.nodes, 3);
  t.deepEqual(b.bep51, { yes: 1, no: 1 });
  t.deepEqual(b.bep42, { yes: 2, no: 1 });
  t.deepEqual(b.versions, [
    { label: '4c540102', nodes: 2, client: 'LT', version: '1.0.2' },
    { label: 'none', nodes: 1, client: null, version: null },
  ]);
  t.is(b.perDay.length, 7);
  const iso = (d: string): string => `${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6)}`;
  t.is(b.perDay.at(-1).day, iso(dayOf(NOW)));
  t.is(b.perDay[0].day, iso(dayOf(NOW - 6 * 86_400_000)));
  for (const d of b.perDay) t.is(d.nodes, d.day === iso(dayOf(T0)) ? 3 : 0, d.day);
});
