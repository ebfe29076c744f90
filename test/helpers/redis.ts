import type { TestFn } from 'ava';
import { Redis, type RedisOptions } from 'ioredis';
import { IndexKeys, SCHEMA_4_VERSION } from '../../indexer/keys.js';
import { MigrationRunner, ensureSchema } from '../../migrations/runner.js';
import { randomPrefix, type RedisServerHandle, type RedisServerOptions, startRedisServer } from '../../testkit/redis-server.js';

// A real redis-server for tests and benchmarks: testkit/redis-server.ts (benchmarks may not import test/).
export { REDIS_SERVER, type RedisServerHandle, type RedisServerOptions, freePort, randomPrefix, startRedisServer } from '../../testkit/redis-server.js';

export interface RedisFixture {
  /** The file's server (available from inside tests). */
  readonly server: RedisServerHandle;
  /** A standalone ioredis client to the server, quit when the test ends. */
  client(t: { teardown(fn: () => void | Promise<void>): void }, extra?: RedisOptions): Redis;
  /**
   * A client (as `client`) and an index of its own (a random prefix) migrated to the current
   * schema: the empty index most tests start from.
   */
  freshIndex(t: { teardown(fn: () => void | Promise<void>): void }, extra?: RedisOptions): Promise<{ c: Redis; keys: IndexKeys }>;
  /**
   * A fresh index kept at schema 4, for the tests of schema 4's writers and readers (kept for
   * the fixture and for the tests that compare the two schemas).
   */
  freshSchema4Index(t: { teardown(fn: () => void | Promise<void>): void }, extra?: RedisOptions): Promise<{ c: Redis; keys: IndexKeys }>;
}

/** One server per test file: started in test.before, stopped in test.after.always. */
export function useRedisServer(test: TestFn, options: RedisServerOptions = {}): RedisFixture {
  let server: RedisServerHandle | null = null;
  test.before(async () => {
    server = await startRedisServer(options);
  });
  test.after.always(async () => {
    await server?.stop();
  });
  return {
    get server(): RedisServerHandle {
      if (server === null) throw new Error('redis server not started (use inside a test)');
      return server;
    },
    client(t, extra = {}) {
      const s = this.server;
      const c = new Redis({ host: s.host, port: s.port, ...extra });
      c.on('error', () => {});
      t.teardown(async () => {
        c.disconnect();
      });
      return c;
    },
    async freshIndex(t, extra = {}) {
      const c = this.client(t, extra);
      const keys = new IndexKeys(randomPrefix());
      await ensureSchema(c, keys, { migrate: true });
      return { c, keys };
    },
    async freshSchema4Index(t, extra = {}) {
      const c = this.client(t, extra);
      const keys = new IndexKeys(randomPrefix());
      await new MigrationRunner(c, keys).migrate({ to: SCHEMA_4_VERSION });
      return { c, keys };
    },
  };
}

/**
 * Everything under `{<prefix>}` as plain data (type, content, whether it has a TTL), for
 * comparing states. Uses SCAN: test-only, never what the index code does.
 */
export async function snapshot(c: Redis, prefix: string): Promise<Record<string, unknown>> {
  const names: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await c.scan(cursor, 'MATCH', `{${prefix}}*`, 'COUNT', 1000);
    cursor = next;
    names.push(...batch);
  } while (cursor !== '0');
  names.sort();
  const out: Record<string, unknown> = {};
  for (const k of names) {
    const type = await c.type(k);
    const ttl = (await c.pttl(k)) >= 0;
    let value: unknown;
    if (type === 'hash') value = Object.fromEntries(Object.entries(await c.hgetall(k)).sort(([a], [b]) => a.localeCompare(b)));
    else if (type === 'zset') value = await c.zrange(k, 0, '-1', 'WITHSCORES');
    else if (type === 'set') value = (await c.smembers(k)).sort();
    else if (type === 'list') value = await c.lrange(k, 0, -1);
    else if (type === 'string') {
      const raw = await c.getBuffer(k);
      // A HyperLogLog is a string starting with "HYLL": compare its estimate, not its cache bytes.
      value = raw !== null && raw.subarray(0, 4).toString('latin1') === 'HYLL' ? { hll: await c.pfcount(k) } : raw?.toString('latin1');
    } else value = `<${type}>`;
    out[k] = { type, ttl, value };
  }
  return out;
}
