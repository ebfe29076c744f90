import { randomBytes } from 'node:crypto';
import { DEFAULT_INDEX_CONFIG, type IndexConfig } from '../indexer/index-config.js';
import { type IndexKeys } from '../indexer/keys.js';
import { type RedisClient } from '../redis/client.js';
import { LuaScript } from '../redis/lua-script.js';
import { MigrationLockBusyError, MigrationLockLostError, MigrationTargetError, SchemaOutdatedError, SchemaTooNewError } from './errors.js';
import { checkMigrations, MIGRATIONS } from './index.js';
import { type Migration, type MigrationContext } from './types.js';
import { type MoveResult, moveSchema4 } from './schema4-mover.js';
import { ShardedIndexKeys } from '../indexer/sharded-keys.js';
import { sleep } from '../bep5/clock.js';

/**
 * Runs the numbered migrations (migrations/index.ts) against the index under one prefix.
 *
 * - The schema version is the STRING `schema:version` (absent = 0, a fresh database); each
 *   applied step is recorded in the HASH `schema:history` (version → {name, appliedAt, durationMs}).
 * - Steps run under a lock: `SET schema:lock <random token> NX PX <ttl>`, renewed every ttl/3
 *   while a step runs, released only by its holder (compare-and-delete in Lua). The version is
 *   bumped by a script that checks the token and the expected previous version, so a runner
 *   that lost its lock (paused longer than the TTL) cannot record anything.
 * - A second runner waits for the lock (up to `waitMs`, else MigrationLockBusyError), then
 *   re-reads the version: work done meanwhile is not repeated. A re-run is a no-op.
 * - A database at a version newer than the last migration known here is refused
 *   (SchemaTooNewError) by `migrate`, `assertCompatible` and `ensureSchema`.
 */

export interface RunnerOptions {
  migrations?: readonly Migration[];
  /** Lock TTL; renewed every third of it while migrating (default 30 s). */
  lockTtlMs?: number;
  /** How long `migrate` waits for another runner's lock (default 60 s; 0 = fail at once). */
  waitMs?: number;
  pollMs?: number;
  config?: Partial<IndexConfig>;
  now?: () => number;
  onLog?: (line: string) => void;
}

export interface MigrationInfo {
  version: number;
  name: string;
  description: string;
  state: 'applied' | 'pending';
  /** From schema:history (ms since the epoch), when recorded. */
  appliedAt?: number;
  durationMs?: number;
}

export interface MigrationStatus {
  prefix: string;
  current: number;
  latest: number;
  /** current > latest: this dhtscope is older than the data. */
  tooNew: boolean;
  pending: number[];
  migrations: MigrationInfo[];
  /** The migration lock, if someone holds it. */
  lock: { held: true; ttlMs: number } | { held: false };
}

export interface MigrateResult {
  from: number;
  to: number;
  /** Versions this call applied (empty: nothing to do, or another runner did it). */
  applied: number[];
}

/** KEYS: lock, version, history. ARGV: token, expected current, new version, history JSON. */
const renewScript = LuaScript.fromFile(new URL('./lua/lock-renew.lua', import.meta.url));
const releaseScript = LuaScript.fromFile(new URL('./lua/lock-release.lua', import.meta.url));
const bumpScript = LuaScript.fromFile(new URL('./lua/version-bump.lua', import.meta.url));


export async function readSchemaVersion(redis: RedisClient, keys: IndexKeys): Promise<number> {
  const v = await redis.get(keys.schemaVersion);
  if (v === null) return 0;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${keys.schemaVersion} holds ${JSON.stringify(v)}, not a version number`);
  return n;
}

export class MigrationRunner {
  readonly migrations: readonly Migration[];
  readonly latest: number;
  private readonly lockTtlMs: number;
  private readonly waitMs: number;
  private readonly pollMs: number;
  private readonly config: IndexConfig;
  private readonly now: () => number;
  private readonly log: (line: string) => void;

  constructor(
    readonly redis: RedisClient,
    readonly keys: IndexKeys,
    opts: RunnerOptions = {},
  ) {
    this.migrations = opts.migrations ?? MIGRATIONS;
    checkMigrations(this.migrations);
    this.latest = this.migrations.length;
    this.lockTtlMs = opts.lockTtlMs ?? 30_000;
    this.waitMs = opts.waitMs ?? 60_000;
    this.pollMs = opts.pollMs ?? 100;
    this.config = { ...DEFAULT_INDEX_CONFIG, ...opts.config };
    this.now = opts.now ?? Date.now;
    this.log = opts.onLog ?? (() => {});
  }

  currentVersion(): Promise<number> {
    return readSchemaVersion(this.redis, this.keys);
  }

  /** The version, after checking it is not newer than the migrations known here. */
  async assertCompatible(): Promise<number> {
    const v = await this.currentVersion();
    if (v > this.latest) throw new SchemaTooNewError(v, this.latest);
    return v;
  }

  async status(): Promise<MigrationStatus> {
    const [current, history, ttl] = await Promise.all([
      this.currentVersion(),
      this.redis.hgetall(this.keys.schemaHistory),
      this.redis.pttl(this.keys.schemaLock),
    ]);
    const migrations = this.migrations.map((m): MigrationInfo => {
      const info: MigrationInfo = { version: m.version, name: m.name, description: m.description, state: m.version <= current ? 'applied' : 'pending' };
      const h = history[String(m.version)];
      if (h !== undefined) {
        try {
          const rec = JSON.parse(h) as { appliedAt?: number; durationMs?: number };
          if (typeof rec.appliedAt === 'number') info.appliedAt = rec.appliedAt;
          if (typeof rec.durationMs === 'number') info.durationMs = rec.durationMs;
        } catch {
          // a damaged history entry only loses its times
        }
      }
      return info;
    });
    return {
      prefix: this.keys.prefix,
      current,
      latest: this.latest,
      tooNew: current > this.latest,
      pending: migrations.filter((m) => m.state === 'pending').map((m) => m.version),
      migrations,
      lock: ttl >= 0 || ttl === -1 ? { held: true, ttlMs: ttl } : { held: false },
    };
  }

  /** Migrates up to `to` (default: the latest). See the module comment. */
  async migrate(opts: { to?: number; waitMs?: number } = {}): Promise<MigrateResult> {
    const target = opts.to ?? this.latest;
    if (!Number.isSafeInteger(target) || target < 0 || target > this.latest) {
      throw new MigrationTargetError(`no migration ${target}: known versions are 1-${this.latest}`);
    }
    const first = await this.assertCompatible();
    if (target < first) throw new MigrationTargetError(`the schema is at version ${first}; going down to ${target} is not supported`);
    if (first === target) return { from: first, to: first, applied: [] };

    return this.withLock(opts.waitMs ?? this.waitMs, async (ctx) => {
      const applied: number[] = [];
      // Re-read under the lock: another runner may have done the work while we waited.
      const from = await this.assertCompatible();
      if (target < from) return { from, to: from, applied };
      for (const m of this.migrations.slice(from, target)) {
        const started = Date.now();
        this.log(`migrating ${this.keys.prefix} to ${m.version} (${m.name})`);
        await m.up(ctx);
        ctx.assertLock();
        const durationMs = Date.now() - started;
        const record = JSON.stringify({ name: m.name, appliedAt: this.now(), durationMs });
        const r = Number(await bumpScript.run(this.redis, [this.keys.schemaLock, this.keys.schemaVersion, this.keys.schemaHistory], [ctx.lock.token, String(m.version - 1), String(m.version), record]));
        if (r === -1) throw new MigrationLockLostError(this.keys.schemaLock);
        if (r === -2) throw new Error(`schema version changed under the lock while applying ${m.version}`);
        applied.push(m.version);
        this.log(`schema of ${this.keys.prefix} is now version ${m.version} (${durationMs} ms)`);
      }
      return { from, to: target, applied };
    });
  }

  /**
   * Moves what schema 4 still holds into schema 5's shards (migration 005's mover,
   * schema4-mover.ts), holding the migration lock; a no-op when nothing is left. Stops early on
   * `signal` (the next call resumes).
   */
  async moveSchema4Data(opts: { waitMs?: number; signal?: AbortSignal; onChunk?: (p: { moved: number; remaining: number }) => void } = {}): Promise<MoveResult> {
    if ((await this.redis.exists(this.keys.infohashes)) === 0) return { moved: 0, empty: 0, remaining: 0 };
    return this.withLock(opts.waitMs ?? this.waitMs, (ctx) =>
      moveSchema4(this.redis, {
        legacy: this.keys,
        keys: new ShardedIndexKeys(this.keys.prefix),
        lock: ctx.lock,
        assertLock: ctx.assertLock,
        config: this.config,
        now: this.now,
        ...(opts.signal === undefined ? {} : { signal: opts.signal }),
        ...(opts.onChunk === undefined ? {} : { onChunk: opts.onChunk }),
      }),
    );
  }

  /**
   * Runs `work` holding the migration lock (waiting up to `waitMs` for it), renewed every
   * third of its TTL; `ctx.assertLock()` throws once a renewal failed. Released at the end.
   */
  async withLock<T>(waitMs: number, work: (ctx: MigrationContext) => Promise<T>): Promise<T> {
    const token = randomBytes(16).toString('hex');
    await this.acquire(token, waitMs);
    let lost = false;
    const renew = setInterval(() => {
      renewScript.run(this.redis, [this.keys.schemaLock], [token, this.lockTtlMs]).then(
        (r) => {
          if (Number(r) !== 1) lost = true;
        },
        () => {
          // a transient error: the next renewal (or the fenced bump) decides
        },
      );
    }, Math.max(50, Math.floor(this.lockTtlMs / 3)));
    try {
      return await work({
        redis: this.redis,
        keys: this.keys,
        config: this.config,
        now: this.now,
        log: this.log,
        lock: { key: this.keys.schemaLock, token },
        assertLock: () => {
          if (lost) throw new MigrationLockLostError(this.keys.schemaLock);
        },
      });
    } finally {
      clearInterval(renew);
      await releaseScript.run(this.redis, [this.keys.schemaLock], [token]).catch(() => {});
    }
  }

  private async acquire(token: string, waitMs: number): Promise<void> {
    const deadline = Date.now() + waitMs;
    let logged = false;
    for (;;) {
      const ok = await this.redis.set(this.keys.schemaLock, token, 'PX', this.lockTtlMs, 'NX');
      if (ok === 'OK') return;
      if (Date.now() >= deadline) throw new MigrationLockBusyError(this.keys.schemaLock, waitMs);
      if (!logged) {
        this.log(`waiting for another process's migration lock (${this.keys.schemaLock})`);
        logged = true;
      }
      await sleep(Math.min(this.pollMs, Math.max(1, deadline - Date.now())));
    }
  }
}

/**
 * Start-up check for every process that reads or writes the index: refuses a newer schema;
 * brings an older one (or a fresh database) up to date when `migrate` is true, else refuses it.
 */
export async function ensureSchema(redis: RedisClient, keys: IndexKeys, opts: RunnerOptions & { migrate: boolean }): Promise<number> {
  const runner = new MigrationRunner(redis, keys, opts);
  const v = await runner.assertCompatible();
  if (v === runner.latest) return v;
  if (!opts.migrate) throw new SchemaOutdatedError(v, runner.latest);
  const r = await runner.migrate();
  return r.to;
}

/** `migrate --status` as text: one line per migration. */
export function formatStatus(s: MigrationStatus): string {
  const lines = [`schema of prefix "${s.prefix}": version ${s.current}, latest known ${s.latest}`];
  if (s.tooNew) lines.push(`  the database is newer than this dhtscope: upgrade dhtscope`);
  for (const m of s.migrations) {
    const when = m.appliedAt !== undefined ? ` ${new Date(m.appliedAt).toISOString()}${m.durationMs !== undefined ? ` (${m.durationMs} ms)` : ''}` : '';
    lines.push(`  ${String(m.version).padStart(3, '0')} ${m.name.padEnd(18)} ${m.state}${when}  ${m.description}`);
  }
  if (s.lock.held) lines.push(`  locked: another process is migrating (lock expires in ${s.lock.ttlMs} ms)`);
  if (s.pending.length > 0 && !s.tooNew) lines.push(`  run "dhtscope migrate" to apply ${s.pending.join(', ')}`);
  return lines.join('\n');
}
