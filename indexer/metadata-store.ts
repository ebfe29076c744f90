import { createHash } from 'node:crypto';
import { displayText } from '../bep5/display-text.js';
import { type IndexKeys, SCHEMA_4_VERSION } from './keys.js';
import { type RedisClient } from '../redis/client.js';
import { LuaScript } from '../redis/lua-script.js';
import {
  MAX_TOKENS_PER_NAME,
  SEARCH_POSTINGS_CAP,
  STORE_CONFLICT_RETRIES,
} from './metadata-constants.js';
import { checkInfohash, InfohashNotIndexedError, MetadataInputError, MetadataStoreConflictError, SchemaMismatchError } from './errors.js';
import { tokenizeName } from './search-tokens.js';
import { metadataContent } from './metadata-blob.js';

/**
 * Torrent metadata in the index: `storeMetadata` writes what a BEP 9 fetch found (the
 * fetcher's InfoSummary) together with the name's search tokens, `getMetadata` reads it back.
 * Keys and bounds: SCHEMA.md "Torrent metadata".
 *
 * Names and paths are untrusted bytes. They are stored raw (base64) next to their display
 * form, which this module computes itself from the raw bytes with the fetcher's displayText
 * (controls, bidi overrides and invalid UTF-8 escaped), so the display form is always what
 * the bytes say. It is escaped for terminals and logs, not for HTML: whoever puts it in a
 * page must insert it as text (textContent), never as markup.
 *
 * One Lua script per store, so a record and its postings change together. It refuses a
 * database at another schema version, an infohash the index does not know, and a fetch older
 * than the one stored; storing the same thing twice changes nothing (a digest of the record
 * is kept); storing something else replaces the record and moves the infohash from the old
 * name's tokens to the new one's. The old tokens are read first (their keys must be declared
 * to the script); the script checks they are still the stored ones and the call retries if
 * another writer got in between.
 */

/** An untrusted string: its bytes; `truncated` when the fetcher already cut it. */
export interface MetadataText {
  raw: Uint8Array;
  truncated?: boolean;
}

/** What storeMetadata takes: the fetcher's InfoSummary (bep9) fits as is. */
export interface MetadataInput {
  name: MetadataText;
  totalSize: number;
  pieceLength: number;
  pieceCount: number;
  /** Every file, pad files excluded; `files` may list fewer. */
  fileCount: number;
  files: ReadonlyArray<{ path: readonly MetadataText[]; size: number; truncated?: boolean }>;
  singleFile: boolean;
  private: boolean;
  metaVersion: number;
}

export interface StoreMetadataOptions {
  /** When the metadata was fetched (ms). An older fetch than the stored one is ignored. */
  fetchedAt: number;
  /** The peer that delivered it, `ip:port` or `[v6]:port`. */
  peer: string;
  /** Torrents kept per token's posting list. Default SEARCH_POSTINGS_CAP; tests use a small one. */
  postingsCap?: number;
}

export type StoreStatus =
  /** Written (new, or replacing a different record). */
  | 'stored'
  /** The same record was stored already: nothing changed. */
  | 'unchanged'
  /** A newer fetch is stored: nothing changed. */
  | 'stale';

export interface StoreResult {
  status: StoreStatus;
  /** The name's search tokens (what the record has after the call when `stored`). */
  tokens: string[];
}

/** A stored untrusted string: the escaped display form, the raw bytes in base64, and whether they were cut. */
export interface StoredText {
  display: string;
  raw: string;
  truncated: boolean;
}

export interface StoredFile {
  /** Display forms of the path elements joined with `/` (a `/` inside an element shows as `\x2f`). */
  path: string;
  /** The raw path elements, base64. */
  raw: string[];
  size: number;
  /** The path was cut (too deep or too long here or in the fetcher). */
  truncated: boolean;
}

/** A torrent's metadata as stored: the `metadata` of GET /api/infohashes/:ih. */
export interface StoredMetadata {
  name: StoredText;
  totalSize: number;
  pieceLength: number;
  pieceCount: number;
  fileCount: number;
  /** The first files (at most MAX_STORED_FILES, within MAX_FILES_JSON_BYTES), in torrent order. */
  files: StoredFile[];
  singleFile: boolean;
  private: boolean;
  metaVersion: number;
  fetchedAt: number;
  peer: string;
}

// ---------------------------------------------------------------------------------------
// Input → record

const flag = (b: boolean | undefined): string => (b === true ? '1' : '0');

interface MetadataRecord {
  fields: Map<string, string>;
  tokens: string[];
  digest: string;
}

/**
 * JSON with object keys sorted at every level: equal content, equal text, so a record's digest
 * does not depend on the order its fields were built in.
 */
function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    const s = JSON.stringify(value);
    return s === undefined ? 'null' : s;
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const parts = Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`);
  return `{${parts.join(',')}}`;
}

/**
 * Validates the input and builds the hash's fields, the tokens and the digest. Pure; exported
 * for tests. The validation and bounds are schema 5's (metadata-blob.ts metadataContent), so
 * both schemas refuse, cut and list the same input the same way.
 */
export function metadataRecord(summary: MetadataInput, opts: StoreMetadataOptions): MetadataRecord {
  const c = metadataContent(summary, opts);
  const b64 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.length).toString('base64');
  const files = c.files.map((f): [string, string[], number, number] => [f.path.map((e) => displayText(e, '/')).join('/'), f.path.map(b64), f.size, f.truncated ? 1 : 0]);
  const tokens = tokenizeName(c.name, MAX_TOKENS_PER_NAME);
  const fields = new Map<string, string>([
    ['name', b64(c.name)],
    ['nameDisplay', displayText(c.name)],
    ['nameTruncated', flag(c.nameTruncated)],
    ['totalSize', String(c.totalSize)],
    ['pieceLength', String(c.pieceLength)],
    ['pieceCount', String(c.pieceCount)],
    ['fileCount', String(c.fileCount)],
    ['files', JSON.stringify(files)],
    ['singleFile', flag(c.singleFile)],
    ['private', flag(c.private)],
    ['metaVersion', String(c.metaVersion)],
    ['fetchedAt', String(c.fetchedAt)],
    ['peer', c.peer],
    ['tokens', tokens.join(' ')],
  ]);
  const digest = createHash('sha1').update(canonicalJson(Object.fromEntries(fields))).digest('hex');
  fields.set('digest', digest);
  return { fields, tokens, digest };
}

// ---------------------------------------------------------------------------------------
// The script

const storeScript = LuaScript.fromFile(new URL('./lua/store-metadata.lua', import.meta.url));

/** The tokens a stored record is indexed under ('' when none). */
function splitTokens(field: string | null): string[] {
  return field === null || field === '' ? [] : field.split(' ');
}

/**
 * Stores `summary` (an InfoSummary from bep9) as the metadata of `infohash`
 * (40 lowercase hex) and indexes its name for search. Clears the infohash's failed-fetch
 * state. Throws MetadataInputError (bad input, nothing written), InfohashNotIndexedError,
 * SchemaMismatchError, or MetadataStoreConflictError (others kept rewriting it).
 */
export async function storeMetadata(redis: RedisClient, keys: IndexKeys, infohash: string, summary: MetadataInput, opts: StoreMetadataOptions): Promise<StoreResult> {
  const hex = checkInfohash(infohash);
  const record = metadataRecord(summary, opts);
  const postingsCap = opts.postingsCap ?? SEARCH_POSTINGS_CAP;
  if (!Number.isSafeInteger(postingsCap) || postingsCap < 1) throw new MetadataInputError('postingsCap must be a positive integer');
  const newKeys = record.tokens.map((t) => keys.searchToken(t));
  for (let attempt = 1; attempt <= STORE_CONFLICT_RETRIES; attempt++) {
    const old = (await redis.hget(keys.infohashMetadata(hex), 'tokens')) ?? '';
    const oldTokens = splitTokens(old);
    const scriptKeys = [
      keys.schemaVersion,
      keys.infohash(hex),
      keys.infohashMetadata(hex),
      keys.metadataFetched,
      keys.infohashFetch(hex),
      keys.metadataWait,
      ...oldTokens.map((t) => keys.searchToken(t)),
      ...newKeys,
    ];
    const arg = {
      v: String(SCHEMA_4_VERSION),
      hex,
      old,
      nOld: oldTokens.length,
      tokens: record.tokens,
      digest: record.digest,
      fetchedAt: String(opts.fetchedAt),
      cap: postingsCap,
      fields: [...record.fields].flat(),
    };
    const [status, detail] = (await storeScript.run(redis, scriptKeys, [JSON.stringify(arg)])) as [number, string];
    if (status === -1) throw new SchemaMismatchError(Number(detail), SCHEMA_4_VERSION);
    if (status === -2) throw new InfohashNotIndexedError(hex);
    if (status === -3) continue;
    return { status: status === 1 ? 'stored' : (detail as StoreStatus), tokens: record.tokens };
  }
  throw new MetadataStoreConflictError(hex, STORE_CONFLICT_RETRIES);
}

// ---------------------------------------------------------------------------------------
// Reading

function parseFiles(json: string | undefined): StoredFile[] {
  if (json === undefined) return [];
  try {
    const list = JSON.parse(json) as Array<[string, string[], number, number]>;
    return list.map(([path, raw, size, truncated]) => ({ path, raw, size, truncated: truncated === 1 }));
  } catch {
    return []; // only a hand-edited key gets here
  }
}

/** The stored form from the metadata hash's fields, or null when there is none. */
export function parseStoredMetadata(h: Readonly<Record<string, string>>): StoredMetadata | null {
  if (h['fetchedAt'] === undefined) return null;
  const n = (field: string): number => Number(h[field] ?? 0);
  return {
    name: { display: h['nameDisplay'] ?? '', raw: h['name'] ?? '', truncated: h['nameTruncated'] === '1' },
    totalSize: n('totalSize'),
    pieceLength: n('pieceLength'),
    pieceCount: n('pieceCount'),
    fileCount: n('fileCount'),
    files: parseFiles(h['files']),
    singleFile: h['singleFile'] === '1',
    private: h['private'] === '1',
    metaVersion: n('metaVersion'),
    fetchedAt: n('fetchedAt'),
    peer: h['peer'] ?? '',
  };
}

/** The metadata of `infohash`, or null when none was stored. One HGETALL. */
export async function getMetadata(redis: RedisClient, keys: IndexKeys, infohash: string): Promise<StoredMetadata | null> {
  return parseStoredMetadata(await redis.hgetall(keys.infohashMetadata(checkInfohash(infohash))));
}

/** How many infohashes have metadata (exact). */
export async function metadataCount(redis: RedisClient, keys: IndexKeys): Promise<number> {
  return redis.zcard(keys.metadataFetched);
}

export { recordMetadataFailure, metadataState, needsMetadata, metadataCandidates } from './metadata-fetch-state.js';
export type { MetadataFailure, FailureResult, MetadataState, MetadataCandidate } from './metadata-fetch-state.js';
