import { type SwarmEstimate } from '../../indexer/queries.js';
import { type Classification, categoryIds } from './classify.js';
import { ATOM_NAMESPACE, TORZNAB_NAMESPACE } from './constants.js';
import { XML_DECLARATION, element, emptyElement, textElement } from './xml.js';

/** One search result as the feed shows it. */
export interface FeedItem {
  infohash: string;
  /** The name's display form (the API's `name`). */
  title: string;
  /** The name's bytes as the torrent has them, for the magnet link's `dn`. */
  rawName: Uint8Array;
  size: number;
  fileCount: number;
  /** When the index first saw the infohash (ms). */
  published: number;
  seeders: number;
  peers: number;
  category: Classification;
}

/**
 * Torznab's `seeders` and `peers` (seeders and leechers together). From a BEP 33 scrape when
 * the index has one; without one nothing says who seeds, so seeders are 0 and peers are the
 * live peers the DHT handed out.
 */
export function swarmFigures(swarm: SwarmEstimate | null, livePeers: number): { seeders: number; peers: number } {
  return swarm === null ? { seeders: 0, peers: livePeers } : { seeders: swarm.seeders, peers: swarm.seeders + swarm.leechers };
}

/** RFC 3986's unreserved characters stay; every other byte is %XX, so `dn` carries the name's exact bytes. */
function percentEncode(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) out += /[A-Za-z0-9\-._~]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  return out;
}

export function magnetLink(infohash: string, rawName: Uint8Array): string {
  return rawName.length === 0 ? `magnet:?xt=urn:btih:${infohash}` : `magnet:?xt=urn:btih:${infohash}&dn=${percentEncode(rawName)}`;
}

const attr = (name: string, value: string | number): string => emptyElement('torznab:attr', { name, value });

function itemXml(item: FeedItem): string {
  const magnet = magnetLink(item.infohash, item.rawName);
  const ids = categoryIds(item.category);
  return element('item', {}, [
    textElement('title', item.title),
    textElement('guid', item.infohash, { isPermaLink: 'false' }),
    textElement('link', magnet),
    // RFC 822 (toUTCString is RFC 1123's form of it, what RSS readers and the *arr clients parse).
    textElement('pubDate', new Date(item.published).toUTCString()),
    textElement('size', item.size),
    ...ids.map((id) => textElement('category', id)),
    emptyElement('enclosure', { url: magnet, length: item.size, type: 'application/x-bittorrent' }),
    ...ids.map((id) => attr('category', id)),
    attr('seeders', item.seeders),
    attr('peers', item.peers),
    attr('size', item.size),
    attr('files', item.fileCount),
    attr('infohash', item.infohash),
    attr('magneturl', magnet),
  ]);
}

/** The RSS 2.0 document of a search; `link` is the server's own address. */
export function feedXml(items: readonly FeedItem[], link: string): string {
  return [
    XML_DECLARATION,
    element('rss', { version: '2.0', 'xmlns:atom': ATOM_NAMESPACE, 'xmlns:torznab': TORZNAB_NAMESPACE }, [
      element('channel', {}, [
        textElement('title', 'dhtscope'),
        textElement('description', 'torrents found on the BitTorrent DHT'),
        textElement('link', link),
        ...items.map(itemXml),
      ]),
    ]),
  ].join('\n');
}

/** Torznab's error document. */
export function errorXml(code: number, description: string): string {
  return [XML_DECLARATION, emptyElement('error', { code, description })].join('\n');
}
