/**
 * The standard Newznab/Torznab category of a torrent, from its name and its files' extensions.
 * The DHT gives no category, and Sonarr and Radarr only take results in the categories they
 * are set up for (Sonarr's default is 5030 and 5040, Radarr's 2000 and its subcategories), so
 * an unclassified result would be invisible to them.
 *
 * 1. When files are known, the kind (video, audio, PC, book) holding the most bytes among the
 *    listed files wins: an album's bonus video or a film's stray .exe does not decide, its
 *    largest files do. Files of no known kind (archives, images, .nfo) are not counted; when
 *    only those are listed, the name decides, as for a torrent whose files were not fetched.
 * 2. From the name: its own extension (single-file torrents), then SxxEyy or "Season N", then
 *    release tags only video has (1080p, x264, WEB-DL...), then audio and book words.
 * 3. Video is TV (5000) when the name has SxxEyy, Sxx or "season N", else Movies (2000);
 *    the resolution in the name gives the SD / HD / UHD subcategory when it is there.
 */

export interface CategoryNode {
  id: number;
  name: string;
  subcats: ReadonlyArray<{ id: number; name: string }>;
}

/** What caps lists: the parents of every kind, with the subcategories `classify` can assign. */
export const CATEGORY_TREE: readonly CategoryNode[] = [
  { id: 2000, name: 'Movies', subcats: [{ id: 2030, name: 'Movies/SD' }, { id: 2040, name: 'Movies/HD' }, { id: 2045, name: 'Movies/UHD' }] },
  { id: 3000, name: 'Audio', subcats: [{ id: 3010, name: 'Audio/MP3' }, { id: 3030, name: 'Audio/Audiobook' }, { id: 3040, name: 'Audio/Lossless' }] },
  {
    id: 4000,
    name: 'PC',
    subcats: [{ id: 4020, name: 'PC/ISO' }, { id: 4030, name: 'PC/Mac' }, { id: 4060, name: 'PC/Mobile-iOS' }, { id: 4070, name: 'PC/Mobile-Android' }],
  },
  { id: 5000, name: 'TV', subcats: [{ id: 5030, name: 'TV/SD' }, { id: 5040, name: 'TV/HD' }, { id: 5045, name: 'TV/UHD' }] },
  { id: 7000, name: 'Books', subcats: [{ id: 7020, name: 'Books/EBook' }, { id: 7030, name: 'Books/Comics' }] },
  { id: 8000, name: 'Other', subcats: [] },
];

export const MOVIES = 2000;
export const AUDIO = 3000;
export const PC = 4000;
export const TV = 5000;
export const BOOKS = 7000;
export const OTHER = 8000;

export interface Classification {
  /** The parent category (2000, 3000, 4000, 5000, 7000 or 8000). */
  parent: number;
  /** A subcategory of `parent` when the name or files tell one (5040 TV/HD...), else null. */
  sub: number | null;
}

type Kind = 'video' | 'audio' | 'pc' | 'book';

/** Extensions of each kind, with the subcategory they imply (null: only the parent). */
const EXTENSION_GROUPS: ReadonlyArray<{ kind: Kind; sub: number | null; extensions: string }> = [
  { kind: 'video', sub: null, extensions: 'mkv mp4 m4v avi mov wmv mpg mpeg ts m2ts webm flv vob ogv divx 3gp rmvb' },
  { kind: 'audio', sub: 3010, extensions: 'mp3' },
  { kind: 'audio', sub: 3040, extensions: 'flac ape wav alac aiff aif wv dsf dff' },
  { kind: 'audio', sub: 3030, extensions: 'm4b' },
  { kind: 'audio', sub: null, extensions: 'ogg oga opus m4a aac wma mka' },
  { kind: 'pc', sub: 4020, extensions: 'iso img' },
  { kind: 'pc', sub: 4030, extensions: 'dmg pkg' },
  { kind: 'pc', sub: 4070, extensions: 'apk xapk' },
  { kind: 'pc', sub: 4060, extensions: 'ipa' },
  { kind: 'pc', sub: null, extensions: 'exe msi msix appimage deb rpm' },
  { kind: 'book', sub: 7020, extensions: 'epub pdf mobi azw azw3 djvu fb2 lit chm' },
  { kind: 'book', sub: 7030, extensions: 'cbz cbr cb7' },
];

const EXTENSIONS: ReadonlyMap<string, { kind: Kind; sub: number | null }> = new Map(
  EXTENSION_GROUPS.flatMap(({ kind, sub, extensions }) => extensions.split(' ').map((e) => [e, { kind, sub }] as const)),
);

const PARENT_OF_KIND: Readonly<Record<Kind, number>> = { video: MOVIES, audio: AUDIO, pc: PC, book: BOOKS };

// Names separate words with spaces, dots, dashes, underscores and brackets: a "word" boundary
// is any character that is not a letter or digit.
const B = '(?<![a-z0-9])';
const E = '(?![a-z0-9])';

// SxxEyy and "Season N" say TV by themselves; a bare Sxx only next to other signs of video
// ("Galaxy S21 firmware" is not an episode).
const TV_STRONG = [new RegExp(`${B}s\\d{1,3}[ ._-]?e\\d{1,4}(?![0-9])`, 'i'), new RegExp(`${B}seasons?[ ._-]*\\d{1,2}(?![0-9])`, 'i')];
const TV_SEASON = new RegExp(`${B}s\\d{1,2}${E}`, 'i');

const UHD = new RegExp(`${B}(?:2160p|4k|uhd)${E}`, 'i');
const HD = new RegExp(`${B}(?:720p|1080p|1080i)${E}`, 'i');
const SD = new RegExp(`${B}(?:480p|576p|360p|dvdrip|sdtv|xvid|divx)${E}`, 'i');
const VIDEO_TAGS = new RegExp(`${B}(?:x264|x265|h\\.?264|h\\.?265|hevc|avc|bluray|blu-ray|bdrip|brrip|webrip|web-?dl|hdtv|hdrip|dvdrip|remux|xvid|divx)${E}`, 'i');
const AUDIO_WORDS = new RegExp(`${B}(?:flac|mp3|aac|320kbps|lossless|discography)${E}`, 'i');
const BOOK_WORDS = new RegExp(`${B}(?:epub|mobi|azw3|ebooks?)${E}`, 'i');

/** Whether a video's name says it is TV: SxxEyy, Sxx or "season N". */
export function hasTvMarker(text: string): boolean {
  return TV_STRONG.some((re) => re.test(text)) || TV_SEASON.test(text);
}

function extensionOf(name: string): string {
  const base = name.slice(name.lastIndexOf('/') + 1);
  const dot = base.lastIndexOf('.');
  return dot <= 0 ? '' : base.slice(dot + 1).toLowerCase();
}

function resolutionSub(parent: number, texts: readonly string[]): number | null {
  // TV's SD / HD / UHD are Movies' ids plus 3000 (5030 / 5040 / 5045).
  const offset = parent - MOVIES;
  for (const [re, sub] of [[UHD, 2045], [HD, 2040], [SD, 2030]] as const) if (texts.some((t) => re.test(t))) return sub + offset;
  return null;
}

function video(name: string, largestVideo: string | null): Classification {
  const texts = largestVideo === null ? [name] : [name, largestVideo];
  const parent = texts.some(hasTvMarker) ? TV : MOVIES;
  return { parent, sub: resolutionSub(parent, texts) };
}

/** From the name alone: when no file is listed, or none of a known kind. */
function fromName(name: string): Classification {
  const own = EXTENSIONS.get(extensionOf(name));
  if (own !== undefined) return own.kind === 'video' ? video(name, null) : { parent: PARENT_OF_KIND[own.kind], sub: own.sub };
  if (TV_STRONG.some((re) => re.test(name)) || VIDEO_TAGS.test(name) || UHD.test(name) || HD.test(name) || SD.test(name)) return video(name, null);
  if (AUDIO_WORDS.test(name)) return { parent: AUDIO, sub: /flac|lossless/i.test(name) ? 3040 : /mp3|320kbps/i.test(name) ? 3010 : null };
  if (BOOK_WORDS.test(name)) return { parent: BOOKS, sub: 7020 };
  return { parent: OTHER, sub: null };
}

/**
 * `name` is the torrent's name (display form), `files` its listed files (paths as stored,
 * `/`-separated) with their sizes; an empty list when the files are not known.
 */
export function classify(name: string, files: ReadonlyArray<{ path: string; size: number }>): Classification {
  const bytes = new Map<Kind, number>();
  const bySub = new Map<string, number>();
  let largestVideo: { path: string; size: number } | null = null;
  for (const f of files) {
    const ext = EXTENSIONS.get(extensionOf(f.path));
    if (ext === undefined) continue;
    // +1: a listed file of a known kind counts even when empty.
    bytes.set(ext.kind, (bytes.get(ext.kind) ?? 0) + f.size + 1);
    const key = `${ext.kind}:${ext.sub ?? ''}`;
    bySub.set(key, (bySub.get(key) ?? 0) + f.size + 1);
    if (ext.kind === 'video' && (largestVideo === null || f.size > largestVideo.size)) largestVideo = f;
  }
  if (bytes.size === 0) return fromName(name);
  const kind = [...bytes].sort((a, b) => b[1] - a[1])[0]![0];
  if (kind === 'video') return video(name, largestVideo?.path ?? null);
  const sub = [...bySub].filter(([k]) => k.startsWith(`${kind}:`)).sort((a, b) => b[1] - a[1])[0]![0].split(':')[1]!;
  return { parent: PARENT_OF_KIND[kind], sub: sub === '' ? null : Number(sub) };
}

/** The ids an item is listed under: its subcategory first when it has one, then its parent. */
export function categoryIds(c: Classification): number[] {
  return c.sub === null ? [c.parent] : [c.sub, c.parent];
}

/** The parent of a standard category id (1000-8999), else null (site-specific ids such as 100001). */
export function parentOf(id: number): number | null {
  return id >= 1000 && id < 9000 ? Math.floor(id / 1000) * 1000 : null;
}

/**
 * Whether an item belongs to any of the `wanted` categories: its subcategory or its parent is
 * asked for, or it has no subcategory and a subcategory of its parent is asked for (an episode
 * whose name gives no resolution still answers Sonarr's 5030,5040).
 */
export function inCategories(c: Classification, wanted: ReadonlySet<number>): boolean {
  if (wanted.has(c.parent) || (c.sub !== null && wanted.has(c.sub))) return true;
  if (c.sub !== null) return false;
  for (const id of wanted) if (parentOf(id) === c.parent) return true;
  return false;
}
