/**
 * What the bencode-hostile-*.test.ts files share: latin1 byte strings and the time budget every
 * rejection must meet.
 */

/** Bytes of a latin1 string: one byte per char, so `\xff` is the byte 0xff. */
export const b = (s: string): Buffer => Buffer.from(s, 'latin1');

/** Generous for a 2-core CI box; the known-bad decoders take seconds or never return. */
export const QUICK_MS = 50;
