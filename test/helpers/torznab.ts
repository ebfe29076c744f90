/**
 * The index test/torznab.test.ts reads through `/torznab/api`: ten torrents with known names,
 * files, peers and categories (a hostile name among them), written through the workers' write
 * path, and what reading its XML answers takes.
 */
import { type ExecutionContext } from 'ava';
import { type FastifyInstance } from 'fastify';
import { type Redis } from 'ioredis';
import { readFileSync } from 'node:fs';
import type { Discovery } from '../../crawler/discovery.js';
import { newBatchId } from '../../indexer/batch-id.js';
import { type IndexKeys } from '../../indexer/keys.js';
import { type MetadataInput } from '../../indexer/metadata-store.js';
import { createApiServer } from '../../server/api/server.js';
import { torznabExtension } from '../../server/torznab/routes.js';
import { hostInWrapped, infohashes, peerIn } from './generators.js';
import { applyIndexed, storeIndexed } from './index-writes.js';
import { type RedisFixture } from './redis.js';
import { type XmlElement, child, childrenNamed, parseXml } from './xml.js';

export const IH = infohashes('7');
export const NODE = hostInWrapped('10.0.7');
export const PEER = peerIn('203.0.113', 2000);
export const NOW = Date.now();
export const MB = 1_000_000;
export const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

export interface Torrent {
  n: number;
  name: Buffer;
  files: Array<[path: string, size: number]>;
  peers: number;
}

export const HOSTILE_NAME = Buffer.concat([Buffer.from('Show Name <Weird> & "Co" \x01 S02E03 '), Buffer.from('\uFFFF', 'utf8'), Buffer.from(" 'end'")]);
/** Its display form (the control written as `\x01`) less U+FFFF, which XML 1.0 forbids. */
export const HOSTILE_TITLE = 'Show Name <Weird> & "Co" \\x01 S02E03  \'end\'';

/** Torrent n is last seen n minutes ago (so `recent` lists them by n), with n's peers. */
export const TORRENTS: Torrent[] = [
  { n: 1, name: 'Show.Name.S02E03.1080p.WEB-DL.x264', files: [['Show.Name.S02E03.1080p.WEB-DL.x264.mkv', 1500 * MB], ['Sample/sample.mkv', 50 * MB], ['show.nfo', 900]], peers: 9 },
  { n: 2, name: 'show.name.s02e03.720p.hdtv', files: [['show.name.s02e03.720p.hdtv.mkv', 700 * MB]], peers: 8 },
  { n: 3, name: 'Show.Name.S02E04.720p.HDTV', files: [['Show.Name.S02E04.720p.HDTV.mkv', 700 * MB]], peers: 7 },
  { n: 4, name: 'Show.Name.S01E03.480p', files: [['Show.Name.S01E03.480p.mp4', 300 * MB]], peers: 6 },
  { n: 5, name: 'Show Name Season 2 Complete', files: [['e01.mkv', 900 * MB], ['e02.mkv', 900 * MB]], peers: 5 },
  { n: 6, name: 'Show Name Original Soundtrack', files: Array.from({ length: 10 }, (_, i): [string, number] => [`${i + 1}.flac`, 30 * MB]), peers: 4 },
  { n: 7, name: 'Show Name The Book', files: [['Show Name.epub', 2 * MB]], peers: 3 },
  { n: 8, name: 'Some.Movie.2019.2160p.UHD.BluRay', files: [['Some.Movie.2019.2160p.UHD.BluRay.mkv', 20_000 * MB]], peers: 2 },
  { n: 9, name: HOSTILE_NAME, files: [['weird.mkv', 500 * MB]], peers: 1 },
  { n: 10, name: 'Ubuntu 24.04 Desktop', files: [['ubuntu-24.04-desktop-amd64.iso', 6000 * MB]], peers: 0 },
].map((tr) => ({ ...tr, name: Buffer.from(tr.name) }) as Torrent);

/** Seen last of all, without metadata: never a result. */
export const NO_METADATA = 11;

/** The title (display form, less what XML forbids) and categories each torrent must be listed with. */
export const EXPECTED: Record<number, { title: string; categories: string[] }> = {
  1: { title: 'Show.Name.S02E03.1080p.WEB-DL.x264', categories: ['5040', '5000'] },
  2: { title: 'show.name.s02e03.720p.hdtv', categories: ['5040', '5000'] },
  3: { title: 'Show.Name.S02E04.720p.HDTV', categories: ['5040', '5000'] },
  4: { title: 'Show.Name.S01E03.480p', categories: ['5030', '5000'] },
  5: { title: 'Show Name Season 2 Complete', categories: ['5000'] },
  6: { title: 'Show Name Original Soundtrack', categories: ['3040', '3000'] },
  7: { title: 'Show Name The Book', categories: ['7020', '7000'] },
  8: { title: 'Some.Movie.2019.2160p.UHD.BluRay', categories: ['2045', '2000'] },
  9: { title: HOSTILE_TITLE, categories: ['5000'] },
  10: { title: 'Ubuntu 24.04 Desktop', categories: ['4020', '4000'] },
};

export function metadataInput(tr: Torrent): MetadataInput {
  const totalSize = tr.files.reduce((s, [, size]) => s + size, 0);
  return {
    name: { raw: tr.name },
    totalSize,
    pieceLength: 262_144,
    pieceCount: Math.ceil(totalSize / 262_144),
    fileCount: tr.files.length,
    files: tr.files.map(([path, size]) => ({ path: path.split('/').map((p) => ({ raw: Buffer.from(p) })), size })),
    singleFile: false,
    private: false,
    metaVersion: 1,
  };
}

export type Get = (url: string) => Promise<{ status: number; headers: Record<string, unknown>; body: string; xml: XmlElement }>;

/** GET through inject: status, headers, body and the body's parsed tree (which must be well-formed). */
export function requester(app: FastifyInstance): Get {
  return async (url) => {
    const res = await app.inject({ method: 'GET', url });
    return { status: res.statusCode, headers: res.headers, body: res.body, xml: await parseXml(res.rawPayload) };
  };
}

export interface Ix {
  c: Redis;
  keys: IndexKeys;
  get: Get;
}

export async function torznabIndex(t: ExecutionContext, redis: RedisFixture): Promise<Ix> {
  const { c, keys } = await redis.freshIndex(t);
  const events: Discovery[] = [];
  for (const tr of TORRENTS) {
    const last = NOW - tr.n * 60_000;
    if (tr.peers > 0) events.push({ type: 'peers', infohash: IH(tr.n), peers: Array.from({ length: tr.peers }, (_, i) => PEER(tr.n * 16 + i)), node: NODE(tr.n), at: last - 1000 });
    events.push({ type: 'infohash', infohash: IH(tr.n), node: NODE(tr.n), source: 'sample', at: last });
  }
  events.push({ type: 'infohash', infohash: IH(NO_METADATA), node: NODE(NO_METADATA), source: 'sample', at: NOW - 10_000 });
  await applyIndexed(c, events, { keys, batchId: newBatchId(), now: NOW });
  for (const tr of TORRENTS) await storeIndexed(c, keys, IH(tr.n), metadataInput(tr), { fetchedAt: NOW, peer: PEER(1) });
  const app = await createApiServer({ redis: c, keys, now: () => NOW, extensions: [torznabExtension({ redis: c, keys })] });
  t.teardown(() => app.close());
  return { c, keys, get: requester(app) };
}

export const channelOf = (rss: XmlElement): XmlElement => child(rss, 'channel');
export const itemsOf = (rss: XmlElement): XmlElement[] => childrenNamed(channelOf(rss), 'item');
export const guids = (rss: XmlElement): string[] => itemsOf(rss).map((i) => child(i, 'guid').text);
export const ihs = (...ns: number[]): string[] => ns.map(IH);

/** The values of an item's torznab:attr elements by name (category may be there twice). */
export function attrs(item: XmlElement): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const a of childrenNamed(item, 'torznab:attr')) out.set(a.attrs['name']!, [...(out.get(a.attrs['name']!) ?? []), a.attrs['value']!]);
  return out;
}

/** A percent-encoded string's bytes (what a client decodes `dn` to). */
export function percentDecodeBytes(text: string): Buffer {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '%') {
      bytes.push(parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(text.charCodeAt(i));
  }
  return Buffer.from(bytes);
}

export async function search(ix: { get: Get }, query: string): Promise<XmlElement> {
  const res = await ix.get(`/torznab/api?${query}`);
  if (res.status !== 200 || res.xml.tag !== 'rss') throw new Error(`${query}: ${res.status} ${res.body.slice(0, 500)}`);
  return res.xml;
}

