import { MAX_TOKEN_CHARS, NOISE_TOKENS } from './metadata-constants.js';

/**
 * Turns a torrent name (or a search query: both go through the same function, so what is
 * indexed and what is asked for always agree) into search tokens:
 *
 * 1. NFKC (full-width `Ｕｂｕｎｔｕ` → `ubuntu`, ligatures `ﬁ` → `fi`), lowercase, then
 *    diacritics removed from Latin and Greek letters (`Amélie` → `amelie`, `İ` → `i`) and
 *    final sigma folded (`ς` → `σ`). Other scripts keep their marks: in Devanagari or
 *    Japanese kana they are part of the letter.
 * 2. Words are maximal runs of letters, digits and combining marks (`\p{L}\p{N}\p{M}`);
 *    everything else separates them (spaces, `.`, `_`, `-`, brackets, controls, bidi
 *    overrides, U+FFFD from bytes that are not UTF-8).
 * 3. Han, Hiragana and Katakana are written without spaces, so runs of them become
 *    overlapping pairs (`進撃の巨人` → `進撃 撃の の巨 巨人`): a query for any two-character
 *    part of a title matches, and a longer query matches as the AND of its pairs.
 * 4. Tokens of one character and NOISE_TOKENS (`the`, `www`, …) are dropped; tokens are cut
 *    at MAX_TOKEN_CHARS characters. Duplicates are dropped, first occurrence kept.
 *
 * File paths are not indexed, only the torrent's name: names carry the title, while paths
 * repeat the same few words across torrents (`sample`, `subs`, `cd1`) and would multiply the
 * size of the index (up to 100 files per torrent) for little gain.
 */

const WORD = /[\p{L}\p{N}\p{M}]+/gu;
const CJK = /[\p{scx=Han}\p{scx=Hiragana}\p{scx=Katakana}]/u;
const CJK_RUNS = /[\p{scx=Han}\p{scx=Hiragana}\p{scx=Katakana}]+|[^\p{scx=Han}\p{scx=Hiragana}\p{scx=Katakana}]+/gu;
/** Nonspacing marks after a Latin or Greek letter (after NFD). */
const FOLDED_MARKS = /([\p{scx=Latin}\p{scx=Greek}])\p{Mn}+/gu;

/** The text as tokens are made from it: NFKC, lowercase, Latin/Greek diacritics removed. */
export function foldText(text: string): string {
  return text
    .normalize('NFKC')
    .toLowerCase()
    .normalize('NFD')
    .replace(FOLDED_MARKS, '$1')
    .normalize('NFC')
    .replaceAll('ς', 'σ');
}

/** Distinct tokens of `text`, in order of first appearance, at most `max`. */
export function tokenize(text: string, max = Infinity): string[] {
  const out = new Set<string>();
  const add = (chars: string[]): void => {
    if (chars.length < 2) return;
    const token = chars.slice(0, MAX_TOKEN_CHARS).join('');
    if (!NOISE_TOKENS.has(token)) out.add(token);
  };
  for (const word of foldText(text).match(WORD) ?? []) {
    for (const part of word.match(CJK_RUNS) ?? []) {
      const chars = [...part];
      if (CJK.test(chars[0]!)) {
        for (let i = 0; i + 1 < chars.length; i++) add(chars.slice(i, i + 2));
      } else add(chars);
      if (out.size >= max) return [...out].slice(0, max);
    }
  }
  return [...out];
}

/** Tokens of a name given as raw bytes: decoded as UTF-8, where invalid bytes separate words. */
export function tokenizeName(raw: Uint8Array, max: number): string[] {
  return tokenize(new TextDecoder('utf-8', { fatal: false, ignoreBOM: true }).decode(raw), max);
}

/** What a token looks like (keys.ts checks it before using one in a key name). */
export const TOKEN_RE = /^[\p{L}\p{N}\p{M}]{2,}$/u;
