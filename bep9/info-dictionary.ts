import { decode, type BencodeDict, type BencodeValue } from '../bep5/bencode.js';
import { BencodeDecodeError, FieldError } from '../bep5/errors.js';
import { getField, isDict, optionalBytes, optionalInt, requireBytes, requireInt } from '../bep5/fields.js';
import { DEFAULT_MAX_LISTED_FILES, INFO_MAX_DEPTH, MAX_PATH_ELEMENTS, MAX_TEXT_BYTES } from './constants.js';
import { displayText } from '../bep5/display-text.js';
import { MetadataInvalidError } from './errors.js';

/**
 * Decodes and checks a verified info dict (BEP 3, with BEP 47 pad files and BEP 52 hybrids
 * read through their v1 fields) and summarises it. Nothing in it is trusted: strings are kept
 * as raw bytes (cut at MAX_TEXT_BYTES) next to an escaped display form, numbers must be safe
 * integers, and the piece count must match the total size, as libtorrent requires.
 */

/** An untrusted string from the torrent: raw bytes plus an escaped, printable form (see display-text.ts). */
export interface TorrentText {
  /** The bytes as the torrent has them, cut at MAX_TEXT_BYTES. */
  raw: Buffer;
  display: string;
  /** True if `raw` was cut. */
  truncated: boolean;
}

export interface InfoFile {
  /** Path elements, in order (for a single-file torrent: just the name). */
  path: TorrentText[];
  /** Elements' display forms joined with '/', where a '/' inside an element shows as \x2f. */
  displayPath: string;
  size: number;
  /** True if the path had more than MAX_PATH_ELEMENTS elements or one of them was cut. */
  truncated: boolean;
}

export interface InfoSummary {
  name: TorrentText;
  /** Sum of the file sizes, BEP 47 pad files excluded (what a user downloads). */
  totalSize: number;
  pieceLength: number;
  pieceCount: number;
  /** Files, pad files excluded. A single-file torrent has 1. */
  fileCount: number;
  /** The first `maxListedFiles` files (pad files excluded), in torrent order. */
  files: InfoFile[];
  /** True for a single-file torrent (`length` instead of `files`). */
  singleFile: boolean;
  /** BEP 27 `private` flag. */
  private: boolean;
  /** 2 for a BEP 52 hybrid (`meta version` 2), else 1. */
  metaVersion: number;
}

export interface InfoParseOptions {
  maxListedFiles?: number;
}

const SHA1_BYTES = 20;

/** Throws MetadataInvalidError if `info` is not an info dict we accept. */
export function parseInfoDictionary(info: Buffer, options: InfoParseOptions = {}): InfoSummary {
  const maxListed = options.maxListedFiles ?? DEFAULT_MAX_LISTED_FILES;
  let value: BencodeValue;
  try {
    value = decode(info, { maxBytes: info.length, maxDepth: INFO_MAX_DEPTH });
  } catch (err) {
    if (err instanceof BencodeDecodeError) throw new MetadataInvalidError(`bencode: ${err.reason} at byte ${err.offset}`, err);
    throw err;
  }
  if (!isDict(value)) throw new MetadataInvalidError('not a dictionary');
  try {
    return summarize(value, maxListed);
  } catch (err) {
    if (err instanceof FieldError) throw new MetadataInvalidError(err.reason, err);
    throw err;
  }
}

function summarize(dict: BencodeDict, maxListed: number): InfoSummary {
  const name = requireBytes(dict, 'name');
  const pieceLength = requireInt(dict, 'piece length', { min: 1 });
  const pieces = requireBytes(dict, 'pieces');
  if (pieces.length % SHA1_BYTES !== 0) throw new FieldError('pieces is not a multiple of 20 bytes');
  const pieceCount = pieces.length / SHA1_BYTES;
  const length = optionalInt(dict, 'length', { min: 0 });
  const filesValue = getField(dict, 'files');
  if ((length === undefined) === (filesValue === undefined)) throw new FieldError('exactly one of length and files is required');

  const files: InfoFile[] = [];
  let fileCount = 0;
  let totalSize = 0;
  let spannedSize = 0; // pad files included: what the pieces cover
  if (length !== undefined) {
    fileCount = 1;
    totalSize = spannedSize = length;
    if (maxListed > 0) files.push(fileEntry([name], length));
  } else {
    if (!Array.isArray(filesValue)) throw new FieldError('files must be a list');
    for (const entry of filesValue) {
      const file = readFile(entry);
      spannedSize = safeAdd(spannedSize, file.size);
      if (file.padding) continue;
      totalSize += file.size;
      fileCount++;
      if (files.length < maxListed) files.push(fileEntry(file.path, file.size));
    }
  }
  const expectedPieces = Math.ceil(spannedSize / pieceLength);
  if (pieceCount !== expectedPieces) throw new FieldError(`${pieceCount} piece hashes for ${expectedPieces} pieces`);
  return {
    name: torrentText(name),
    totalSize,
    pieceLength,
    pieceCount,
    fileCount,
    files,
    singleFile: length !== undefined,
    private: optionalInt(dict, 'private') === 1,
    metaVersion: optionalInt(dict, 'meta version') === 2 ? 2 : 1,
  };
}

interface RawFile {
  path: Buffer[];
  size: number;
  padding: boolean;
}

function readFile(entry: BencodeValue): RawFile {
  if (!isDict(entry)) throw new FieldError('a files entry is not a dictionary');
  const size = requireInt(entry, 'length', { min: 0 });
  const path = getField(entry, 'path');
  if (!Array.isArray(path) || path.length === 0) throw new FieldError('a file path must be a non-empty list');
  for (const element of path) if (!Buffer.isBuffer(element)) throw new FieldError('a file path element is not a string');
  const attr = optionalBytes(entry, 'attr');
  return { path: path as Buffer[], size, padding: attr?.includes('p') ?? false };
}

function safeAdd(a: number, b: number): number {
  const sum = a + b;
  if (!Number.isSafeInteger(sum)) throw new FieldError('total size is not a safe integer');
  return sum;
}

function fileEntry(path: Buffer[], size: number): InfoFile {
  const kept = path.slice(0, MAX_PATH_ELEMENTS).map(torrentText);
  return {
    path: kept,
    displayPath: kept.map((t) => displayText(t.raw, '/')).join('/'),
    size,
    truncated: path.length > MAX_PATH_ELEMENTS || kept.some((t) => t.truncated),
  };
}

function torrentText(bytes: Buffer): TorrentText {
  // A copy: the summary must not keep the whole info dict alive through a view.
  const raw = Buffer.from(bytes.subarray(0, MAX_TEXT_BYTES));
  return { raw, display: displayText(raw), truncated: bytes.length > MAX_TEXT_BYTES };
}
