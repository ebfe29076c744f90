/**
 * migrations/: the runner. A fresh database migrates to the latest version, `--to` and no way
 * down, two runners at once (one works, the other waits), the migration lock (renewed, lost,
 * busy), a database newer than this code, ensureSchema, unversioned data refused, and
 * `migrate --status`.
 */
import test from 'ava';
import { type Redis } from 'ioredis';
import { IndexKeys, SCHEMA_VERSION } from '../indexer/keys.js';
import { runMigrate } from '../migrations/command.js';
import { MigrationLockBusyError, MigrationLockLostError, MigrationTargetError, SchemaOutdatedError, SchemaTooNewError } from '../migrations/errors.js';
import { MIGRATIONS } from '../migrations/index.js';
import { ensureSchema, formatStatus, MigrationRunner } from '../migrations/runner.js';
import { type Migration } from '../migrations/types.js';
import { snapshot } from './helpers/redis.js';
import { IH, useMigrationRedis } from './helpers/migrations.js';
import { pollUntil, sleep } from './helpers/wait.js';

const { redis, fresh } = useMigrationRedis(test);

/** Resolves once someone holds the migration lock. */
async function lockTaken(c: Redis, keys: IndexKeys): Promise<void> {
  await pollUntil(async () => (await c.exists(keys.schemaLock)) === 1, 'someone to take the migration lock', 5_000, 5);
}

test('a fresh database migrates to the latest version; a re-run is a no-op', async (t) => {
  const { c, keys } = fresh(t);
  const now = 1_790_000_000_000;
  const runner = new MigrationRunner(c, keys, { now: () => now });
  t.is(runner.latest, SCHEMA_VERSION);
  t.is(runner.latest, MIGRATIONS.length);
  t.is(await runner.currentVersion(), 0);
  t.deepEqual(await runner.migrate(), { from: 0, to: SCHEMA_VERSION, applied: [1, 2, 3, 4, 5, 6] });
  t.is(await c.get(keys.schemaVersion), String(SCHEMA_VERSION));
  t.deepEqual(await c.hgetall(keys.meta), { prefix: keys.prefix, created_at: String(now), metadata_since: String(now) });
  t.is(await c.exists(keys.schemaLock), 0, 'the lock is released');
  const state = await snapshot(c, keys.prefix);

  t.deepEqual(await runner.migrate(), { from: 6, to: 6, applied: [] });
  t.deepEqual(await new MigrationRunner(c, keys).migrate({ to: 6 }), { from: 6, to: 6, applied: [] });
  t.deepEqual(await snapshot(c, keys.prefix), state);
});

test('--to N stops at N; the rest later; no way down', async (t) => {
  const { c, keys } = fresh(t);
  const runner = new MigrationRunner(c, keys);
  t.deepEqual(await runner.migrate({ to: 1 }), { from: 0, to: 1, applied: [1] });
  t.is(await runner.currentVersion(), 1);
  await t.throwsAsync(runner.migrate({ to: 7 }), { instanceOf: MigrationTargetError, code: 'ERR_MIGRATION_TARGET' });
  t.deepEqual(await runner.migrate({ to: 5 }), { from: 1, to: 5, applied: [2, 3, 4, 5] });
  t.deepEqual(await runner.migrate(), { from: 5, to: 6, applied: [6] });
  await t.throwsAsync(runner.migrate({ to: 1 }), { instanceOf: MigrationTargetError, message: /not supported/ });
});

test('two runners at once: one does the work, the other waits and finds nothing to do', async (t) => {
  const { c, keys } = fresh(t);
  const c2 = redis.client(t);
  const calls: number[] = [];
  const slow = (version: number, name: string): Migration => ({
    version,
    name,
    description: name,
    async up(ctx) {
      calls.push(version);
      await sleep(150); // pacing: a step long enough for the other runner to find the lock held
      ctx.assertLock();
      await ctx.redis.hincrby(ctx.keys.meta, `ran${version}`, 1);
    },
  });
  const migrations = [slow(1, 'one'), slow(2, 'two')];
  const logs: string[] = [];
  const a = new MigrationRunner(c, keys, { migrations, pollMs: 20, onLog: (l) => logs.push(l) });
  const b = new MigrationRunner(c2, keys, { migrations, pollMs: 20, onLog: (l) => logs.push(l) });
  const results = await Promise.all([a.migrate(), b.migrate()]);
  // Whichever took the lock first did the work; the other waited, then found nothing to do.
  t.deepEqual(
    results.map((r) => r.applied).sort((x, y) => x.length - y.length),
    [[], [1, 2]],
  );
  t.true(results.every((r) => r.to === 2));
  t.deepEqual(calls, [1, 2], 'each migration ran once');
  t.deepEqual(await c.hgetall(keys.meta), { ran1: '1', ran2: '1' });
  t.true(logs.some((l) => /waiting for another process's migration lock/.test(l)));

  // Not allowed to wait: the second reports the lock.
  const { keys: keys2 } = fresh(t);
  const a2 = new MigrationRunner(c, keys2, { migrations });
  const b2 = new MigrationRunner(c2, keys2, { migrations, waitMs: 0 });
  const first = a2.migrate();
  await lockTaken(c, keys2);
  await t.throwsAsync(b2.migrate(), { instanceOf: MigrationLockBusyError, code: 'ERR_MIGRATION_LOCKED' });
  const status = await b2.status();
  t.true(status.lock.held);
  t.regex(formatStatus(status), /locked: another process is migrating/);
  t.deepEqual((await first).applied, [1, 2]);
  t.is(await new MigrationRunner(c, keys2, { migrations }).currentVersion(), 2);
});

test('the lock is renewed while a step runs longer than its TTL', async (t) => {
  const { c, keys } = fresh(t);
  const migrations: Migration[] = [
    {
      version: 1,
      name: 'long',
      description: 'outlives the lock TTL',
      async up(ctx) {
        await sleep(600); // pacing: a step four times as long as the lock's TTL
        ctx.assertLock();
      },
    },
  ];
  const running = new MigrationRunner(c, keys, { migrations, lockTtlMs: 150 }).migrate();
  await lockTaken(c, keys);
  await sleep(400); // pacing: more than twice the TTL passes, so only renewals can keep the lock
  t.true((await c.pttl(keys.schemaLock)) > 0, 'still held after more than twice its TTL');
  await t.throwsAsync(new MigrationRunner(redis.client(t), keys, { migrations, waitMs: 0 }).migrate(), { instanceOf: MigrationLockBusyError });
  t.deepEqual((await running).applied, [1]);
  t.is(await c.exists(keys.schemaLock), 0);
});

test('a migration step that loses its lock cannot record its version', async (t) => {
  const { c, keys } = fresh(t);
  const migrations: Migration[] = [
    {
      version: 1,
      name: 'hijacked',
      description: 'loses the lock half-way',
      async up(ctx) {
        await ctx.redis.set(ctx.keys.schemaLock, 'someone-else', 'PX', 10_000);
      },
    },
  ];
  await t.throwsAsync(new MigrationRunner(c, keys, { migrations }).migrate(), { instanceOf: MigrationLockLostError, code: 'ERR_MIGRATION_LOCK_LOST' });
  t.is(await c.get(keys.schemaVersion), null);
  t.is(await c.get(keys.schemaLock), 'someone-else', "another holder's lock is not released");
});

test('a database at version 99 is refused with a typed error', async (t) => {
  const { c, keys } = fresh(t);
  await c.set(keys.schemaVersion, '99');
  const runner = new MigrationRunner(c, keys);
  await t.throwsAsync(runner.migrate(), { instanceOf: SchemaTooNewError, code: 'ERR_SCHEMA_TOO_NEW', message: new RegExp(`version 99, newer than this dhtscope knows \\(${SCHEMA_VERSION}\\)`) });
  await t.throwsAsync(runner.assertCompatible(), { instanceOf: SchemaTooNewError });
  await t.throwsAsync(ensureSchema(c, keys, { migrate: true }), { instanceOf: SchemaTooNewError });
  const err = await t.throwsAsync(runner.migrate({ to: 2 }), { instanceOf: SchemaTooNewError });
  t.like(err, { found: 99, known: SCHEMA_VERSION });
  const status = await runner.status();
  t.true(status.tooNew);
  t.regex(formatStatus(status), /newer than this dhtscope: upgrade/);
  const out: string[] = [];
  t.is(await runMigrate(['--status'], { redis: c, keys, out: (s) => out.push(s) }), 1);
  t.is(await c.get(keys.schemaVersion), '99', 'untouched');
});

test('ensureSchema: refuses an outdated schema unless allowed to migrate', async (t) => {
  const { c, keys } = fresh(t);
  await t.throwsAsync(ensureSchema(c, keys, { migrate: false }), { instanceOf: SchemaOutdatedError, code: 'ERR_SCHEMA_OUTDATED', message: /run "dhtscope migrate"/ });
  t.is(await ensureSchema(c, keys, { migrate: true }), SCHEMA_VERSION);
  t.is(await ensureSchema(c, keys, { migrate: false }), SCHEMA_VERSION);
});

test('the initial migration refuses to adopt index data that has no version', async (t) => {
  const { c, keys } = fresh(t);
  await c.zadd(keys.infohashes, 1, IH(1));
  await t.throwsAsync(new MigrationRunner(c, keys).migrate(), { message: /exist but no schema version/ });
  t.is(await c.get(keys.schemaVersion), null);
  t.is(await c.exists(keys.schemaLock), 0);
});

test('status: data for `migrate --status`, as JSON and text', async (t) => {
  const { c, keys } = fresh(t);
  const at = Date.UTC(2026, 10, 24, 12, 0, 0);
  const runner = new MigrationRunner(c, keys, { now: () => at });
  const before = await runner.status();
  t.like(before, { prefix: keys.prefix, current: 0, latest: 6, tooNew: false, pending: [1, 2, 3, 4, 5, 6], lock: { held: false } });
  t.deepEqual(
    before.migrations.map((m) => [m.version, m.name, m.state]),
    [
      [1, 'initial', 'pending'],
      [2, 'peers-zset', 'pending'],
      [3, 'metadata', 'pending'],
      [4, 'registry-last-seen', 'pending'],
      [5, 'sharded-layout', 'pending'],
      [6, 'families-and-scrapes', 'pending'],
    ],
  );
  t.regex(formatStatus(before), /run "dhtscope migrate" to apply 1, 2, 3, 4, 5, 6/);

  const out: string[] = [];
  const io = { redis: c, keys, out: (s: string) => out.push(s), runner: { now: () => at } };
  t.is(await runMigrate(['--to', '1'], io), 0);
  t.is(out.pop(), `schema of prefix "${keys.prefix}" migrated from 0 to 1 (applied 1)`);
  t.is(await runMigrate(['--status', '--json'], io), 0);
  const mid = JSON.parse(out.pop()!) as Awaited<ReturnType<MigrationRunner['status']>>;
  t.like(mid, { current: 1, pending: [2, 3, 4, 5, 6] });
  t.like(mid.migrations[0], { version: 1, state: 'applied', appliedAt: at });
  t.is(await runMigrate(['--json'], io), 0);
  t.deepEqual(JSON.parse(out.pop()!), { from: 1, to: 6, applied: [2, 3, 4, 5, 6], moved: 0 });
  t.is(await runMigrate([], io), 0);
  t.is(out.pop(), `schema of prefix "${keys.prefix}" is at version ${SCHEMA_VERSION}: nothing to do`);
  t.is(await runMigrate(['--status'], io), 0);
  const text = out.pop()!;
  t.regex(text, new RegExp(`^schema of prefix "${keys.prefix}": version ${SCHEMA_VERSION}, latest known ${SCHEMA_VERSION}`));
  t.regex(text, /001 initial\s+applied 2026-11-24T12:00:00.000Z \(\d+ ms\)/);
  t.regex(text, /002 peers-zset\s+applied/);
  t.regex(text, /003 metadata\s+applied/);
  t.regex(text, /004 registry-last-seen\s+applied/);
  t.regex(text, /005 sharded-layout\s+applied/);
  t.regex(text, /006 families-and-scrapes\s+applied/);
  await t.throwsAsync(runMigrate(['--to', 'x'], io), { code: 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' });
  await t.throwsAsync(runMigrate(['--bogus'], io), { code: 'ERR_PARSE_ARGS_UNKNOWN_OPTION' });
});
