/**
 * The HTTP API (server/api/) over an index written through the real write path (applyBatch)
 * on a real redis-server: content, validation errors, paging while the index changes, JSON
 * errors everywhere, a real listening socket, and Redis going away.
 */
import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import { deepStrictEqual } from 'node:assert/strict';
import { type FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import type { Discovery } from '../crawler/discovery.js';
import { type ApiServerOptions, createApiServer } from '../server/api/server.js';
import { applyBatch } from '../indexer/apply-batch.js';
import { newBatchId } from '../indexer/batch-id.js';
import { encodeCursor } from '../indexer/cursor.js';
import { dayOf, IndexKeys } from '../indexer/keys.js';
import { getInfohash, pageSortedSet } from '../indexer/queries.js';
import { ensureSchema } from '../migrations/runner.js';
import { params } from './helpers/fast-check.js';
import { freePort, randomPrefix, startRedisServer, useRedisServer } from './helpers/redis.js';
import { hostIn, infohashes, nodeIdHex, testNetPeer } from './helpers/generators.js';

const redis = useRedisServer(test);

const IH = infohashes('f');
const NODE_ID = nodeIdHex;
const ADDR = hostIn('10.0.0');
const PEER = testNetPeer;

/** The server's clock: the middle of the current minute. T0: a minute start 30 minutes earlier. */
const NOW = Math.floor(Date.now() / 60_000) * 60_000 + 30_000;
const T0 = NOW - 30_000 - 30 * 60_000;

interface Setup {
  c: Redis;
  keys: IndexKeys;
  app: FastifyInstance;
  apply: (events: Discovery[], now?: number) => Promise<unknown>;
}

async function setup(t: ExecutionContext, options: Partial<ApiServerOptions> = {}): Promise<Setup> {
  const { c, keys } = await redis.freshIndex(t);
  const app = await createApiServer({ redis: c, keys, now: () => NOW, ...options });
  t.teardown(() => app.close());
  return { c, keys, app, apply: (events, now = NOW) => applyBatch(c, events, { keys, batchId: newBatchId(), now }) };
}

async function get(app: FastifyInstance, url: string): Promise<{ status: number; body: any; headers: Record<string, unknown> }> {
  const res = await app.inject({ method: 'GET', url });
  return { status: res.statusCode, body: res.json(), headers: res.headers };
}

/** 3 infohashes, 3 nodes, peers and a sample, with every count known. */
function sampleBatch(): Discovery[] {
  return [
    { type: 'node', id: NODE_ID(1), address: ADDR(1), version: '4c540102', rttMs: 40, bep51: true, bep42: true, at: T0 },
    { type: 'node', id: NODE_ID(2), address: ADDR(2), version: '4c540102', rttMs: 60, bep51: false, bep42: false, at: T0 + 1000 },
    { type: 'node', id: NODE_ID(3), address: ADDR(3), version: null, rttMs: 80, bep51: null, bep42: true, at: T0 + 61_000 },
    { type: 'sample', node: ADDR(1), num: 120, interval: 300, samples: 20, at: T0 },
    { type: 'infohash', infohash: IH(1), node: ADDR(1), source: 'sample', at: T0 },
    { type: 'infohash', infohash: IH(1), node: ADDR(2), source: 'sample', at: T0 + 5000 },
    { type: 'infohash', infohash: IH(1), node: ADDR(1), source: 'get_peers', at: T0 + 70_000 },
    { type: 'infohash', infohash: IH(2), node: ADDR(3), source: 'announce_peer', at: T0 + 10_000 },
    { type: 'peers', infohash: IH(1), peers: [PEER(1), PEER(2), PEER(3)], node: ADDR(1), at: T0 + 20_000 },
    { type: 'peers', infohash: IH(1), peers: [PEER(2), PEER(4)], node: ADDR(2), at: T0 + 30_000 },
    { type: 'peers', infohash: IH(3), peers: [PEER(9)], node: ADDR(2), at: T0 + 40_000 },
  ];
}

function errorOf(res: { status: number; body: any }): { status: number; code: string; message: string } {
  return { status: res.status, code: res.body?.error?.code, message: res.body?.error?.message };
}

test('GET /api/infohashes/:ih returns the record as applied, newest peers first', async (t) => {
  const { c, keys, app, apply } = await setup(t);
  await apply(sampleBatch());
  const res = await get(app, `/api/infohashes/${IH(1)}`);
  t.is(res.status, 200);
  t.regex(String(res.headers['content-type']), /^application\/json/);
  t.deepEqual(res.body, {
    infohash: IH(1),
    firstSeen: T0,
    lastSeen: T0 + 70_000,
    seen: 3,
    sources: 2,
    peerCount: 4,
    // Same time: descending address order; PEER(2)'s newer sighting counts.
    peers: [
      { address: PEER(4), lastSeen: T0 + 30_000 },
      { address: PEER(2), lastSeen: T0 + 30_000 },
      { address: PEER(3), lastSeen: T0 + 20_000 },
      { address: PEER(1), lastSeen: T0 + 20_000 },
    ],
    metadata: null,
  });
  t.deepEqual(res.body, { ...(await getInfohash(c, keys, IH(1), { now: NOW })), metadata: null });
  // Known only from a peers reply: seen 0, one peer.
  t.like((await get(app, `/api/infohashes/${IH(3)}`)).body, { seen: 0, sources: 0, peerCount: 1, firstSeen: T0 + 40_000 });
});

test('an infohash in upper case, base32 or a URL-encoded magnet link is normalised to lowercase hex', async (t) => {
  const { app, apply } = await setup(t);
  await apply(sampleBatch());
  const expected = (await get(app, `/api/infohashes/${IH(1)}`)).body;
  const base32 = base32Encode(Buffer.from(IH(1), 'hex'));
  const magnet = encodeURIComponent(`magnet:?xt=urn:btih:${IH(1).toUpperCase()}&dn=${'x'.repeat(300)}`);
  for (const form of [IH(1).toUpperCase(), base32, base32.toLowerCase(), magnet]) {
    const res = await get(app, `/api/infohashes/${form}`);
    t.is(res.status, 200, form);
    t.deepEqual(res.body, expected, form);
  }
  const peers = await get(app, `/api/infohashes/${IH(1).toUpperCase()}/peers`);
  t.is(peers.body.infohash, IH(1));
});

test('an unknown infohash is a JSON 404, for the record and its peers', async (t) => {
  const { app, apply } = await setup(t);
  await apply(sampleBatch());
  for (const url of [`/api/infohashes/${IH(99)}`, `/api/infohashes/${IH(99)}/peers`]) {
    const res = await get(app, url);
    t.deepEqual(res.body, { error: { code: 'ERR_INFOHASH_NOT_FOUND', message: `infohash ${IH(99)} is not in the index` }, statusCode: 404 }, url);
    t.is(res.status, 404);
  }
});

test('bad input is a 400 with a stable code and a message that says what is wrong', async (t) => {
  const { app, apply } = await setup(t);
  await apply(sampleBatch());
  const peersCursor = (await get(app, `/api/infohashes/${IH(1)}/peers?limit=1`)).body.nextCursor as string;
  const recentCursor = encodeCursor({ kind: 'recent', score: T0, member: IH(1) });
  const cases: Array<[string, string, RegExp]> = [
    ['/api/infohashes/xyz', 'ERR_BAD_INFOHASH', /expected an infohash \(40 hex characters or 32 base32 characters\).*got "xyz"/],
    [`/api/infohashes/${IH(1).slice(1)}`, 'ERR_BAD_INFOHASH', /40 hex/],
    [`/api/infohashes/${IH(1)}0`, 'ERR_BAD_INFOHASH', /40 hex/],
    [`/api/infohashes/${'g'.repeat(40)}/peers`, 'ERR_BAD_INFOHASH', /40 hex/],
    [`/api/infohashes/${encodeURIComponent('magnet:?dn=x')}`, 'ERR_BAD_INFOHASH', /magnet link has no infohash/],
    ['/api/infohashes?limit=0', 'ERR_BAD_LIMIT', /^limit must be an integer from 1 to 1000, got "0"$/],
    ['/api/infohashes?limit=1001', 'ERR_BAD_LIMIT', /^limit must be an integer from 1 to 1000, got "1001"$/],
    ['/api/infohashes?limit=abc', 'ERR_BAD_LIMIT', /got "abc"/],
    ['/api/infohashes?limit=1.5', 'ERR_BAD_LIMIT', /got "1.5"/],
    ['/api/infohashes?limit=', 'ERR_BAD_LIMIT', /got ""/],
    ['/api/infohashes?limit=1&limit=2', 'ERR_BAD_LIMIT', /^limit must be given once$/],
    [`/api/infohashes/${IH(1)}/peers?limit=-1`, 'ERR_BAD_LIMIT', /from 1 to 1000/],
    ['/api/infohashes?cursor=abc', 'ERR_BAD_CURSOR', /not a dhtscope cursor/],
    ['/api/infohashes?cursor=%24%24%24', 'ERR_BAD_CURSOR', /base64url/],
    [`/api/infohashes?cursor=${'A'.repeat(300)}`, 'ERR_BAD_CURSOR', /at most 256/],
    [`/api/infohashes?cursor=${Buffer.from('[1,"recent",1,"nothex"]').toString('base64url')}`, 'ERR_BAD_CURSOR', /damaged/],
    [`/api/infohashes?sort=popular&cursor=${recentCursor}`, 'ERR_BAD_CURSOR', /^cursor belongs to the recent list, not to popular$/],
    [`/api/infohashes?cursor=${peersCursor}`, 'ERR_BAD_CURSOR', /belongs to the peers list/],
    [`/api/infohashes/${IH(1)}/peers?cursor=${recentCursor}`, 'ERR_BAD_CURSOR', /belongs to the recent list, not to peers/],
    ['/api/infohashes?sort=oldest', 'ERR_BAD_SORT', /^sort must be one of recent, popular, got "oldest"$/],
    ['/api/stats?minutes=0', 'ERR_BAD_MINUTES', /from 1 to 1440/],
    ['/api/stats?minutes=1441', 'ERR_BAD_MINUTES', /from 1 to 1440/],
    ['/api/infohashes/%zz', 'ERR_BAD_REQUEST', /malformed request/],
    [`/api/infohashes/${'a'.repeat(1001)}`, 'ERR_BAD_REQUEST', /longer than 1000 characters/],
  ];
  for (const [url, code, message] of cases) {
    const e = errorOf(await get(app, url));
    t.is(e.status, 400, url);
    t.is(e.code, code, url);
    t.regex(e.message, message, url);
  }
});

test('unknown routes and methods are JSON 404s', async (t) => {
  const { app } = await setup(t);
  for (const [method, url] of [
    ['GET', '/nope'],
    ['GET', '/'],
    ['GET', `/api/infohashes/${IH(1)}/peers/more`],
    ['POST', '/api/stats'],
    ['DELETE', `/api/infohashes/${IH(1)}`],
  ] as const) {
    const res = await app.inject({ method, url });
    t.is(res.statusCode, 404, url);
    t.regex(String(res.headers['content-type']), /^application\/json/);
    t.deepEqual(res.json(), { error: { code: 'ERR_ROUTE_NOT_FOUND', message: `no route for ${method} ${url}` }, statusCode: 404 });
  }
});

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
    { infohash: IH(4), firstSeen: T0 + 4, lastSeen: T0 + 100, seen: 1, sources: 1, peerCount: 4 },
    { infohash: IH(3), firstSeen: T0 + 3, lastSeen: T0 + 100, seen: 1, sources: 1, peerCount: 3 },
    { infohash: IH(5), firstSeen: T0 + 5, lastSeen: T0 + 100, seen: 1, sources: 1, peerCount: 2 },
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

test('over a real socket on 127.0.0.1: JSON answers and JSON errors', async (t) => {
  const { app, apply } = await setup(t);
  await apply(sampleBatch());
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as { port: number };
  const base = `http://127.0.0.1:${port}`;
  const ok = await fetch(`${base}/api/infohashes/${IH(1).toUpperCase()}`);
  t.is(ok.status, 200);
  t.regex(ok.headers.get('content-type') ?? '', /^application\/json/);
  t.like(await ok.json(), { infohash: IH(1), seen: 3, peerCount: 4 });
  const list = await fetch(`${base}/api/infohashes?sort=popular&limit=1`);
  const page = (await list.json()) as { items: Array<{ infohash: string }>; nextCursor: string };
  t.is(page.items[0]!.infohash, IH(1));
  const next = (await (await fetch(`${base}/api/infohashes?sort=popular&limit=1&cursor=${page.nextCursor}`)).json()) as { items: Array<{ infohash: string }>; nextCursor: null };
  t.deepEqual(next, { ...next, items: [{ ...next.items[0]!, infohash: IH(3) }], nextCursor: null });
  const missing = await fetch(`${base}/missing`);
  t.is(missing.status, 404);
  t.is(((await missing.json()) as { error: { code: string } }).error.code, 'ERR_ROUTE_NOT_FOUND');
  const bad = await fetch(`${base}/api/infohashes?limit=abc`);
  t.is(bad.status, 400);
  t.is(((await bad.json()) as { error: { code: string } }).error.code, 'ERR_BAD_LIMIT');
});

test('an unexpected Redis error is a 500 with no details or stack trace in the body', async (t) => {
  const { c, keys, app } = await setup(t);
  // A peers key of the wrong type (not something the writer produces) makes the read fail.
  await c.hset(keys.infohash(IH(5)), 'first', String(T0), 'last', String(T0));
  await c.set(keys.infohashPeers(IH(5)), 'not a zset');
  const res = await get(app, `/api/infohashes/${IH(5)}`);
  t.is(res.status, 500);
  t.deepEqual(res.body, { error: { code: 'ERR_INTERNAL', message: 'internal error (details are in the server log)' }, statusCode: 500 });
});

test('Redis down: a prompt 503 with Retry-After, also when it was never reachable', async (t) => {
  const server = await startRedisServer();
  t.teardown(() => server.stop());
  const c = new Redis({ host: server.host, port: server.port });
  c.on('error', () => {});
  t.teardown(() => c.disconnect());
  const keys = new IndexKeys(randomPrefix());
  await ensureSchema(c, keys, { migrate: true });
  await applyBatch(c, sampleBatch(), { keys, batchId: newBatchId(), now: NOW });
  const app = await createApiServer({ redis: c, keys, now: () => NOW, redisTimeoutMs: 500 });
  t.teardown(() => app.close());
  t.is((await get(app, `/api/infohashes/${IH(1)}`)).status, 200);

  await server.kill();
  for (const url of [`/api/infohashes/${IH(1)}`, '/api/stats', '/api/infohashes', '/api/nodes/census']) {
    const res = await get(app, url);
    t.is(res.status, 503, url);
    t.is(res.body.error.code, 'ERR_REDIS_UNAVAILABLE', url);
    t.regex(res.body.error.message, /Redis (is unavailable|did not answer)/);
    t.is(res.headers['retry-after'], '1');
  }

  // A client that never reached any server (nothing listens on the port).
  const nowhere = new Redis({ host: '127.0.0.1', port: await freePort() });
  nowhere.on('error', () => {});
  t.teardown(() => nowhere.disconnect());
  const app2 = await createApiServer({ redis: nowhere, keys, redisTimeoutMs: 500 });
  t.teardown(() => app2.close());
  const res = await get(app2, '/api/stats');
  t.is(res.status, 503);
  t.is(res.body.error.code, 'ERR_REDIS_UNAVAILABLE');
});

test('extensions add routes and hooks that also see the API requests', async (t) => {
  const seen: string[] = [];
  const { app } = await setup(t, {
    extensions: [
      (a) => {
        a.addHook('onResponse', async (req, reply) => {
          seen.push(`${req.url} ${reply.statusCode}`);
        });
        a.get('/metrics', async () => ({ up: 1 }));
      },
    ],
  });
  t.deepEqual((await get(app, '/metrics')).body, { up: 1 });
  await get(app, `/api/infohashes/${IH(1)}`);
  t.deepEqual(seen, ['/metrics 200', `/api/infohashes/${IH(1)} 404`]);
});

function base32Encode(buf: Buffer): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of buf) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return out;
}
