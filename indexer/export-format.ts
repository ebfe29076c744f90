import { type StoredMetadata } from './metadata-store.js';
import { type SwarmEstimate } from './queries.js';
import { type ShardedInfohash } from './sharded-queries.js';

/**
 * The line format of `dhtscope export` and `dhtscope import` (indexer/SCHEMA.md, "Export and
 * import"): one infohash per line, the same columns in the same order in NDJSON (one JSON object
 * per line) and CSV (RFC 4180, a header row, CRLF line ends).
 *
 * - Times are ISO 8601 in UTC with milliseconds (`2026-05-01T12:00:00.123Z`): exact to the ms the
 *   index keeps, readable, and sorted as text. Import also takes integer ms.
 * - Names and file paths are the display forms the API shows (bep5/display-text.ts: controls,
 *   format characters and bytes that are not UTF-8 escaped as `\x0a`, `\u{202e}`, `\xff`, a
 *   backslash doubled, a `/` inside a path element as `\x2f`). They are safe in a terminal, and
 *   import turns them back into the exact bytes (`displayBytes`), so nothing is lost.
 * - `files` is a JSON array of `{path, size}` (with `truncated: true` for a path the index cut),
 *   in CSV as that JSON text in one cell: a `;`-joined list could not hold a `;` in a path.
 * - What an infohash has no value for (no metadata, no scrape yet) is `null` in NDJSON and an
 *   empty cell in CSV.
 */

export const EXPORT_COLUMNS = [
  'infohash',
  'firstSeen',
  'lastSeen',
  'seen',
  'sources',
  'peers',
  'seeders',
  'leechers',
  'swarmAt',
  'name',
  'size',
  'fileCount',
  'files',
  'pieceLength',
  'pieceCount',
  'singleFile',
  'private',
  'metaVersion',
  'nameTruncated',
  'fetchedAt',
  'fetchedFrom',
] as const;

export type ExportColumn = (typeof EXPORT_COLUMNS)[number];

/** The metadata columns: all set (the index has the torrent's metadata) or all empty. */
export const METADATA_COLUMNS: readonly ExportColumn[] = EXPORT_COLUMNS.slice(EXPORT_COLUMNS.indexOf('name'));

export type ExportFormat = 'ndjson' | 'csv';

/**
 * One infohash as the index holds it: its record's fields (`peers`: live peers at the record's
 * last write, as list pages show them), its BEP 33 estimate and its metadata.
 */
export interface ExportRow extends ShardedInfohash {
  swarm: SwarmEstimate | null;
  metadata: StoredMetadata | null;
}

export interface ExportFile {
  path: string;
  size: number;
  truncated?: true;
}

type Value = string | number | boolean | null | ExportFile[];

const iso = (ms: number): string => new Date(ms).toISOString();

/** The row's columns, in EXPORT_COLUMNS order (JSON.stringify keeps insertion order). */
export function rowValues(row: ExportRow): Record<ExportColumn, Value> {
  const m = row.metadata;
  return {
    infohash: row.infohash,
    firstSeen: iso(row.firstSeen),
    lastSeen: iso(row.lastSeen),
    seen: row.seen,
    sources: row.sources,
    peers: row.peers,
    seeders: row.swarm?.seeders ?? null,
    leechers: row.swarm?.leechers ?? null,
    swarmAt: row.swarm === null ? null : iso(row.swarm.at),
    name: m?.name.display ?? null,
    size: m?.totalSize ?? null,
    fileCount: m?.fileCount ?? null,
    files: m === null ? null : m.files.map((f): ExportFile => (f.truncated ? { path: f.path, size: f.size, truncated: true } : { path: f.path, size: f.size })),
    pieceLength: m?.pieceLength ?? null,
    pieceCount: m?.pieceCount ?? null,
    singleFile: m?.singleFile ?? null,
    private: m?.private ?? null,
    metaVersion: m?.metaVersion ?? null,
    nameTruncated: m?.name.truncated ?? null,
    fetchedAt: m === null ? null : iso(m.fetchedAt),
    fetchedFrom: m?.peer ?? null,
  };
}

export function ndjsonLine(row: ExportRow): string {
  return JSON.stringify(rowValues(row)) + '\n';
}

/** RFC 4180: a cell with a comma, a quote or a line break is quoted, its quotes doubled. */
export function csvCell(text: string): string {
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export const CSV_HEADER = EXPORT_COLUMNS.join(',') + '\r\n';

export function csvLine(row: ExportRow): string {
  const values = rowValues(row);
  return (
    EXPORT_COLUMNS.map((column) => {
      const v = values[column];
      return v === null ? '' : csvCell(Array.isArray(v) ? JSON.stringify(v) : String(v));
    }).join(',') + '\r\n'
  );
}

// ---------------------------------------------------------------------------------------
// Display form → bytes

const encoder = new TextEncoder();

/**
 * The bytes a display form (bep5/display-text.ts) stands for: `\\`, `\xNN` and `\u{N}` undone,
 * every other character as its UTF-8. Characters displayText would have escaped are taken as
 * they are (a hand-written CSV may hold a real line break in a quoted cell). Throws RangeError
 * for a backslash that starts no escape and for a lone surrogate (it has no UTF-8).
 */
export function displayBytes(text: string): Buffer {
  const parts: number[] = [];
  for (let i = 0; i < text.length; ) {
    const c = text.codePointAt(i)!;
    if (c !== 0x5c) {
      if (c >= 0xd800 && c <= 0xdfff) throw new RangeError('a lone surrogate is not text');
      if (c < 0x80) parts.push(c);
      else for (const b of encoder.encode(String.fromCodePoint(c))) parts.push(b);
      i += c > 0xffff ? 2 : 1;
      continue;
    }
    const next = text[i + 1];
    if (next === '\\') {
      parts.push(0x5c);
      i += 2;
    } else if (next === 'x' && /^[0-9a-fA-F]{2}$/.test(text.slice(i + 2, i + 4))) {
      parts.push(Number.parseInt(text.slice(i + 2, i + 4), 16));
      i += 4;
    } else if (next === 'u' && text[i + 2] === '{') {
      const end = text.indexOf('}', i + 3);
      const hex = end < 0 ? '' : text.slice(i + 3, end);
      const cp = /^[0-9a-fA-F]{1,6}$/.test(hex) ? Number.parseInt(hex, 16) : -1;
      if (cp < 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) throw new RangeError(`"\\u{${hex}}" is not a code point`);
      for (const b of encoder.encode(String.fromCodePoint(cp))) parts.push(b);
      i = end + 1;
    } else {
      throw new RangeError('a backslash must start \\\\, \\xNN or \\u{N}');
    }
  }
  return Buffer.from(parts);
}
