/**
 * Turns untrusted bytes (torrent names, paths, client names) into a string that is safe to
 * print in a terminal or a log line (HTML still needs its own escaping), and unambiguous:
 *
 * - well-formed UTF-8 is kept as text, except characters that change how text is shown rather
 *   than being shown: controls (C0, DEL, C1), format characters (bidi overrides, zero-width
 *   joiners, BOM...) and line/paragraph separators, written as `\u{202e}`;
 * - bytes that are not part of well-formed UTF-8 are written as `\xff`;
 * - a backslash is doubled, so every escape above can only come from escaping: two different
 *   inputs never display the same.
 *
 * The input is never decoded leniently (no U+FFFD replacement hiding what the bytes were).
 */

/** Characters shown escaped even though they are valid UTF-8 (see above). */
const HIDDEN = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;

const BACKSLASH = 0x5c;

export function displayText(bytes: Uint8Array, extraEscapes = ''): string {
  let out = '';
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i] as number;
    if (b < 0x80) {
      if (b === BACKSLASH) out += '\\\\';
      else if (b < 0x20 || b === 0x7f || extraEscapes.includes(String.fromCharCode(b))) out += hexByte(b);
      else out += String.fromCharCode(b);
      i++;
      continue;
    }
    const len = utf8SequenceLength(bytes, i);
    if (len === 0) {
      out += hexByte(b);
      i++;
      continue;
    }
    const cp = codePointAt(bytes, i, len);
    const ch = String.fromCodePoint(cp);
    out += HIDDEN.test(ch) ? `\\u{${cp.toString(16)}}` : ch;
    i += len;
  }
  return out;
}

function hexByte(b: number): string {
  return `\\x${b.toString(16).padStart(2, '0')}`;
}

/**
 * Length of the well-formed UTF-8 sequence starting at `i` (RFC 3629 table 3-7: no overlong
 * forms, no surrogates, nothing above U+10FFFF), or 0 if the bytes there are not one.
 */
function utf8SequenceLength(bytes: Uint8Array, i: number): number {
  const b0 = bytes[i] as number;
  let len: number;
  let lo = 0x80;
  let hi = 0xbf;
  if (b0 >= 0xc2 && b0 <= 0xdf) len = 2;
  else if (b0 >= 0xe0 && b0 <= 0xef) {
    len = 3;
    if (b0 === 0xe0) lo = 0xa0;
    else if (b0 === 0xed) hi = 0x9f;
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    len = 4;
    if (b0 === 0xf0) lo = 0x90;
    else if (b0 === 0xf4) hi = 0x8f;
  } else return 0;
  if (i + len > bytes.length) return 0;
  const b1 = bytes[i + 1] as number;
  if (b1 < lo || b1 > hi) return 0;
  for (let k = 2; k < len; k++) {
    const b = bytes[i + k] as number;
    if (b < 0x80 || b > 0xbf) return 0;
  }
  return len;
}

function codePointAt(bytes: Uint8Array, i: number, len: number): number {
  const b0 = bytes[i] as number;
  let cp = len === 2 ? b0 & 0x1f : len === 3 ? b0 & 0x0f : b0 & 0x07;
  for (let k = 1; k < len; k++) cp = (cp << 6) | ((bytes[i + k] as number) & 0x3f);
  return cp;
}
