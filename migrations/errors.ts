/** Typed errors of the migration runner; each has a stable `code`. */

/** The database's schema is newer than this dhtscope knows: refuse to touch it. */
export class SchemaTooNewError extends Error {
  override readonly name = 'SchemaTooNewError';
  readonly code = 'ERR_SCHEMA_TOO_NEW';
  constructor(
    readonly found: number,
    readonly known: number,
  ) {
    super(`the index in Redis has schema version ${found}, newer than this dhtscope knows (${known}): upgrade dhtscope`);
  }
}

/** The database's schema is older than this dhtscope needs and migrating was not allowed. */
export class SchemaOutdatedError extends Error {
  override readonly name = 'SchemaOutdatedError';
  readonly code = 'ERR_SCHEMA_OUTDATED';
  constructor(
    readonly found: number,
    readonly needed: number,
  ) {
    super(`the index in Redis has schema version ${found}, this dhtscope needs ${needed}: run "dhtscope migrate"`);
  }
}

/** Another process holds the migration lock (and we were not allowed to wait, or waited too long). */
export class MigrationLockBusyError extends Error {
  override readonly name = 'MigrationLockBusyError';
  readonly code = 'ERR_MIGRATION_LOCKED';
  constructor(
    readonly lockKey: string,
    readonly waitedMs: number,
  ) {
    super(`another process is running migrations (lock ${lockKey} held${waitedMs > 0 ? ` for over ${waitedMs} ms` : ''}): try again later`);
  }
}

/** The lock expired or was taken over while migrating: stop writing at once. */
export class MigrationLockLostError extends Error {
  override readonly name = 'MigrationLockLostError';
  readonly code = 'ERR_MIGRATION_LOCK_LOST';
  constructor(readonly lockKey: string) {
    super(`the migration lock ${lockKey} was lost (expired or taken over): migration aborted, run it again`);
  }
}

/** `--to N` names no known version, or is below the current one (no down migrations). */
export class MigrationTargetError extends Error {
  override readonly name = 'MigrationTargetError';
  readonly code = 'ERR_MIGRATION_TARGET';
}
