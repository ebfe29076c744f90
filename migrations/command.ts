import { parseArgs } from 'node:util';
import { type IndexKeys } from '../indexer/keys.js';
import { type RedisClient } from '../redis/client.js';
import { formatStatus, MigrationRunner, type RunnerOptions } from './runner.js';

/**
 * The body of `dhtscope migrate [--status] [--to N] [--json] [--no-wait]`, for cli/ to wire up
 * once it has a connection (redis/connection.ts) and the keys (prefix) to use.
 * Resolves to the exit code; typed runner errors (SchemaTooNewError, MigrationLockBusyError, …)
 * propagate for the CLI to print as one line.
 */
export const MIGRATE_HELP = `Usage: dhtscope migrate [--status] [--to N] [--json] [--no-wait]

Brings the Redis index's schema up to date (or to version N). Safe to run at any time: a
re-run does nothing, and two at once take turns (one waits for the other's lock). From
version 5 on it also moves what the schema-4 layout still holds into the sharded one (a
running \`dhtscope run\` does the same in the background).

  --status    show the schema version and each migration's state; change nothing
  --to N      migrate up to version N only (no down migrations)
  --json      print the status or the result as JSON
  --no-wait   fail at once if another process is migrating, instead of waiting up to 60 s`;

export async function runMigrate(
  argv: string[],
  ctx: { redis: RedisClient; keys: IndexKeys; out: (text: string) => void; runner?: RunnerOptions },
): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { status: { type: 'boolean' }, to: { type: 'string' }, json: { type: 'boolean' }, 'no-wait': { type: 'boolean' } },
    strict: true,
    allowPositionals: false,
  });
  const runner = new MigrationRunner(ctx.redis, ctx.keys, ctx.runner);
  if (values.status) {
    const s = await runner.status();
    ctx.out(values.json ? JSON.stringify(s) : formatStatus(s));
    return s.tooNew ? 1 : 0;
  }
  let to: number | undefined;
  if (values.to !== undefined) {
    if (!/^\d{1,6}$/.test(values.to)) throw Object.assign(new Error(`--to wants a version number, got "${values.to}"`), { code: 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' });
    to = Number(values.to);
  }
  const opts: { to?: number; waitMs?: number } = {};
  if (to !== undefined) opts.to = to;
  if (values['no-wait']) opts.waitMs = 0;
  const r = await runner.migrate(opts);
  // Migration 005 switches the layout at once; the data written before it moves afterwards,
  // online (schema4-mover.ts). `migrate` finishes that move before it returns.
  const moved = r.to >= 5 ? (await runner.moveSchema4Data({ ...(values['no-wait'] ? { waitMs: 0 } : {}) })).moved : 0;
  if (values.json) ctx.out(JSON.stringify({ ...r, moved }));
  else {
    if (r.applied.length === 0) ctx.out(`schema of prefix "${ctx.keys.prefix}" is at version ${r.to}: nothing to do`);
    else ctx.out(`schema of prefix "${ctx.keys.prefix}" migrated from ${r.from} to ${r.to} (applied ${r.applied.join(', ')})`);
    if (moved > 0) ctx.out(`moved ${moved} infohashes of the schema-4 layout into schema 5`);
  }
  return 0;
}
