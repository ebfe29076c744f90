/**
 * The HTTP API (server/api/) over an index written through the real write path (applyShardedBatch)
 * on a real redis-server, one infohash at a time and when requests or Redis go wrong: the
 * record route and the forms of infohash it accepts, JSON 404s and 400s, a real listening
 * socket, an unexpected Redis error (500), Redis going away (503), and extensions.
 */
import test from 'ava';
import { Redis } from 'ioredis';
import { createApiServer } from '../server/api/server.js';
import { newBatchId } from '../indexer/batch-id.js';
import { encodeCursor } from '../indexer/cursor.js';
import { IndexKeys } from '../indexer/keys.js';
import { ensureSchema } from '../migrations/runner.js';
import { freePort, randomPrefix, startRedisServer } from './helpers/redis.js';
import { get, IH, NOW, PEER, sampleBatch, T0, useApiServer } from './helpers/api.js';
import { applyIndexed, getIndexed } from './helpers/index-writes.js';
import { ShardedIndexKeys } from '../indexer/sharded-keys.js';

const { setup } = useApiServer(test);

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
    swarm: null,
    metadata: null,
  });
  t.deepEqual(res.body, { ...(await getIndexed(c, keys, IH(1), { now: NOW })), metadata: null });
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
    ['/api/infohashes?sort=oldest', 'ERR_BAD_SORT', /^sort must be one of recent, popular, seeders, got "oldest"$/],
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
  // A records bucket of the wrong type (not something the writer produces) makes the read fail.
  const { shard, bucket } = ShardedIndexKeys.of(keys.prefix).locate(IH(5));
  await c.set(shard.records(bucket), 'not a hash');
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
  await applyIndexed(c, sampleBatch(), { keys, batchId: newBatchId(), now: NOW });
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
