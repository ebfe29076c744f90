import { isCanonicalHexId } from '../bep5/node-id.js';
import { InvalidCursorError } from './errors.js';

/**
 * Paging cursors over the index's sorted sets (recent, popular, an infohash's peers).
 *
 * A cursor names the last item a client was given, as its (score, member), not as a rank.
 * The next page starts strictly after that position in the set's order (score descending,
 * then member descending, which is how Redis orders `ZRANGE … REV`). A rank would shift when
 * new items arrive at the top; a (score, member) position does not, so a client paging
 * through `recent` while a crawl adds infohashes never sees an item twice (see
 * `pageSortedSet` in queries.ts and "Reading: pages and cursors" in SCHEMA.md).
 *
 * On the wire a cursor is opaque: base64url of `[1, kind, score, member]`. The kind makes a
 * cursor from one list a clear error on another instead of a silently wrong page.
 */

export const CURSOR_KINDS = ['recent', 'popular', 'seeders', 'peers'] as const;
export type CursorKind = (typeof CURSOR_KINDS)[number];

export interface CursorPosition {
  score: number;
  member: string;
}

export interface Cursor extends CursorPosition {
  kind: CursorKind;
}

const FORMAT_VERSION = 1;
/** A cursor is at most this long: a 40-hex member or a 64-character address fits easily. */
export const MAX_CURSOR_LENGTH = 256;
const BASE64URL = /^[A-Za-z0-9_-]+$/;
/** What a Discovery may hold as a peer address (crawler/discovery.ts): printable, no spaces, 3–64 characters. */
const ADDRESS = /^[\x21-\x7e]{3,64}$/;

export function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify([FORMAT_VERSION, cursor.kind, cursor.score, cursor.member]), 'utf8').toString('base64url');
}

/** Parses and checks a cursor for the list `kind`; throws InvalidCursorError. */
export function decodeCursor(text: string, kind: CursorKind): Cursor {
  if (text.length === 0 || text.length > MAX_CURSOR_LENGTH || !BASE64URL.test(text)) {
    throw new InvalidCursorError(`cursor must be the nextCursor of a previous page (at most ${MAX_CURSOR_LENGTH} base64url characters)`);
  }
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    value = undefined;
  }
  if (!Array.isArray(value) || value.length !== 4 || value[0] !== FORMAT_VERSION) {
    throw new InvalidCursorError('cursor is not a dhtscope cursor: pass the nextCursor of a previous page unchanged');
  }
  const [, k, score, member] = value as [unknown, unknown, unknown, unknown];
  if (!CURSOR_KINDS.includes(k as CursorKind)) throw new InvalidCursorError('cursor is not a dhtscope cursor: pass the nextCursor of a previous page unchanged');
  if (k !== kind) throw new InvalidCursorError(`cursor belongs to the ${String(k)} list, not to ${kind}`);
  if (typeof score !== 'number' || !Number.isFinite(score) || typeof member !== 'string' || !(kind === 'peers' ? ADDRESS.test(member) : isCanonicalHexId(member))) {
    throw new InvalidCursorError('cursor is damaged: pass the nextCursor of a previous page unchanged');
  }
  return { kind, score, member };
}
