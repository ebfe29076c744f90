/**
 * The pure parts of the Torznab endpoint (server/torznab/): the category classifier, the
 * parameter checks and episode patterns, the XML escaping (checked with a real XML parser,
 * expat through python3) and the magnet link and swarm figures of a feed item.
 */
import test from 'ava';
import fc from 'fast-check';
import { type Classification, classify, inCategories } from '../server/torznab/classify.js';
import { magnetLink, swarmFigures } from '../server/torznab/feed.js';
import { TorznabError, type TorznabSearch, parseTorznabRequest } from '../server/torznab/params.js';
import { escapeXml, xmlChars } from '../server/torznab/xml.js';
import { params } from './helpers/fast-check.js';
import { parseXml, parseXmlDocuments } from './helpers/xml.js';

const GB = 1_000_000_000;
const f = (path: string, size: number) => ({ path, size });
const cat = (parent: number, sub: number | null = null): Classification => ({ parent, sub });

test('classify: TV from SxxEyy, Sxx or "season N" on video, with the resolution as subcategory', (t) => {
  t.deepEqual(classify('Show.Name.S02E03.1080p.WEB-DL.x264', [f('Show.Name.S02E03.1080p.mkv', 1.5 * GB), f('Sample/sample.mkv', 50e6), f('show.nfo', 900)]), cat(5000, 5040));
  t.deepEqual(classify('Show Name Season 2 Complete 720p', [f('Show Name/e01.mkv', GB), f('Show Name/e02.mkv', GB)]), cat(5000, 5040));
  t.deepEqual(classify('Show.Name.S01.2160p', [f('a.mkv', 4 * GB)]), cat(5000, 5045));
  t.deepEqual(classify('Show.Name.S01.Complete', [f('a.mkv', 4 * GB)]), cat(5000), 'no resolution: the parent only');
  t.deepEqual(classify('show.name.s01e01.480p', []), cat(5000, 5030), 'lower case, from the name alone');
  t.deepEqual(classify('Show Name Complete', [f('Show Name/Show.Name.S01E01.720p.mkv', GB)]), cat(5000, 5040), 'the marker may be in the largest video file only');
  t.deepEqual(classify('Show.Name.S02E03.720p.HDTV', [f('show.rar', 50e6), f('show.r00', 50e6), f('show.nfo', 100)]), cat(5000, 5040), 'scene archives: the name decides');
});

test('classify: Movies for video without a TV marker', (t) => {
  t.deepEqual(classify('Some.Movie.2019.1080p.BluRay.x264', [f('Some.Movie.2019.1080p.BluRay.x264.mkv', 8 * GB), f('Sample/sample.mkv', 80e6)]), cat(2000, 2040));
  t.deepEqual(classify('Some Movie (2019)', [f('movie.mp4', 2 * GB)]), cat(2000));
  t.deepEqual(classify('Some.Movie.2019.2160p.UHD.BluRay', []), cat(2000, 2045), 'release tags alone say video');
  t.deepEqual(classify('Some Movie 2019 DVDRip XviD', [f('movie.avi', 700e6)]), cat(2000, 2030));
  t.deepEqual(classify('Movie.2019.mkv', []), cat(2000), "a single file's name is its extension");
  t.deepEqual(classify('Some Movie', [f('movie.mkv', 2 * GB), f('setup.exe', 3e6)]), cat(2000), 'a stray .exe does not decide');
});

test('classify: Audio, PC, Books by the extensions holding the most bytes; Other otherwise', (t) => {
  const album = (ext: string) => Array.from({ length: 10 }, (_, i) => f(`Album/${i + 1}.${ext}`, 30e6));
  t.deepEqual(classify('Artist - Album (2020) [FLAC]', [...album('flac'), f('Album/cover.jpg', 2e6), f('Album/rip.log', 3000)]), cat(3000, 3040));
  t.deepEqual(classify('Artist - Album (2020)', album('mp3')), cat(3000, 3010));
  t.deepEqual(classify('Artist - Album (2020)', album('ogg')), cat(3000));
  t.deepEqual(classify('Some Audiobook', [f('book.m4b', 400e6)]), cat(3000, 3030));
  t.deepEqual(classify('Artist - Album + video', [...album('flac'), f('Album/video.mkv', 100e6)]), cat(3000, 3040), 'more audio bytes than video');
  t.deepEqual(classify('Artist - Live', [...album('flac'), f('Live.mkv', 4 * GB)]), cat(2000), 'more video bytes than audio');
  t.deepEqual(classify('Ubuntu 24.04 Desktop', [f('ubuntu-24.04-desktop-amd64.iso', 6 * GB)]), cat(4000, 4020));
  t.deepEqual(classify('Some Game', [f('setup.exe', 2e6), f('data1.bin', 4 * GB)]), cat(4000), 'the only file of a known kind');
  t.deepEqual(classify('App.apk', []), cat(4000, 4070));
  t.deepEqual(classify('Tool for Mac', [f('tool.dmg', 100e6)]), cat(4000, 4030));
  t.deepEqual(classify('Book Title', [f('Book Title.epub', 2e6)]), cat(7000, 7020));
  t.deepEqual(classify('Comic 001', [f('Comic 001.cbz', 50e6)]), cat(7000, 7030));
  t.deepEqual(classify('Paper.pdf', []), cat(7000, 7020));
  t.deepEqual(classify('Holiday photos', [f('a.jpg', 5e6), f('b.jpg', 5e6)]), cat(8000));
  t.deepEqual(classify('random stuff', []), cat(8000));
  t.deepEqual(classify('Samsung Galaxy S21 firmware', [f('fw.zip', GB)]), cat(8000), 'a bare Sxx alone is not TV');
  t.deepEqual(classify('Galaxy S21 review 1080p', []), cat(5000, 5040), 'a bare Sxx next to other signs of video is');
});

test('inCategories: the subcategory or the parent asked; an item without a subcategory answers any subcategory of its parent', (t) => {
  const hd = cat(5000, 5040);
  t.true(inCategories(hd, new Set([5040])));
  t.true(inCategories(hd, new Set([5000])));
  t.true(inCategories(hd, new Set([2000, 5040])));
  t.false(inCategories(hd, new Set([5030])));
  t.false(inCategories(hd, new Set([2000, 2040])));
  t.true(inCategories(cat(5000), new Set([5030, 5040])), "Sonarr's default categories take an episode of unknown resolution");
  t.false(inCategories(cat(5000), new Set([2040])));
  t.false(inCategories(cat(8000), new Set([100001])), 'a site-specific id matches nothing');
});

const search = (query: Record<string, unknown>): TorznabSearch => {
  const r = parseTorznabRequest(query);
  if (r.fn === 'caps') throw new Error('expected a search');
  return r;
};

function torznabError(t: import('ava').ExecutionContext, query: Record<string, unknown>, code: number): void {
  const err = t.throws(() => parseTorznabRequest(query), { instanceOf: TorznabError }, JSON.stringify(query));
  t.is(err?.code, code, JSON.stringify(query));
}

test('parameters: functions, limits, offsets, categories and their Torznab error codes', (t) => {
  t.deepEqual(parseTorznabRequest({ t: 'caps', apikey: 'k' }), { fn: 'caps' });
  t.deepEqual(parseTorznabRequest({ t: 'CAPS' }), { fn: 'caps' });
  t.deepEqual(search({ t: 'search', q: 'Ubuntu desktop', extended: '1', imdbid: 'tt0111161' }), {
    fn: 'search',
    query: { q: 'Ubuntu desktop', tokens: ['ubuntu', 'desktop'] },
    limit: 50,
    offset: 0,
    categories: null,
    episode: null,
  });
  t.is(search({ t: 'search' }).query, null, 'no q: the recent list');
  t.is(search({ t: 'movie', q: '  ' }).query, null);
  t.deepEqual(search({ t: 'search', q: 'a' }).query, { q: 'a', tokens: [] }, 'words without a searchable one: no results, not an error');
  t.is(search({ t: 'search', limit: '500' }).limit, 100, 'cut to the maximum, as Jackett does');
  t.is(search({ t: 'search', limit: '7', offset: '20' }).offset, 20);
  t.deepEqual(search({ t: 'tvsearch', cat: '5030, 5040,' }).categories, new Set([5030, 5040]));
  t.deepEqual(search({ t: 'tvsearch', cat: ['5030', '2000,3000'] }).categories, new Set([5030, 2000, 3000]));
  t.is(search({ t: 'search', cat: '' }).categories, null);
  t.is(search({ t: 'search', season: '2', ep: '3' }).episode, null, 'season and ep only narrow tvsearch');

  torznabError(t, {}, 200);
  torznabError(t, { t: '' }, 200);
  torznabError(t, { t: 'nosuch' }, 202);
  torznabError(t, { t: 'music', q: 'x' }, 203);
  torznabError(t, { t: 'book' }, 203);
  torznabError(t, { t: ['search', 'caps'] }, 201);
  for (const limit of ['0', 'abc', '-1', '1.5', ['1', '2']]) torznabError(t, { t: 'search', limit }, 201);
  for (const offset of ['-1', 'x', '1e3']) torznabError(t, { t: 'search', offset }, 201);
  torznabError(t, { t: 'search', cat: '5000,tv' }, 201);
  torznabError(t, { t: 'search', q: 'x'.repeat(201) }, 201);
  torznabError(t, { t: 'search', q: Array.from({ length: 17 }, (_, i) => `word${i}`).join(' ') }, 201);
  torznabError(t, { t: 'tvsearch', q: 'show', season: 'two' }, 201);
  torznabError(t, { t: 'tvsearch', q: 'show', ep: '3' }, 201);
  torznabError(t, { t: 'tvsearch', q: 'show', season: '2', ep: 'x' }, 201);
  torznabError(t, { t: 'tvsearch', q: 'show', season: '2', ep: '03/15' }, 201);
});

test('episode patterns: SxxEyy and Sxx whole, in either case; daily shows by date', (t) => {
  const episode = (query: Record<string, string>) => search({ t: 'tvsearch', q: 'show', ...query }).episode!;
  const s2e3 = episode({ season: '2', ep: '3' });
  for (const name of ['Show.S02E03.720p', 'show s02e03 x264', 'Show.S2E3', 'Show.S02E03E04', 'Show.S02.E03', 'Show S02E03']) t.true(s2e3.test(name), name);
  for (const name of ['Show.S02E030', 'Show.S12E03', 'Show.S02E13', 'Show.S01E03', 'Show.S02', 'ShowS02E03']) t.false(s2e3.test(name), name);
  const s2 = episode({ season: '2' });
  for (const name of ['Show.S02E05.720p', 'Show.S02.Complete', 'Show Season 2', 'show.season.02', 'Show.S2E1']) t.true(s2.test(name), name);
  for (const name of ['Show.S03E02', 'Show.S20E01', 'Show.S12', 'Show Season 12']) t.false(s2.test(name), name);
  const daily = episode({ season: '2024', ep: '3/15' });
  for (const name of ['Show.2024.03.15.720p', 'Show 2024-03-15', 'Show 20240315']) t.true(daily.test(name), name);
  for (const name of ['Show.2024.03.16', 'Show.2024.04.15', 'Show.12024.03.15']) t.false(daily.test(name), name);
});

test('escapeXml: any string, lone surrogates and controls included, parses back as itself less what XML forbids', async (t) => {
  const fixed = ['a <b> & "c" \'d\'', '\x00\x01\x08\x0b\x0c\x1f\x7f', '\uFFFE\uFFFF\uFFFD', '\uD800 lone \uDFFF', '😀 paired', 'tab\tnl\ncr\r', ']]> <!-- --> <?pi?> &amp;'];
  const samples = [...fixed, ...fc.sample(fc.string({ unit: 'binary', maxLength: 40 }), params<string>(300))];
  const docs = samples.map((s) => `<r a="${escapeXml(s)}" b='${escapeXml(s)}'>${escapeXml(s)}</r>`);
  const parsed = await parseXmlDocuments(docs);
  for (const [i, s] of samples.entries()) {
    const res = parsed[i]!;
    if ('error' in res) return t.fail(`${JSON.stringify(s)} gave a document that is not well-formed: ${res.error}`);
    // The parser normalizes a literal carriage return in text (XML end-of-line handling); escaped, it is kept.
    t.deepEqual([res.tree.text, res.tree.attrs['a'], res.tree.attrs['b']], [xmlChars(s), xmlChars(s), xmlChars(s)], JSON.stringify(s));
  }
  t.is(xmlChars('a\x01b\uFFFFc\uD800d\u{1F600}'), 'abcd\u{1F600}');
  // The parser is strict: what escapeXml removes does break a document.
  await t.throwsAsync(parseXml('<r>\x01</r>'), { message: /not well-formed/ });
  await t.throwsAsync(parseXml('<r>\uFFFF</r>'), { message: /not well-formed/ });
  await t.throwsAsync(parseXml('<r>a & b</r>'), { message: /not well-formed/ });
});

test('magnet links carry the name\'s exact bytes in dn; seeders from a BEP 33 scrape, else 0 and the live peers', (t) => {
  const ih = 'ab'.repeat(20);
  t.is(magnetLink(ih, Buffer.from('Ubuntu 24.04 Desktop')), `magnet:?xt=urn:btih:${ih}&dn=Ubuntu%2024.04%20Desktop`);
  t.is(magnetLink(ih, Buffer.from('a&b=c?d#e/f<g>')), `magnet:?xt=urn:btih:${ih}&dn=a%26b%3Dc%3Fd%23e%2Ff%3Cg%3E`);
  t.is(magnetLink(ih, Buffer.from('é\x01\xff', 'latin1')), `magnet:?xt=urn:btih:${ih}&dn=%E9%01%FF`, 'bytes that are not UTF-8 are kept as bytes');
  t.is(magnetLink(ih, Buffer.from('Café', 'utf8')), `magnet:?xt=urn:btih:${ih}&dn=${encodeURIComponent('Café')}`);
  t.is(magnetLink(ih, Buffer.alloc(0)), `magnet:?xt=urn:btih:${ih}`);
  t.deepEqual(swarmFigures({ seeders: 7, leechers: 3, at: 1 }, 40), { seeders: 7, peers: 10 });
  t.deepEqual(swarmFigures(null, 40), { seeders: 0, peers: 40 });
});
