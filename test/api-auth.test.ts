/**
 * The HTTP API's key (server/api/auth.ts), in-process over a real redis-server: every route
 * asks for it (the API, the dashboard and its assets, /metrics, unknown paths, a route an
 * extension adds in a plugin of its own, one added after createApiServer), by Bearer header,
 * ?apikey= or the cookie that opening `/?apikey=` sets; wrong keys from one address are
 * answered 429 once there were too many, on the server's injectable clock; the memory for it
 * is capped. Without a key the server asks for none (the loopback default).
 */
import test, { type ExecutionContext } from 'ava';
import { type FastifyInstance } from 'fastify';
import { apiKeyProblem, FailedAttempts, withoutApiKey } from '../server/api/auth.js';
import { AUTH_BLOCK_MS, AUTH_COOKIE_NAME, AUTH_MAX_FAILURES, API_KEY_MAX_LENGTH } from '../server/api/constants.js';
import { createApiServer } from '../server/api/server.js';
import { dashboardExtension } from '../server/dashboard/extension.js';
import { metricsExtension } from '../server/metrics/extension.js';
import { NOW, sampleBatch, useApiServer } from './helpers/api.js';

const { redis, setup } = useApiServer(test);
const KEY = 'k3y-0f-THE_server.~';
const OTHER_IP = '192.0.2.77';

interface Res {
  status: number;
  body: any;
  headers: Record<string, unknown>;
}

async function send(app: FastifyInstance, url: string, options: { headers?: Record<string, string>; ip?: string; method?: 'GET' | 'HEAD' } = {}): Promise<Res> {
  const res = await app.inject({ method: options.method ?? 'GET', url, headers: options.headers ?? {}, remoteAddress: options.ip ?? '192.0.2.1' });
  let body: unknown = res.body;
  try {
    body = res.json();
  } catch {
    // the dashboard's page, scripts and /metrics are not JSON
  }
  return { status: res.statusCode, body, headers: res.headers };
}

const bearer = (key: string): Record<string, string> => ({ authorization: `Bearer ${key}` });

/**
 * A server with a key, the dashboard, /metrics, a route in an encapsulated plugin with an error
 * handler of its own (as a Torznab extension would add), and one added after createApiServer.
 */
async function keyedServer(t: ExecutionContext, clock = { now: NOW }): Promise<FastifyInstance> {
  const { c, keys } = await redis.freshIndex(t);
  const app = await createApiServer({
    redis: c,
    keys,
    now: () => clock.now,
    apiKey: KEY,
    extensions: [
      dashboardExtension({ redis: c, keys }),
      metricsExtension({}),
      async (root) => {
        await root.register(async (child) => {
          child.setErrorHandler((err: Error & { statusCode?: number }, _req, reply) =>
            reply.code(err.statusCode ?? 500).type('application/xml').send(`<error code="100" description="${err.message.slice(0, 20)}"/>`),
          );
          child.get('/plugin/api', async (_req, reply) => reply.type('application/xml').send('<caps/>'));
        });
      },
    ],
  });
  app.get('/later', async () => ({ later: true }));
  t.teardown(() => app.close());
  return app;
}

const ROUTES = ['/api/stats', '/api/infohashes', '/api/nodes/census', '/metrics', '/', '/dashboard/app.js', '/plugin/api', '/later', '/no/such/path'];

test('every route answers 401 without a key, with WWW-Authenticate: Bearer and the API error body', async (t) => {
  const app = await keyedServer(t);
  for (const url of ROUTES) {
    const res = await send(app, url);
    t.is(res.status, 401, url);
    t.is(res.headers['www-authenticate'], 'Bearer realm="dhtscope"', url);
    if (url !== '/plugin/api') {
      t.is(res.body.error.code, 'ERR_UNAUTHORIZED', url);
      t.regex(res.body.error.message, /requires an API key.*Authorization: Bearer <key>.*apikey=<key>/, url);
    } else {
      t.regex(String(res.body), /^<error code="100"/, 'a plugin with its own error handler formats the 401 its way, headers kept');
    }
  }
});

test('a wrong key is 401 invalid_token, whatever its length or where it is sent', async (t) => {
  const app = await keyedServer(t);
  const wrong = [
    { headers: bearer(KEY.slice(0, -1)) },
    { headers: bearer(KEY + 'x') },
    { headers: bearer('x'.repeat(5_000)) },
    { headers: { authorization: `Basic ${Buffer.from(`user:${KEY}`).toString('base64')}` } },
    { headers: bearer('') },
    { url: `/api/stats?apikey=${KEY.toUpperCase()}` },
    { url: `/api/stats?apikey=${KEY}&apikey=${KEY}` },
    { url: '/api/stats?apikey=' },
    { headers: { cookie: `${AUTH_COOKIE_NAME}=nope` } },
  ];
  for (const [i, w] of wrong.entries()) {
    // Each from an address of its own: this test is not about the attempt limit.
    const res = await send(app, w.url ?? '/api/stats', { headers: w.headers ?? {}, ip: `198.51.100.${i + 1}` });
    t.is(res.status, 401, JSON.stringify(w).slice(0, 80));
    t.is(res.body.error.code, 'ERR_UNAUTHORIZED');
    t.is(res.headers['www-authenticate'], 'Bearer realm="dhtscope", error="invalid_token"');
  }
});

test('the right key opens every route: by Bearer header, by ?apikey= and by the cookie', async (t) => {
  const app = await keyedServer(t);
  for (const url of ROUTES) {
    const expected = url === '/no/such/path' ? 404 : 200;
    t.is((await send(app, url, { headers: bearer(KEY) })).status, expected, `Bearer ${url}`);
    t.is((await send(app, url, { headers: { authorization: `bearer   ${KEY}` } })).status, expected, `bearer (any case) ${url}`);
    if (url !== '/') t.is((await send(app, `${url}?apikey=${encodeURIComponent(KEY)}`)).status, expected, `?apikey= ${url}`);
    t.is((await send(app, url, { headers: { cookie: `other=1; ${AUTH_COOKIE_NAME}=${encodeURIComponent(KEY)}` } })).status, expected, `cookie ${url}`);
  }
  const stats = await send(app, '/api/stats', { headers: bearer(KEY) });
  t.is(typeof stats.body.infohashes, 'number', 'the API answers as usual');
  // Torznab clients put the key among other parameters: they are not redirected.
  const plugin = await send(app, `/plugin/api?t=caps&apikey=${encodeURIComponent(KEY)}`);
  t.is(plugin.status, 200);
  t.is(plugin.headers['set-cookie'], undefined);
});

test('the dashboard opened with ?apikey= answers 303 to the URL without it, setting an HttpOnly SameSite=Strict cookie', async (t) => {
  const app = await keyedServer(t);
  for (const method of ['GET', 'HEAD'] as const) {
    const res = await send(app, `/?view=x&apikey=${encodeURIComponent(KEY)}&b=2`, { method });
    t.is(res.status, 303, method);
    t.is(res.headers['location'], '/?view=x&b=2');
    t.is(res.headers['cache-control'], 'no-store');
    const cookie = String(res.headers['set-cookie']);
    t.regex(cookie, new RegExp(`^${AUTH_COOKIE_NAME}=${encodeURIComponent(KEY).replace(/[.~]/g, '\\$&')}; `));
    for (const attribute of ['Path=/', 'HttpOnly', 'SameSite=Strict', 'Max-Age=']) t.true(cookie.includes(attribute), `${attribute} in ${cookie}`);
    t.false(cookie.includes('Secure'), 'no Secure over plain HTTP (a browser would drop the cookie)');
    // What the browser sends next: the cookie opens the page.
    const page = await send(app, '/?view=x&b=2', { method, headers: { cookie: cookie.split(';')[0]! } });
    t.is(page.status, 200);
    t.regex(String(page.headers['content-type']), /^text\/html/);
  }
  t.is((await send(app, `/?apikey=${encodeURIComponent(KEY)}`)).headers['location'], '/');
  // A wrong ?apikey= on the page sets nothing.
  const wrong = await send(app, '/?apikey=wrong');
  t.is(wrong.status, 401);
  t.is(wrong.headers['set-cookie'], undefined);
});

test('a wrong cookie is cleared, so a tab left open after the key changed stops sending it', async (t) => {
  const app = await keyedServer(t);
  const res = await send(app, '/api/stats', { headers: { cookie: `${AUTH_COOKIE_NAME}=old-key` } });
  t.is(res.status, 401);
  t.regex(String(res.headers['set-cookie']), new RegExp(`^${AUTH_COOKIE_NAME}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict$`));
  // A header key wins over a stale cookie and does not clear it.
  const both = await send(app, '/api/stats', { headers: { ...bearer(KEY), cookie: `${AUTH_COOKIE_NAME}=old-key` } });
  t.is(both.status, 200);
  t.is(both.headers['set-cookie'], undefined);
});

test(`after ${AUTH_MAX_FAILURES} wrong keys from one address it gets 429 with Retry-After, right key or not, until the block ends`, async (t) => {
  const clock = { now: NOW };
  const app = await keyedServer(t, clock);
  const attacker = '203.0.113.9';
  for (let i = 0; i < AUTH_MAX_FAILURES; i++) {
    clock.now += 1_000;
    t.is((await send(app, '/api/stats', { headers: bearer(`guess-${i}`), ip: attacker })).status, 401, `guess ${i}`);
  }
  const blocked = await send(app, '/api/stats', { headers: bearer(KEY), ip: attacker });
  t.is(blocked.status, 429, 'the right key is not even looked at');
  t.is(blocked.body.error.code, 'ERR_TOO_MANY_AUTH_FAILURES');
  t.is(blocked.headers['retry-after'], String(AUTH_BLOCK_MS / 1000));
  t.is((await send(app, '/metrics', { ip: attacker })).status, 429, 'every route, even without a key');
  t.is((await send(app, '/api/stats', { headers: bearer(KEY), ip: OTHER_IP })).status, 200, 'another address is not blocked');

  clock.now += AUTH_BLOCK_MS - 1_500;
  const later = await send(app, '/api/stats', { headers: bearer(KEY), ip: attacker });
  t.is(later.status, 429);
  t.is(later.headers['retry-after'], '2', 'Retry-After counts down, rounded up');
  clock.now += 1_500;
  t.is((await send(app, '/api/stats', { headers: bearer(KEY), ip: attacker })).status, 200, 'the block ends on time');
  // The count starts again from zero.
  for (let i = 0; i < AUTH_MAX_FAILURES - 1; i++) t.is((await send(app, '/api/stats', { headers: bearer('again'), ip: attacker })).status, 401);
  t.is((await send(app, '/api/stats', { headers: bearer(KEY), ip: attacker })).status, 200);
});

test('failures older than the window are forgotten; requests without any key never count', async (t) => {
  const clock = { now: NOW };
  const app = await keyedServer(t, clock);
  const ip = '203.0.113.20';
  for (let i = 0; i < AUTH_MAX_FAILURES - 1; i++) t.is((await send(app, '/api/stats', { headers: bearer('x'), ip })).status, 401);
  clock.now += 60_000;
  for (let i = 0; i < AUTH_MAX_FAILURES - 1; i++) t.is((await send(app, '/api/stats', { headers: bearer('x'), ip })).status, 401);
  for (let i = 0; i < 3 * AUTH_MAX_FAILURES; i++) t.is((await send(app, '/api/stats', { ip })).status, 401, 'no credential: 401, not counted');
  t.is((await send(app, '/api/stats', { headers: bearer(KEY), ip })).status, 200);
});

test('an IPv6 client is counted by its /64, an IPv4-mapped one as its IPv4 address', async (t) => {
  const app = await keyedServer(t);
  for (let i = 0; i < AUTH_MAX_FAILURES; i++) t.is((await send(app, '/api/stats', { headers: bearer('x'), ip: `2001:db8:1:2::${(i + 1).toString(16)}` })).status, 401);
  t.is((await send(app, '/api/stats', { headers: bearer(KEY), ip: '2001:db8:1:2:ffff::1' })).status, 429, 'same /64');
  t.is((await send(app, '/api/stats', { headers: bearer(KEY), ip: '2001:db8:1:3::1' })).status, 200, 'another /64');
  for (let i = 0; i < AUTH_MAX_FAILURES; i++) await send(app, '/api/stats', { headers: bearer('x'), ip: '::ffff:198.51.100.200' });
  t.is((await send(app, '/api/stats', { headers: bearer(KEY), ip: '198.51.100.200' })).status, 429);
});

test('the failure map holds at most its cap, forgetting the source that failed longest ago', (t) => {
  let now = 0;
  const attempts = new FailedAttempts(() => now, { maxFailures: 3, windowMs: 60_000, blockMs: 60_000, maxSources: 100 });
  for (let i = 0; i < 10_000; i++) {
    now++;
    attempts.fail(`source-${i}`);
    t.true(attempts.size <= 100);
  }
  t.is(attempts.size, 100);
  // Blocked: the newest source failing twice more.
  attempts.fail('source-9999');
  attempts.fail('source-9999');
  t.true(attempts.blockedFor('source-9999') > 0);
  // A source refreshed by a new failure outlives older ones.
  attempts.fail('source-9900');
  for (let i = 0; i < 99; i++) attempts.fail(`new-${i}`);
  t.is(attempts.size, 100);
  now += 1;
  attempts.fail('source-9900');
  attempts.fail('source-9900');
  t.true(attempts.blockedFor('source-9900') > 0, 'its earlier failure was remembered');
});

test('without apiKey nothing asks for a key (the loopback default)', async (t) => {
  const { app } = await setup(t);
  const res = await send(app, '/api/stats');
  t.is(res.status, 200);
  t.is(res.headers['www-authenticate'], undefined);
});

test('the API answers with data once authenticated (the index is read as usual)', async (t) => {
  const { c, keys, app: open, apply } = await setup(t);
  await apply(sampleBatch());
  const app = await createApiServer({ redis: c, keys, now: () => NOW, apiKey: KEY });
  t.teardown(() => app.close());
  for (const url of ['/api/infohashes?sort=recent', '/api/stats', '/api/nodes/census']) {
    const keyed = await send(app, url, { headers: bearer(KEY) });
    t.is(keyed.status, 200, url);
    t.deepEqual(keyed.body, (await send(open, url)).body, `${url}: the same body as a server without a key`);
  }
  t.is((await send(app, '/api/infohashes', { headers: bearer(KEY) })).body.items.length, 3);
});

test('a key that cannot travel in a header, a URL and a cookie is refused at createApiServer', async (t) => {
  t.is(apiKeyProblem(KEY), undefined);
  t.regex(apiKeyProblem('') ?? '', /empty/);
  t.regex(apiKeyProblem('has space') ?? '', /visible ASCII/);
  t.regex(apiKeyProblem('clé') ?? '', /visible ASCII/);
  t.regex(apiKeyProblem('a'.repeat(API_KEY_MAX_LENGTH + 1)) ?? '', /longer/);
  t.is(apiKeyProblem('a'.repeat(API_KEY_MAX_LENGTH)), undefined);
  const { c, keys } = await redis.freshIndex(t);
  await t.throwsAsync(createApiServer({ redis: c, keys, apiKey: 'two words' }), { instanceOf: RangeError, message: /unusable API key/ });
});

test('withoutApiKey drops every apikey parameter and keeps the rest in order', (t) => {
  t.is(withoutApiKey('/'), '/');
  t.is(withoutApiKey('/?apikey=a'), '/');
  t.is(withoutApiKey('/?a=1&apikey=x&b=2&apikey=y'), '/?a=1&b=2');
  t.is(withoutApiKey('/?apikeys=1&apikey'), '/?apikeys=1');
  t.is(withoutApiKey('/?&&a'), '/?a');
});
