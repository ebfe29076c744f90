import { isCanonicalHexId } from '../bep5/node-id.js';

/** Typed errors of the metadata part of the index (each has a stable `code`), and the infohash argument check. */

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


/** `infohash` when it is 40 lowercase hex digits, else a MetadataInputError. */
export function checkInfohash(infohash: string): string {
  if (typeof infohash !== 'string' || !isCanonicalHexId(infohash)) {
    throw new MetadataInputError(`infohash must be 40 lowercase hex digits, got ${JSON.stringify(String(infohash).slice(0, 60))}`);
  }
  return infohash;
}
