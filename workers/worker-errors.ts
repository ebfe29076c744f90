import { UnrecoverableError } from 'bullmq';

/**
 * Why a worker gave up on a job. Subclasses of BullMQ's UnrecoverableError go straight to the
 * failed set without the remaining attempts: running them again cannot succeed. Each has a
 * stable `code`, as everywhere in dhtscope.
 */

/** The job's data (read back from Redis, so untrusted) is not what a producer writes. */
export class InvalidJobDataError extends UnrecoverableError {
  override readonly name = 'InvalidJobDataError';
  readonly code = 'ERR_INVALID_JOB_DATA';
}

/**
 * The index is not at the schema version this code writes (see indexer/apply-batch.ts
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
