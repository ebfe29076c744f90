import { type MetadataInput } from '../indexer/metadata-store.js';

/**
 * Torrents in SCHEMA.md's shape, for the metadata benchmarks (metadata-layout.ts, ingest.ts):
 * names of about 40 characters (title words from a Zipf-distributed vocabulary, then year,
 * resolution, source, codec and release group tags, as release names are), 1 to 10 files of
 * about 45 bytes of path each. Seeded, so runs compare.
 */

let seed = 7;
const rnd = (): number => {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
  return ((x ^ (x >>> 14)) >>> 0) / 4_294_967_296;
};
const pick = <X>(xs: readonly X[]): X => xs[Math.floor(rnd() * xs.length)]!;
/** Index in [0, n) with probability about 1/((i + 1) ln(n + 1)): a few words are common, most are rare. */
const zipf = (n: number): number => Math.min(n - 1, Math.floor((n + 1) ** rnd()) - 1);
const syllables = ['ka', 'ro', 'mi', 'te', 'su', 'na', 'lo', 'ver', 'dan', 'gal', 'tor', 'ben', 'qu', 'ix', 'el', 'ar', 'on', 'st', 'pre', 'man'];
const VOCABULARY = Array.from({ length: 5_000 }, () => {
  const w = Array.from({ length: 2 + Math.floor(rnd() * 2) }, () => pick(syllables)).join('');
  return w[0]!.toUpperCase() + w.slice(1);
});
const GROUPS = Array.from({ length: 400 }, () => Array.from({ length: 2 }, () => pick(syllables)).join('').toUpperCase());

function releaseName(): string {
  const parts = Array.from({ length: 2 + Math.floor(rnd() * 3) }, () => VOCABULARY[zipf(VOCABULARY.length)]!);
  if (rnd() < 0.8) parts.push(String(1980 + Math.floor(rnd() * 46)));
  if (rnd() < 0.7) parts.push(pick(['720p', '1080p', '1080p', '2160p']));
  if (rnd() < 0.5) parts.push(pick(['BluRay', 'WEB-DL', 'WEBRip', 'HDTV']));
  if (rnd() < 0.4) parts.push(pick(['x264', 'x265', 'H264', 'HEVC']));
  return `${parts.join('.')}-${GROUPS[zipf(GROUPS.length)]!}`;
}

/** One torrent's metadata. */
export function torrentSummary(): MetadataInput {
  const name = releaseName();
  const files = 1 + Math.floor(rnd() * 10);
  const list = Array.from({ length: files }, (_, i) => {
    // About 45 bytes of path: the file named after the release, in a folder for multi-file ones.
    const base = `${name}.part${i + 1}`.slice(0, files === 1 ? 41 : 24);
    const path = files === 1 ? [`${base}.mkv`] : [`${name}`.slice(0, 17), `${base}.mkv`];
    return { path: path.map((p) => ({ raw: Buffer.from(p) })), size: 1 + Math.floor(rnd() * 4e9) };
  });
  const total = list.reduce((n, f) => n + f.size, 0);
  return { name: { raw: Buffer.from(name) }, totalSize: total, pieceLength: 1 << 20, pieceCount: Math.ceil(total / (1 << 20)), fileCount: files, files: list, singleFile: files === 1, private: false, metaVersion: 1 };
}
