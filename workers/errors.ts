import { UnrecoverableError } from 'bullmq';

/**
 * Errors of workers/, each with a stable `code`, as everywhere in dhtscope: first why a worker
 * gives up on a job, then the discovery producer's spool errors.
 */

// ---- Jobs: why a worker gave up on one. Subclasses of BullMQ's UnrecoverableError go straight
// to the failed set without the remaining attempts: running them again cannot succeed.

/** The job's data (read back from Redis, so untrusted) is not what a producer writes. */
export class InvalidJobDataError extends UnrecoverableError {
  override readonly name = 'InvalidJobDataError';
  readonly code = 'ERR_INVALID_JOB_DATA';
}

/**
 * The index is not at the schema version this code writes (see indexer/errors.ts
 * SchemaMismatchError). Retrying cannot help until someone migrates or upgrades, so the job
 * fails at once and the worker stops taking jobs (a stream of failures would bury the queue).
 */
export class JobSchemaMismatchError extends UnrecoverableError {
  override readonly name = 'JobSchemaMismatchError';
  readonly code = 'ERR_SCHEMA_MISMATCH';
  constructor(
    message: string,
    readonly found: number,
    readonly expected: number,
  ) {
    super(message);
  }
}

/** The DHT node has no contacts yet (still bootstrapping): a peer lookup is retried later. */
export class DhtNotReadyError extends Error {
  override readonly name = 'DhtNotReadyError';
  readonly code = 'ERR_DHT_NOT_READY';
  constructor() {
    super('the DHT node has no contacts yet (bootstrapping): retrying later');
  }
}

/** A shared survey still has a process at work: deleting it now would pull its partitions away (dhtscope survey NAME --delete --force does). */
export class SurveyBusyError extends Error {
  override readonly name = 'SurveyBusyError';
  readonly code = 'ERR_SURVEY_BUSY';
  constructor(
    readonly survey: string,
    readonly why: string,
  ) {
    super(`survey ${survey} is still being crawled (${why})`);
  }
}

// ---- The spool. None of these reaches the crawl: the producer logs and counts instead.
export class SpoolError extends Error {
  override readonly name: string = 'SpoolError';
  readonly code: string = 'ERR_SPOOL';
}

/** Another live process spools into this directory; two writers would delete each other's files. */
export class SpoolBusyError extends SpoolError {
  override readonly name = 'SpoolBusyError';
  override readonly code = 'ERR_SPOOL_BUSY';
  constructor(
    readonly dir: string,
    readonly pid: number,
  ) {
    super(`the spool ${dir} is in use by process ${pid}; stop it, or delete ${dir}/lock if that process is not dhtscope`);
  }
}

/** A spool file could not be read or written: an I/O error (a corrupt line is not one: those are skipped and counted). */
export abstract class SpoolFileError extends SpoolError {
  constructor(
    readonly path: string,
    action: 'read' | 'write',
    options: { cause: unknown },
  ) {
    super(`cannot ${action} the spool file ${path}: ${options.cause instanceof Error ? options.cause.message : String(options.cause)}`, options);
  }
}

/** Appending a batch to the spool failed (disk full, permissions): the batch was not spooled. */
export class SpoolWriteError extends SpoolFileError {
  override readonly name = 'SpoolWriteError';
  override readonly code = 'ERR_SPOOL_WRITE';
  constructor(path: string, options: { cause: unknown }) {
    super(path, 'write', options);
  }
}

/** Reading a spool file back failed. */
export class SpoolReadError extends SpoolFileError {
  override readonly name = 'SpoolReadError';
  override readonly code = 'ERR_SPOOL_READ';
  constructor(path: string, options: { cause: unknown }) {
    super(path, 'read', options);
  }
}

/** The spool was used after close(). */
export class SpoolClosedError extends SpoolError {
  override readonly name = 'SpoolClosedError';
  override readonly code = 'ERR_SPOOL_CLOSED';
  constructor() {
    super('the spool is closed');
  }
}
