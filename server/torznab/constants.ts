/**
 * Every default of the Torznab endpoint (server/torznab/), with the reason for its value.
 */
import { SEARCH_MAX_LIMIT } from '../../indexer/metadata-constants.js';

/** Where Prowlarr, Sonarr, Radarr and Jackett are pointed: their "URL" is `http://host:port/torznab` and "API path" the default `/api`. */
export const TORZNAB_ROUTE = '/torznab/api';

/** The largest `limit` (a larger one is cut to it, as Jackett does): the name search's own page bound. */
export const TORZNAB_MAX_LIMIT = SEARCH_MAX_LIMIT;

/** Results per page unless `limit` says otherwise. The *arr clients always send `limit=100`. */
export const TORZNAB_DEFAULT_LIMIT = 50;

/**
 * A filtered search (`cat`, `season`/`ep`) reads this many ranked name matches first, then
 * twice as many each time until it has its page: most pages of a TV search are filled from
 * the first read.
 */
export const FILTER_CHUNK = 100;

/**
 * A request without `q` (Sonarr's and Radarr's RSS sync, Prowlarr's test) lists the most
 * recently seen torrents whose metadata the index has, found among at most this many of the
 * most recently seen infohashes. The worst case, a category none of them is in, reads all of
 * them: ~0.5 s when each has metadata of 20 files (2-core machine under load), well inside the
 * API's 2 s Redis deadline. A crawl sees more than this many infohashes between two RSS syncs
 * of the *arr clients (every 15 minutes) anyway.
 */
export const RECENT_SCAN_LIMIT = 5_000;

/** The first read of `recent` (12,900 entries over 64 shards, ~40 ms); the rest comes in one more. */
export const RECENT_FIRST_PAGE = 100;

/** Metadata is read for this many infohashes at a time (one HGET each). */
export const RECENT_METADATA_CHUNK = 250;

export const RSS_CONTENT_TYPE = 'application/rss+xml; charset=utf-8';
export const XML_CONTENT_TYPE = 'application/xml; charset=utf-8';

export const TORZNAB_NAMESPACE = 'http://torznab.com/schemas/2015/feed';
export const ATOM_NAMESPACE = 'http://www.w3.org/2005/Atom';
