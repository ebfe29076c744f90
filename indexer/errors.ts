import { isCanonicalHexId } from '../bep5/node-id.js';

/**
 * The typed errors of the index, each with a stable `code` that callers (the API, the CLI, the
 * workers) map to their own answers. This module imports nothing of indexer/, so every module
 * of the folder can import it without a cycle.
 */

/** The database is not at the schema version this code writes: run `dhtscope migrate` (or upgrade). */
export class SchemaMismatchError extends Error {
  override readonly name = 'SchemaMismatchError';
  readonly code = 'ERR_SCHEMA_MISMATCH';
  constructor(
    readonly found: number,
    readonly expected: number,
  ) {
    super(
      found > expected
        ? `the index in Redis has schema version ${found}, newer than this dhtscope knows (${expected}): upgrade dhtscope`
        : `the index in Redis has schema version ${found}, this dhtscope needs ${expected}: run "dhtscope migrate"`,
    );
  }
}

/** A key the batch writes exists with another type: something else wrote under this prefix. Nothing was written. */
export class IndexKeyTypeError extends Error {
  override readonly name = 'IndexKeyTypeError';
  readonly code = 'ERR_INDEX_KEY_TYPE';
  constructor(
    readonly key: string,
    readonly found: string,
    readonly expected: string,
  ) {
    super(`Redis key ${key} is a ${found}, the index needs a ${expected} there: another program wrote under this prefix; nothing was written`);
  }
}

/** A batch holds more events than `maxBatchEvents`: the script would block Redis too long. */
export class BatchTooLargeError extends Error {
  override readonly name = 'BatchTooLargeError';
  readonly code = 'ERR_BATCH_TOO_LARGE';
}

/** A key prefix outside the allowed characters; braces would change the index's hash tag. */
export class InvalidPrefixError extends Error {
  override readonly name = 'InvalidPrefixError';
  readonly code = 'ERR_REDIS_PREFIX';
  constructor(prefix: string) {
    super(`invalid Redis key prefix ${JSON.stringify(prefix)}: use 1-64 of A-Z a-z 0-9 _ . : - (no braces)`);
  }
}

/** The cursor text is not one this code wrote (or not for this list); `message` says why. */
export class InvalidCursorError extends Error {
  override readonly name = 'InvalidCursorError';
  readonly code = 'ERR_BAD_CURSOR';
}

/** What was passed to storeMetadata / recordMetadataFailure is not well-formed (a caller's bug). */
export class MetadataInputError extends Error {
  override readonly name = 'MetadataInputError';
  readonly code = 'ERR_METADATA_INPUT';
}

/** The infohash has no record in the index (`ih:<hex>`): metadata is only kept for indexed infohashes. */
export class InfohashNotIndexedError extends Error {
  override readonly name = 'InfohashNotIndexedError';
  readonly code = 'ERR_INFOHASH_NOT_INDEXED';
  constructor(readonly infohash: string) {
    super(`infohash ${infohash} is not in the index: metadata is only stored for indexed infohashes`);
  }
}

/** Other writers kept changing the record between our read and our write (retried, then given up). */
export class MetadataStoreConflictError extends Error {
  override readonly name = 'MetadataStoreConflictError';
  readonly code = 'ERR_METADATA_STORE_CONFLICT';
  constructor(
    readonly infohash: string,
    readonly attempts: number,
  ) {
    super(`the metadata record of ${infohash} changed under ${attempts} attempts to store it: try again`);
  }
}

/** A key or shard was asked for something that is not an infohash (a caller's bug). */
export class InvalidInfohashKeyError extends Error {
  override readonly name = 'InvalidInfohashKeyError';
  readonly code = 'ERR_BAD_INFOHASH_KEY';
  constructor(what: string) {
    super(`bad infohash ${JSON.stringify(what.slice(0, 60))}: want 40 lowercase hex digits or 20 bytes`);
  }
}

/** Bytes that are not a schema-5 infohash record, or a value that does not fit one. */
export class InfohashRecordError extends Error {
  override readonly name = 'InfohashRecordError';
  readonly code = 'ERR_INFOHASH_RECORD';
}

/**
 * Bytes that are not a schema-5 metadata blob or fetch state (metadata-blob.ts,
 * sharded-fetch-state.ts), or content that does not fit one. Names and paths are untrusted, so
 * every bound is checked and this is what a violation throws, never a RangeError from a read
 * past the end.
 */
export class MetadataBlobError extends Error {
  override readonly name = 'MetadataBlobError';
  readonly code = 'ERR_METADATA_BLOB';
}

/** `infohash` when it is 40 lowercase hex digits, else a MetadataInputError. */
export function checkInfohash(infohash: string): string {
  if (typeof infohash !== 'string' || !isCanonicalHexId(infohash)) {
    throw new MetadataInputError(`infohash must be 40 lowercase hex digits, got ${JSON.stringify(String(infohash).slice(0, 60))}`);
  }
  return infohash;
}

/** A survey entry that is not well-formed or out of bounds (a caller's bug): nothing was written. */
export class SurveyEntryError extends Error {
  override readonly name = 'SurveyEntryError';
  readonly code = 'ERR_SURVEY_ENTRY';
  constructor(reason: string) {
    super(`not a valid survey entry: ${reason}`);
  }
}
