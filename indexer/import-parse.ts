import { MetadataInputError } from './errors.js';
import { EXPORT_COLUMNS, type ExportColumn, METADATA_COLUMNS, displayBytes } from './export-format.js';
import { encodeMetadataBlob, metadataContent } from './metadata-blob.js';
import { type MetadataInput, type MetadataText } from './metadata-store.js';

/**
 * Checks one line of an import file (export-format.ts) and turns it into what the merge writes
 * (import-merge.ts). Every field is untrusted: each is checked for type and range, unknown
 * fields are refused (a misspelt column would otherwise be dropped without a word), and the
 * metadata goes through the same validation and bounds as a fetch's (metadata-blob.ts
 * metadataContent). A bad line throws LineError, whose `reason` (the field, or what is wrong
 * with the line) is what the import's summary counts.
 *
 * Required: infohash, firstSeen, lastSeen. seen and sources default to 0. peers, seeders,
 * leechers and swarmAt are checked but not imported (they are snapshots that expire: peers
 * after 6 h, and a scrape is taken again by the next lookup). The metadata columns are all
 * given (fetchedAt set) or all empty.
 */

export class LineError extends Error {
  override readonly name = 'LineError';
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

/** What import-merge.ts writes for one line. */
export interface ImportRow {
  infohash: string;
  firstSeen: number;
  lastSeen: number;
  seen: number;
  sources: number;
  /** The metadata as schema 5 stores it (metadata-blob.ts), or null. */
  metadata: Buffer | null;
}

/** Times later than this past the import's start are refused: a hostile far-future last seen would keep an infohash from retention for good. */
export const MAX_FUTURE_MS = 86_400_000;
const U32_MAX = 2 ** 32 - 1;
/** The record keeps 48-bit times (infohash-record.ts). */
const U48_MAX = 2 ** 48 - 1;
const ISO_TIME = /^(?:\d{4}|[+-]\d{6})-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,3})?)?(?:Z|[+-]\d{2}:\d{2})$/;
const DIGITS = /^(?:0|[1-9]\d{0,15})$/;
const HEX40 = /^[0-9a-fA-F]{40}$/;

const KNOWN: ReadonlySet<string> = new Set(EXPORT_COLUMNS);

/** One field's raw value: a JSON value (NDJSON), or a cell's text (CSV), or undefined when absent. */
type Getter = (column: ExportColumn) => unknown;

class Fields {
  constructor(
    private readonly get: Getter,
    private readonly csv: boolean,
    private readonly now: number,
  ) {}

  /** null for an absent value, JSON null, or an empty CSV cell. */
  raw(column: ExportColumn): unknown {
    const v = this.get(column);
    return v === undefined || v === null || (this.csv && v === '') ? null : v;
  }

  int(column: ExportColumn, max: number, min = 0): number | null {
    const v = this.raw(column);
    if (v === null) return null;
    const n = this.csv ? (typeof v === 'string' && DIGITS.test(v) ? Number(v) : NaN) : typeof v === 'number' ? v : NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) throw new LineError(column, `${column}: an integer from ${min} to ${max}, got ${show(v)}`);
    return n;
  }

  time(column: ExportColumn): number | null {
    const v = this.raw(column);
    if (v === null) return null;
    let ms = NaN;
    if (typeof v === 'string' && ISO_TIME.test(v)) ms = Date.parse(v);
    else if (this.csv ? typeof v === 'string' && DIGITS.test(v) : typeof v === 'number') ms = Number(v);
    if (!Number.isSafeInteger(ms) || ms < 1 || ms > U48_MAX) throw new LineError(column, `${column}: an ISO 8601 time (2026-05-01T12:00:00.000Z) or ms since 1970, got ${show(v)}`);
    if (ms > this.now + MAX_FUTURE_MS) throw new LineError(column, `${column}: ${new Date(ms).toISOString()} is in the future`);
    return ms;
  }

  bool(column: ExportColumn): boolean | null {
    const v = this.raw(column);
    if (v === null) return null;
    if (v === true || v === false) return v;
    if (this.csv && (v === 'true' || v === 'false')) return v === 'true';
    throw new LineError(column, `${column}: true or false, got ${show(v)}`);
  }

  text(column: ExportColumn): string | null {
    const v = this.raw(column);
    if (v === null) return null;
    if (typeof v !== 'string') throw new LineError(column, `${column}: a string, got ${show(v)}`);
    return v;
  }

  files(): Array<{ path: MetadataText[]; size: number; truncated?: boolean }> | null {
    let v = this.raw('files');
    if (v === null) return null;
    if (this.csv) {
      try {
        v = JSON.parse(v as string);
      } catch {
        throw new LineError('files', 'files: a JSON array of {path, size}');
      }
    }
    if (!Array.isArray(v)) throw new LineError('files', 'files: a JSON array of {path, size}');
    return v.map((f: unknown, i) => {
      if (f === null || typeof f !== 'object' || Array.isArray(f)) throw new LineError('files', `files[${i}]: an object {path, size}`);
      const o = f as Record<string, unknown>;
      for (const k of Object.keys(o)) if (k !== 'path' && k !== 'size' && k !== 'truncated') throw new LineError('files', `files[${i}]: unknown field ${JSON.stringify(k)}`);
      if (typeof o['path'] !== 'string' || o['path'] === '') throw new LineError('files', `files[${i}].path: a non-empty string`);
      if (!Number.isSafeInteger(o['size']) || (o['size'] as number) < 0) throw new LineError('files', `files[${i}].size: a non-negative integer`);
      if (o['truncated'] !== undefined && typeof o['truncated'] !== 'boolean') throw new LineError('files', `files[${i}].truncated: true or false`);
      const path = o['path'].split('/').map((element) => ({ raw: bytesOf(element, `files[${i}].path`, 'files') }));
      return { path, size: o['size'] as number, truncated: o['truncated'] === true };
    });
  }
}

function show(v: unknown): string {
  const s = typeof v === 'string' ? JSON.stringify(v) : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : String(v);
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

function bytesOf(display: string, what: string, reason: ExportColumn): Buffer {
  try {
    return displayBytes(display);
  } catch (err) {
    if (err instanceof RangeError) throw new LineError(reason, `${what}: ${err.message}`);
    throw err;
  }
}

function rowOf(f: Fields, now: number): ImportRow {
  const hex = f.text('infohash');
  if (hex === null || !HEX40.test(hex)) throw new LineError('infohash', `infohash: 40 hex digits, got ${show(f.raw('infohash'))}`);
  const firstSeen = f.time('firstSeen');
  const lastSeen = f.time('lastSeen');
  if (firstSeen === null) throw new LineError('firstSeen', 'firstSeen: missing');
  if (lastSeen === null) throw new LineError('lastSeen', 'lastSeen: missing');
  if (firstSeen > lastSeen) throw new LineError('firstSeen', 'firstSeen: after lastSeen');
  const seen = f.int('seen', U32_MAX) ?? 0;
  const sources = f.int('sources', U32_MAX) ?? 0;
  // Checked, not imported (see the module comment).
  f.int('peers', U32_MAX);
  f.int('seeders', U32_MAX);
  f.int('leechers', U32_MAX);
  f.time('swarmAt');
  return { infohash: hex.toLowerCase(), firstSeen, lastSeen, seen, sources, metadata: metadataOf(f, now) };
}

function metadataOf(f: Fields, now: number): Buffer | null {
  const fetchedAt = f.time('fetchedAt');
  if (fetchedAt === null) {
    const stray = METADATA_COLUMNS.find((c) => f.raw(c) !== null);
    if (stray !== undefined) throw new LineError(stray, `${stray}: metadata needs fetchedAt`);
    return null;
  }
  const need = <T>(column: ExportColumn, v: T | null): T => {
    if (v === null) throw new LineError(column, `${column}: missing (metadata has fetchedAt)`);
    return v;
  };
  const name = need('name', f.text('name'));
  const input: MetadataInput = {
    name: { raw: bytesOf(name, 'name', 'name'), truncated: need('nameTruncated', f.bool('nameTruncated')) },
    totalSize: need('size', f.int('size', Number.MAX_SAFE_INTEGER)),
    pieceLength: need('pieceLength', f.int('pieceLength', Number.MAX_SAFE_INTEGER, 1)),
    pieceCount: need('pieceCount', f.int('pieceCount', Number.MAX_SAFE_INTEGER)),
    fileCount: need('fileCount', f.int('fileCount', Number.MAX_SAFE_INTEGER)),
    files: need('files', f.files()),
    singleFile: need('singleFile', f.bool('singleFile')),
    private: need('private', f.bool('private')),
    metaVersion: need('metaVersion', f.int('metaVersion', 2, 1)),
  };
  const peer = need('fetchedFrom', f.text('fetchedFrom'));
  try {
    return encodeMetadataBlob(metadataContent(input, { fetchedAt, peer }));
  } catch (err) {
    if (err instanceof MetadataInputError) throw new LineError('metadata', err.message);
    throw err;
  }
}

/** One NDJSON line. */
export function rowFromJson(text: string, now: number): ImportRow {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new LineError('not JSON', 'not a JSON object');
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new LineError('not JSON', 'not a JSON object');
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!KNOWN.has(k)) throw new LineError('unknown field', `unknown field ${show(k)}`);
  return rowOf(new Fields((c) => o[c], false, now), now);
}

/**
 * A CSV file's header: the columns it names, in its order. Throws LineError for a name that is
 * not a column, a column named twice, or a required column missing (the caller stops: no line
 * of such a file can be read right).
 */
export function csvHeader(cells: readonly string[]): ExportColumn[] {
  const seen = new Set<string>();
  for (const c of cells) {
    if (!KNOWN.has(c)) throw new LineError('header', `the header names an unknown column ${show(c)} (columns: ${EXPORT_COLUMNS.join(',')})`);
    if (seen.has(c)) throw new LineError('header', `the header names ${c} twice`);
    seen.add(c);
  }
  for (const c of ['infohash', 'firstSeen', 'lastSeen'] as const) if (!seen.has(c)) throw new LineError('header', `the header lacks the column ${c}`);
  return cells as ExportColumn[];
}

/** One CSV record under `header`. */
export function rowFromCells(header: readonly ExportColumn[], cells: readonly string[], now: number): ImportRow {
  if (cells.length !== header.length) throw new LineError('cell count', `${cells.length} cells, the header has ${header.length}`);
  const at = new Map<ExportColumn, string>(header.map((c, i) => [c, cells[i]!]));
  return rowOf(new Fields((c) => at.get(c), true, now), now);
}
