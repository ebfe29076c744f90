import { existsSync, readFileSync } from 'node:fs';
import { CATEGORY_TREE } from './classify.js';
import { TORZNAB_DEFAULT_LIMIT, TORZNAB_MAX_LIMIT } from './constants.js';
import { XML_DECLARATION, element, emptyElement } from './xml.js';

/** The package's version: server/torznab/ in the sources, dist/server/torznab/ in the build. */
export function packageVersion(): string {
  for (const up of ['../../package.json', '../../../package.json']) {
    const path = new URL(up, import.meta.url);
    if (!existsSync(path)) continue;
    const pkg = JSON.parse(readFileSync(path, 'utf8')) as { name?: string; version?: string };
    if (pkg.name === 'dhtscope' && typeof pkg.version === 'string') return pkg.version;
  }
  return 'unknown';
}

/**
 * `t=caps`. Only `q` (and `season`, `ep` for TV) is advertised: a client then searches by
 * title, which is all a name index can answer, instead of by IMDb or TVDB id.
 */
export function capsXml(version: string): string {
  const search = (name: string, available: boolean, params: string): string =>
    emptyElement(name, { available: available ? 'yes' : 'no', supportedParams: params });
  return [
    XML_DECLARATION,
    element('caps', {}, [
      emptyElement('server', { version, title: 'dhtscope', strapline: 'torrents found on the BitTorrent DHT' }),
      emptyElement('limits', { max: TORZNAB_MAX_LIMIT, default: TORZNAB_DEFAULT_LIMIT }),
      element('searching', {}, [
        search('search', true, 'q'),
        search('tv-search', true, 'q,season,ep'),
        search('movie-search', true, 'q'),
        search('music-search', false, 'q'),
        search('audio-search', false, 'q'),
        search('book-search', false, 'q'),
      ]),
      element(
        'categories',
        {},
        CATEGORY_TREE.map((c) =>
          c.subcats.length === 0 ? emptyElement('category', { id: c.id, name: c.name }) : element('category', { id: c.id, name: c.name }, c.subcats.map((s) => emptyElement('subcat', { id: s.id, name: s.name }))),
        ),
      ),
    ]),
  ].join('\n');
}
