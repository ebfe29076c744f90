
/**
 * Every default of the web dashboard's server side (server/dashboard/), with the reason for
 * its value. The browser side's own numbers (poll intervals, ring buffer sizes) are at the top
 * of public/config.js.
 */

/** Where the page's scripts, styles and the vendored chart library are served from. */
export const ASSET_ROUTE_PREFIX = '/dashboard/';

/**
 * The page and its assets are revalidated on every load (ETag, 304). Their URLs carry no
 * version (there is no build step to stamp one), so a long max-age would keep an old app.js
 * after an upgrade; a 304 on the loopback or a LAN costs about a millisecond.
 */
export const ASSET_CACHE_CONTROL = 'no-cache';

/**
 * Only this origin's scripts, styles, images and fetches; no inline script or style, no
 * plugins, no framing, no <base> tricks. Charts set sizes through the CSSOM (element.style),
 * which style-src does not restrict.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** The search route: `GET /api/search/infohash?q=`. */
export const SEARCH_ROUTE = '/api/search/infohash';

/** A hex prefix shorter than this matches too much of the index to be a search. */
export const SEARCH_MIN_PREFIX = 4;

/**
 * The longest `q`: a magnet link with a long display name and a few trackers. Longer input
 * is refused before parsing, so a request's work stays bounded.
 */
export const SEARCH_MAX_QUERY_LENGTH = 2_000;

