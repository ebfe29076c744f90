import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { Cluster } from 'ioredis';
import { connectRedis, type ConnectOptions, parseRedisUrl, probeRedis, redact } from '../redis/connection.js';
import { REDIS_NOT_INSTALLED_MESSAGE, RedisConnectError, RedisServerNotInstalledError } from '../redis/errors.js';
import { ROOT } from './helpers/cli.js';
import { freePort, startRedisServer, useRedisServer } from './helpers/redis.js';
import { pollUntil, sleep } from './helpers/wait.js';

const redis = useRedisServer(test);

function tempDir(t: ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'dhtscope-conn-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Options that never look at the user's 127.0.0.1:6379 nor inherit a REDIS_URL. */
function opts(t: ExecutionContext, over: Partial<ConnectOptions> = {}): ConnectOptions {
  return { dataDir: tempDir(t), env: { PATH: process.env['PATH'] ?? '' }, defaultAddress: null, ...over };
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test('parseRedisUrl: standalone, cluster by scheme or by a host list; redact', (t) => {
  t.deepEqual(parseRedisUrl('redis://127.0.0.1:6380/2'), { kind: 'standalone', url: 'redis://127.0.0.1:6380/2' });
  t.deepEqual(parseRedisUrl('rediss://user:pw@example.net:6380'), { kind: 'standalone', url: 'rediss://user:pw@example.net:6380' });
  t.deepEqual(parseRedisUrl('/run/redis.sock'), { kind: 'standalone', url: '/run/redis.sock' });
  t.deepEqual(parseRedisUrl('redis+cluster://10.0.0.1:7000,10.0.0.2:7001'), {
    kind: 'cluster',
    nodes: [
      { host: '10.0.0.1', port: 7000 },
      { host: '10.0.0.2', port: 7001 },
    ],
    tls: false,
  });
  t.deepEqual(parseRedisUrl('rediss+cluster://:s3cr%40t@[::1]:7000'), { kind: 'cluster', nodes: [{ host: '::1', port: 7000 }], tls: true, password: 's3cr@t' });
  t.deepEqual(parseRedisUrl('redis://default:pw@a:7000,b'), {
    kind: 'cluster',
    nodes: [
      { host: 'a', port: 7000 },
      { host: 'b', port: 6379 },
    ],
    tls: false,
    username: 'default',
    password: 'pw',
  });
  for (const bad of ['http://x', 'redis+cluster://', 'redis+cluster://a:7000/3', 'redis+cluster://a:99999']) {
    t.throws(() => parseRedisUrl(bad), { instanceOf: RedisConnectError, code: 'ERR_REDIS_BAD_URL' }, bad);
  }
  t.is(redact('redis://:hunter2@127.0.0.1:1234'), 'redis://:***@127.0.0.1:1234');
  t.is(redact('redis://u:hunter2@h:1'), 'redis://u:***@h:1');
  t.is(redact('redis://h:1'), 'redis://h:1');
});

test('URL mode: REDIS_URL (or the url option) is used as is', async (t) => {
  const s = redis.server;
  const conn = await connectRedis(opts(t, { env: { REDIS_URL: s.url } }));
  t.is(conn.mode, 'url');
  t.is(conn.embedded, null);
  t.is(await conn.client.ping(), 'PONG');
  const extra = conn.newClient({ maxRetriesPerRequest: null });
  t.is(await extra.ping(), 'PONG');
  await conn.close();
  t.is(conn.client.status, 'end');
  t.is(extra.status, 'end');

  const byOption = await connectRedis(opts(t, { url: s.url, env: { REDIS_URL: 'redis://127.0.0.1:1' } }));
  t.is(byOption.description, s.url);
  await byOption.close();
});

test('URL mode: an unreachable server is a one-line typed error, no retry loop left behind', async (t) => {
  const port = await freePort();
  const err = await t.throwsAsync(connectRedis(opts(t, { url: `redis://:pw@127.0.0.1:${port}`, connectTimeoutMs: 400 })), {
    instanceOf: RedisConnectError,
    code: 'ERR_REDIS_UNREACHABLE',
  });
  t.regex(err.message, new RegExp(`^cannot reach Redis at redis://:\\*\\*\\*@127\\.0\\.0\\.1:${port} within 400 ms`));
  t.false(err.message.includes('\n'));
});

test('no URL: a Redis answering on the default address is used ("local")', async (t) => {
  const s = redis.server;
  const conn = await connectRedis(opts(t, { defaultAddress: { host: s.host, port: s.port } }));
  t.teardown(() => conn.close());
  t.is(conn.mode, 'local');
  t.is(conn.url, `redis://127.0.0.1:${s.port}`);
  t.is(await conn.client.ping(), 'PONG');
});

test('no URL: a Redis on the default address that wants a password is reported, not bypassed', async (t) => {
  const s = await startRedisServer({ password: 'secret' });
  t.teardown(() => s.stop());
  await t.throwsAsync(connectRedis(opts(t, { defaultAddress: { host: s.host, port: s.port } })), {
    code: 'ERR_REDIS_AUTH_REQUIRED',
    message: `the Redis on 127.0.0.1:${s.port} wants a password: set REDIS_URL=redis://:PASSWORD@127.0.0.1:${s.port}`,
  });
});

test('redis+cluster:// connects through ioredis Cluster', async (t) => {
  const s = await startRedisServer({ cluster: true });
  t.teardown(() => s.stop());
  const conn = await connectRedis(opts(t, { url: s.url }));
  t.teardown(() => conn.close());
  t.true(conn.client instanceof Cluster);
  await conn.client.set('{x}:a', '1');
  t.is(await conn.client.get('{x}:a'), '1');
});

test('embedded: starts redis-server with AOF under <dataDir>/redis, stops it on close, data survives a restart', async (t) => {
  const o = opts(t, { defaultAddress: { host: '127.0.0.1', port: await freePort() } }); // nothing answers there
  const logs: string[] = [];
  o.onLog = (l) => logs.push(l);
  const conn = await connectRedis(o);
  t.teardown(() => conn.close());
  t.is(conn.mode, 'embedded');
  const emb = conn.embedded!;
  t.not(emb.port, 6379);
  t.is(emb.dir, join(o.dataDir, 'redis'));
  t.true(alive(emb.pid));
  t.regex(conn.url, /^redis:\/\/:[0-9a-f]{48}@127\.0\.0\.1:\d+$/);
  t.notRegex(conn.description, /[0-9a-f]{48}/, 'the description hides the password');
  t.true(logs.some((l) => l.startsWith('embedded redis-server started')));

  // Private: AOF on, config (with the password) readable only by us, password required.
  t.deepEqual(await conn.client.config('GET', 'appendonly'), ['appendonly', 'yes']);
  t.is(statSync(join(emb.dir, 'redis.conf')).mode & 0o777, 0o600);
  t.is(await probeRedis('127.0.0.1', emb.port), 'auth');
  t.like(JSON.parse(readFileSync(join(emb.dir, 'embedded.json'), 'utf8')), { ownerPid: process.pid, redisPid: emb.pid, port: emb.port });

  // A second server on the same data directory is refused while we own it (dhtscope run)...
  await t.throwsAsync(connectRedis({ ...o, onLog: () => {}, attachToRunning: false }), { code: 'ERR_REDIS_EMBEDDED_BUSY', message: /belongs to running process/ });
  // ...while other commands (query, migrate, workers) attach to it, and leave it running.
  await conn.client.set('shared', 'yes');
  const attached = await connectRedis({ ...o, onLog: () => {} });
  t.is(attached.mode, 'attached');
  t.is(attached.embedded, null);
  t.is(await attached.client.get('shared'), 'yes');
  await attached.close();
  t.true(alive(emb.pid), 'closing the attached connection does not stop the owner\'s server');
  t.is(await conn.client.get('shared'), 'yes');

  await conn.client.set('persisted', 'yes');
  await conn.client.rpush('list', 'a', 'b', 'c');
  await conn.close();
  t.false(alive(emb.pid), 'redis-server stopped');
  t.false(existsSync(join(emb.dir, 'embedded.json')));
  t.true(existsSync(join(emb.dir, 'appendonlydir')));

  const again = await connectRedis(o);
  t.teardown(() => again.close());
  t.is(again.mode, 'embedded');
  t.is(await again.client.get('persisted'), 'yes');
  t.deepEqual(await again.client.lrange('list', 0, -1), ['a', 'b', 'c']);
});

test('embedded: a server orphaned by a dead owner is shut down (AOF flushed) and replaced', async (t) => {
  const o = opts(t);
  const first = await connectRedis(o);
  t.teardown(() => first.embedded!.stop());
  await first.client.set('k', 'v');
  // Pretend the owner died: record a pid that no longer exists.
  const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
  const stateFile = join(first.embedded!.dir, 'embedded.json');
  writeFileSync(stateFile, JSON.stringify({ ...JSON.parse(readFileSync(stateFile, 'utf8')), ownerPid: dead }));
  first.client.disconnect();

  const logs: string[] = [];
  const second = await connectRedis({ ...o, onLog: (l) => logs.push(l) });
  t.teardown(() => second.close());
  t.true(logs.some((l) => l.startsWith('stopping an orphaned embedded redis-server')), logs.join('\n'));
  t.false(alive(first.embedded!.pid));
  t.not(second.embedded!.pid, first.embedded!.pid);
  t.is(await second.client.get('k'), 'v');
  await first.embedded!.stop(); // already gone: harmless, and the successor's record stays
  t.like(JSON.parse(readFileSync(stateFile, 'utf8')), { redisPid: second.embedded!.pid });
});

test('embedded: when its owner is SIGKILLed, redis-server stops by itself, data flushed', async (t) => {
  const dataDir = tempDir(t);
  const script = `
    import { connectRedis } from './redis/connection.ts';
    const c = await connectRedis({ dataDir: process.argv[1], defaultAddress: null, env: { PATH: process.env.PATH } });
    await c.client.set('crash', 'survived');
    process.stdout.write(JSON.stringify({ pid: c.embedded.pid }) + '\\n');
    setInterval(() => {}, 1000);`;
  const owner = spawn(process.execPath, ['--import', './scripts/ts-node-register.mjs', '--input-type=module', '-e', script, dataDir], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => void owner.kill('SIGKILL'));
  const line = await new Promise<string>((resolve, reject) => {
    let buf = '';
    owner.stdout.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      if (buf.includes('\n')) resolve(buf.split('\n')[0]!);
    });
    owner.once('exit', (code) => reject(new Error(`owner exited (${code}) before starting Redis`)));
  });
  const { pid } = JSON.parse(line) as { pid: number };
  t.true(alive(pid));
  owner.kill('SIGKILL');
  await pollUntil(() => !alive(pid), 'redis-server to go down with its owner', 5_000);
  t.false(alive(pid), 'redis-server went down with its owner');
  const again = await connectRedis({ dataDir, env: { PATH: process.env['PATH'] ?? '' }, defaultAddress: null });
  t.teardown(() => again.close());
  t.is(await again.client.get('crash'), 'survived');
});

test('embedded: without redis-server, a one-line error says how to install it', async (t) => {
  const emptyPath = tempDir(t);
  const err = await t.throwsAsync(connectRedis(opts(t, { env: { PATH: emptyPath } })), {
    instanceOf: RedisServerNotInstalledError,
    code: 'ERR_REDIS_SERVER_NOT_INSTALLED',
  });
  t.is(err.message, 'redis-server is not installed: run "sudo apt-get install redis-server" or set REDIS_URL');
  t.is(err.message, REDIS_NOT_INSTALLED_MESSAGE);
  // An explicit path that does not exist says the same.
  await t.throwsAsync(connectRedis(opts(t, { redisServerPath: join(emptyPath, 'redis-server') })), { code: 'ERR_REDIS_SERVER_NOT_INSTALLED' });
});

test('test harness: restart keeps the port, clients reconnect', async (t) => {
  const s = await startRedisServer();
  t.teardown(() => s.stop());
  const conn = await connectRedis(opts(t, { url: s.url }));
  t.teardown(() => conn.close());
  const port = s.port;
  const pid = s.pid;
  await conn.client.set('k', '1');
  await s.restart();
  t.is(s.port, port);
  t.not(s.pid, pid);
  t.is(await conn.client.get('k'), null, 'no persistence in the harness');
  t.is(await conn.client.ping(), 'PONG');
});

test('close() returns while Redis is down: quit cannot hang on the offline queue', async (t) => {
  const s = await startRedisServer();
  t.teardown(() => s.stop());
  const conn = await connectRedis({ url: s.url, dataDir: mkdtempSync(join(tmpdir(), 'dhtscope-close-')), clientOptions: { maxRetriesPerRequest: null } });
  const extra = conn.newClient({ maxRetriesPerRequest: null });
  await extra.ping();
  await s.kill();
  await pollUntil(() => conn.client.status === 'reconnecting' && extra.status === 'reconnecting', 'both clients to notice the outage', 5_000);
  const closing = conn.close().then(() => 'closed' as const);
  const verdict = await Promise.race([closing, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 15_000))]);
  t.is(verdict, 'closed');
  // Closed for good: with the server back, neither client reconnects.
  await s.start();
  // Real time on purpose: ioredis retries on its own timers, which take no clock.
  await sleep(1500);
  t.not(conn.client.status, 'ready');
  t.not(extra.status, 'ready');
});
