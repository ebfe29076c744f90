import { displayText } from '../bep5/display-text.js';
import { MetadataBlobError, MetadataInputError } from './errors.js';
import {
  MAX_FILE_PATH_BYTES,
  MAX_FILE_PATH_ELEMENTS,
  MAX_FILES_JSON_BYTES,
  MAX_NAME_BYTES,
  MAX_PEER_LABEL_CHARS,
  MAX_STORED_FILES,
} from './metadata-constants.js';
import type { MetadataInput, MetadataText, StoredMetadata, StoreMetadataOptions } from './metadata-store.js';

/**
 * Schema 5's stored torrent metadata: one binary blob per torrent, the value of its field in
 * `meta(bucket)` (sharded-keys.ts). Only raw bytes are kept. Schema 4 also stored the display
 * forms, base64 and a JSON file list, and the search tokens, which made up most of its ~2.9 KB
 * per torrent; all of them are functions of the raw bytes, so they are computed on read
 * (`storedMetadataOf`, search-tokens.ts `tokenizeName`).
 *
 * Layout, big-endian, fixed-width numbers (u56: 7 bytes, enough for any safe integer, which is
 * what schema 4 accepts for every size and time; Lua reads it with struct's `I7`):
 *
 *    0  u8   format (1)
 *    1  u56  fetchedAt (ms); first, so a script compares fetch times without decoding the rest
 *    8  u56  totalSize
 *   15  u56  pieceLength
 *   22  u56  pieceCount
 *   29  u56  fileCount (every file; `files` may list fewer)
 *   36  u8   flags: 1 singleFile, 2 private, 4 name truncated
 *   37  u8   metaVersion (1 or 2)
 *   38  u8   peer label length p (3 to 64), then p bytes of printable ASCII
 *       u16  name length n (at most 1 KiB), then n raw bytes
 *       u8   files listed f (at most 100), then per file:
 *            u56 size; u8 path element count e (1 to 32) | 0x80 when the path was cut;
 *            e × (u16 element length, then its raw bytes), at most 512 bytes over the elements
 *
 * Decoding is strict: a blob decodes only if re-encoding gives the same bytes (no unknown bits,
 * nothing after the last file, every bound above), so byte equality of two blobs is equality of
 * content, which is how a store tells `unchanged` (schema 4 kept a digest field for that).
 */

export const METADATA_BLOB_FORMAT = 1;

const FLAG_SINGLE_FILE = 1;
const FLAG_PRIVATE = 2;
const FLAG_NAME_TRUNCATED = 4;
const FILE_TRUNCATED = 0x80;
const HEADER_BYTES = 38;
const U48 = 2 ** 48;
const PEER_RE = new RegExp(`^[\\x21-\\x7e]{3,${MAX_PEER_LABEL_CHARS}}$`);

/** What a blob holds: the raw bytes and numbers only. */
export interface MetadataContent {
  fetchedAt: number;
  peer: string;
  name: Uint8Array;
  nameTruncated: boolean;
  totalSize: number;
  pieceLength: number;
  pieceCount: number;
  fileCount: number;
  singleFile: boolean;
  private: boolean;
  metaVersion: number;
  files: Array<{ path: Uint8Array[]; size: number; truncated: boolean }>;
}

// ---------------------------------------------------------------------------------------
// Input → content: schema 4's validation and bounds (metadata-store.ts metadataRecord), so the
// same input is refused, cut and listed the same way by both schemas.

const isSize = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

function need(ok: boolean, what: string): void {
  if (!ok) throw new MetadataInputError(`metadata: ${what}`);
}

function bytesOf(text: MetadataText | undefined, what: string): Uint8Array {
  need(text !== undefined && text !== null && text.raw instanceof Uint8Array, `${what} must have raw bytes`);
  return text!.raw;
}

const b64 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.length).toString('base64');
const displayPath = (path: readonly Uint8Array[]): string => path.map((e) => displayText(e, '/')).join('/');

function contentFile(file: MetadataInput['files'][number], index: number): MetadataContent['files'][number] {
  need(file !== null && typeof file === 'object' && Array.isArray(file.path) && file.path.length > 0, `file ${index} needs a non-empty path`);
  need(isSize(file.size), `file ${index} size must be a non-negative safe integer`);
  const path: Uint8Array[] = [];
  let budget = MAX_FILE_PATH_BYTES;
  let truncated = file.truncated === true || file.path.length > MAX_FILE_PATH_ELEMENTS;
  for (const [j, element] of file.path.slice(0, MAX_FILE_PATH_ELEMENTS).entries()) {
    const bytes = bytesOf(element, `file ${index} path element ${j}`);
    if (element.truncated === true) truncated = true;
    const kept = bytes.subarray(0, budget);
    path.push(kept);
    budget -= kept.length;
    if (kept.length < bytes.length) {
      truncated = true;
      break;
    }
  }
  return { path, size: file.size, truncated };
}

/**
 * Validates a fetch's summary (MetadataInputError, as schema 4) and applies schema 4's bounds.
 * The file list's budget (MAX_FILES_JSON_BYTES) is measured in schema 4's JSON form although
 * that form is not stored any more: both schemas then list the same files for the same input,
 * and a reader cannot tell which one answered. In blob bytes it allows less than 32 KiB, since
 * every raw byte costs at least two in that JSON (base64 and display).
 */
export function metadataContent(summary: MetadataInput, opts: Pick<StoreMetadataOptions, 'fetchedAt' | 'peer'>): MetadataContent {
  need(summary !== null && typeof summary === 'object', 'summary must be an object');
  const name = bytesOf(summary.name, 'name');
  need(isSize(summary.totalSize), 'totalSize must be a non-negative safe integer');
  need(isSize(summary.pieceLength) && summary.pieceLength > 0, 'pieceLength must be a positive safe integer');
  need(isSize(summary.pieceCount), 'pieceCount must be a non-negative safe integer');
  need(isSize(summary.fileCount), 'fileCount must be a non-negative safe integer');
  need(Array.isArray(summary.files) && summary.files.length <= summary.fileCount, 'files must be an array of at most fileCount entries');
  need(summary.metaVersion === 1 || summary.metaVersion === 2, 'metaVersion must be 1 or 2');
  need(isSize(opts.fetchedAt), 'fetchedAt must be a time in ms');
  need(typeof opts.peer === 'string' && PEER_RE.test(opts.peer), `peer must be ip:port (printable, 3-${MAX_PEER_LABEL_CHARS} characters)`);

  const files: MetadataContent['files'] = [];
  let jsonBytes = 2;
  for (const [i, file] of summary.files.slice(0, MAX_STORED_FILES).entries()) {
    const entry = contentFile(file, i);
    const asJson = [displayPath(entry.path), entry.path.map(b64), entry.size, entry.truncated ? 1 : 0];
    const size = Buffer.byteLength(JSON.stringify(asJson)) + 1;
    if (jsonBytes + size > MAX_FILES_JSON_BYTES) break;
    jsonBytes += size;
    files.push(entry);
  }
  const nameRaw = name.subarray(0, MAX_NAME_BYTES);
  return {
    fetchedAt: opts.fetchedAt,
    peer: opts.peer,
    name: nameRaw,
    nameTruncated: summary.name.truncated === true || nameRaw.length < name.length,
    totalSize: summary.totalSize,
    pieceLength: summary.pieceLength,
    pieceCount: summary.pieceCount,
    fileCount: summary.fileCount,
    singleFile: summary.singleFile === true,
    private: summary.private === true,
    metaVersion: summary.metaVersion,
    files,
  };
}

// ---------------------------------------------------------------------------------------
// Content ↔ bytes

function bad(what: string): never {
  throw new MetadataBlobError(`metadata blob: ${what}`);
}

class Writer {
  private readonly parts: Buffer[] = [];
  u8(v: number): void {
    this.parts.push(Buffer.of(v));
  }
  u16(v: number): void {
    const b = Buffer.alloc(2);
    b.writeUInt16BE(v);
    this.parts.push(b);
  }
  u56(v: number, what: string): void {
    if (!isSize(v)) bad(`${what} must be a non-negative safe integer, got ${String(v)}`);
    const b = Buffer.alloc(7);
    b[0] = Math.floor(v / U48);
    b.writeUIntBE(v % U48, 1, 6);
    this.parts.push(b);
  }
  bytes(v: Uint8Array): void {
    this.parts.push(Buffer.from(v.buffer, v.byteOffset, v.length));
  }
  done(): Buffer {
    return Buffer.concat(this.parts);
  }
}

export function encodeMetadataBlob(c: MetadataContent): Buffer {
  if (typeof c.peer !== 'string' || !PEER_RE.test(c.peer)) bad(`peer must be 3-${MAX_PEER_LABEL_CHARS} printable ASCII characters`);
  if (!(c.name instanceof Uint8Array) || c.name.length > MAX_NAME_BYTES) bad(`the name must be at most ${MAX_NAME_BYTES} bytes`);
  if (c.metaVersion !== 1 && c.metaVersion !== 2) bad('metaVersion must be 1 or 2');
  if (!Array.isArray(c.files) || c.files.length > MAX_STORED_FILES) bad(`at most ${MAX_STORED_FILES} files are listed`);
  const w = new Writer();
  w.u8(METADATA_BLOB_FORMAT);
  w.u56(c.fetchedAt, 'fetchedAt');
  w.u56(c.totalSize, 'totalSize');
  w.u56(c.pieceLength, 'pieceLength');
  w.u56(c.pieceCount, 'pieceCount');
  w.u56(c.fileCount, 'fileCount');
  w.u8((c.singleFile ? FLAG_SINGLE_FILE : 0) | (c.private ? FLAG_PRIVATE : 0) | (c.nameTruncated ? FLAG_NAME_TRUNCATED : 0));
  w.u8(c.metaVersion);
  w.u8(c.peer.length);
  w.bytes(Buffer.from(c.peer, 'latin1'));
  w.u16(c.name.length);
  w.bytes(c.name);
  w.u8(c.files.length);
  for (const [i, f] of c.files.entries()) {
    if (!Array.isArray(f.path) || f.path.length < 1 || f.path.length > MAX_FILE_PATH_ELEMENTS) bad(`file ${i}: a path has 1 to ${MAX_FILE_PATH_ELEMENTS} elements`);
    w.u56(f.size, `file ${i} size`);
    w.u8(f.path.length | (f.truncated ? FILE_TRUNCATED : 0));
    let total = 0;
    for (const e of f.path) {
      if (!(e instanceof Uint8Array)) bad(`file ${i}: path elements are bytes`);
      total += e.length;
      if (total > MAX_FILE_PATH_BYTES) bad(`file ${i}: a path is at most ${MAX_FILE_PATH_BYTES} bytes`);
      w.u16(e.length);
      w.bytes(e);
    }
  }
  return w.done();
}

class Reader {
  private at = 0;
  constructor(private readonly b: Buffer) {}
  private need(n: number, what: string): number {
    if (this.at + n > this.b.length) bad(`ends inside ${what} (${this.b.length} bytes)`);
    const at = this.at;
    this.at += n;
    return at;
  }
  u8(what: string): number {
    return this.b[this.need(1, what)]!;
  }
  u16(what: string): number {
    return this.b.readUInt16BE(this.need(2, what));
  }
  u56(what: string): number {
    const at = this.need(7, what);
    const v = this.b[at]! * U48 + this.b.readUIntBE(at + 1, 6);
    if (!Number.isSafeInteger(v)) bad(`${what} is not a safe integer`);
    return v;
  }
  bytes(n: number, what: string): Buffer {
    const at = this.need(n, what);
    return this.b.subarray(at, at + n);
  }
  get rest(): number {
    return this.b.length - this.at;
  }
}

/** The blob's content; MetadataBlobError for anything `encodeMetadataBlob` would not have written. */
export function decodeMetadataBlob(blob: Uint8Array): MetadataContent {
  const r = new Reader(Buffer.from(blob.buffer, blob.byteOffset, blob.length));
  const format = r.u8('the format');
  if (format !== METADATA_BLOB_FORMAT) bad(`unknown format ${format}`);
  const fetchedAt = r.u56('fetchedAt');
  const totalSize = r.u56('totalSize');
  const pieceLength = r.u56('pieceLength');
  const pieceCount = r.u56('pieceCount');
  const fileCount = r.u56('fileCount');
  const flags = r.u8('the flags');
  if ((flags & ~(FLAG_SINGLE_FILE | FLAG_PRIVATE | FLAG_NAME_TRUNCATED)) !== 0) bad(`unknown flags ${flags}`);
  const metaVersion = r.u8('metaVersion');
  if (metaVersion !== 1 && metaVersion !== 2) bad(`metaVersion ${metaVersion}`);
  const peer = r.bytes(r.u8('the peer length'), 'the peer').toString('latin1');
  if (!PEER_RE.test(peer)) bad('the peer label is not 3-64 printable ASCII characters');
  const nameLength = r.u16('the name length');
  if (nameLength > MAX_NAME_BYTES) bad(`a name of ${nameLength} bytes`);
  const name = Uint8Array.from(r.bytes(nameLength, 'the name'));
  const listed = r.u8('the file count');
  if (listed > MAX_STORED_FILES) bad(`${listed} files listed`);
  const files: MetadataContent['files'] = [];
  for (let i = 0; i < listed; i++) {
    const size = r.u56(`file ${i} size`);
    const head = r.u8(`file ${i} element count`);
    const elements = head & ~FILE_TRUNCATED;
    if (elements < 1 || elements > MAX_FILE_PATH_ELEMENTS) bad(`file ${i} has ${elements} path elements`);
    const path: Uint8Array[] = [];
    let total = 0;
    for (let j = 0; j < elements; j++) {
      const n = r.u16(`file ${i} element ${j} length`);
      total += n;
      if (total > MAX_FILE_PATH_BYTES) bad(`file ${i}: a path over ${MAX_FILE_PATH_BYTES} bytes`);
      path.push(Uint8Array.from(r.bytes(n, `file ${i} element ${j}`)));
    }
    files.push({ path, size, truncated: (head & FILE_TRUNCATED) !== 0 });
  }
  if (r.rest !== 0) bad(`${r.rest} bytes after the last file`);
  return {
    fetchedAt,
    peer,
    name,
    nameTruncated: (flags & FLAG_NAME_TRUNCATED) !== 0,
    totalSize,
    pieceLength,
    pieceCount,
    fileCount,
    singleFile: (flags & FLAG_SINGLE_FILE) !== 0,
    private: (flags & FLAG_PRIVATE) !== 0,
    metaVersion,
    files,
  };
}

/** The fetch time of a blob, read from the header alone (what a store's `stale` check needs). */
export function blobFetchedAt(blob: Uint8Array): number {
  if (blob.length < HEADER_BYTES || blob[0] !== METADATA_BLOB_FORMAT) bad('not a format-1 blob');
  return blob[1]! * U48 + Buffer.from(blob.buffer, blob.byteOffset, blob.length).readUIntBE(2, 6);
}

/** Schema 4's read form (metadata-store.ts StoredMetadata), display forms computed from the raw bytes. */
export function storedMetadataOf(c: MetadataContent): StoredMetadata {
  return {
    name: { display: displayText(c.name), raw: b64(c.name), truncated: c.nameTruncated },
    totalSize: c.totalSize,
    pieceLength: c.pieceLength,
    pieceCount: c.pieceCount,
    fileCount: c.fileCount,
    files: c.files.map((f) => ({ path: displayPath(f.path), raw: f.path.map(b64), size: f.size, truncated: f.truncated })),
    singleFile: c.singleFile,
    private: c.private,
    metaVersion: c.metaVersion,
    fetchedAt: c.fetchedAt,
    peer: c.peer,
  };
}
