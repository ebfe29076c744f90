import { type FastifyReply, type FastifyRequest } from 'fastify';
import { REDIS_TIMEOUT_MS } from '../api/constants.js';
import { parseLimit } from '../api/params.js';
import { guardRedis } from '../api/redis-guard.js';
import { type ApiExtension } from '../api/server.js';
import { type IndexKeys } from '../../indexer/keys.js';
import { type RedisClient } from '../../redis/client.js';
import { type Asset, DashboardAssets } from './assets.js';
import { ASSET_CACHE_CONTROL, ASSET_ROUTE_PREFIX, CONTENT_SECURITY_POLICY, SEARCH_ROUTE } from './constants.js';
import { parseInfohashSearch, searchInfohashes, type InfohashSearchResult } from './search.js';

/**
 * The web dashboard as an extension of the HTTP API (server/api/server.ts):
 *
 *   GET /                          the page (index.html)
 *   GET /dashboard/<name>          its scripts, styles and icon, and the vendored uPlot
 *   GET /api/search/infohash?q=    infohash search: a hex prefix, an infohash or a magnet link
 *
 * Everything the page shows comes from the API's own endpoints (/api/stats, /api/nodes/census,
 * /api/infohashes…), polled by the browser; see README.md in this folder.
 */

export interface DashboardOptions {
  /** The index the search reads: the API's Redis client (the caller owns and closes it) and keys. */
  redis: RedisClient;
  keys: IndexKeys;
  /** A search whose Redis reads take longer is answered 503, like the API. Default REDIS_TIMEOUT_MS. */
  redisTimeoutMs?: number;
}

export function dashboardExtension(options: DashboardOptions): ApiExtension {
  const { redis, keys } = options;
  const redisTimeoutMs = options.redisTimeoutMs ?? REDIS_TIMEOUT_MS;
  return async (app) => {
    const assets = await DashboardAssets.load();

    app.get('/', (req, reply) => sendAsset(req, reply, assets.page));

    app.get<{ Params: { '*': string } }>(`${ASSET_ROUTE_PREFIX}*`, (req, reply) => {
      const asset = assets.get(req.params['*']);
      // The API's JSON 404, as for any unknown path.
      if (asset === undefined) return reply.callNotFound();
      return sendAsset(req, reply, asset);
    });

    app.get<{ Querystring: Record<string, unknown> }>(SEARCH_ROUTE, async (req): Promise<InfohashSearchResult> => {
      const query = parseInfohashSearch(req.query['q']);
      const limit = parseLimit(req.query['limit']);
      return guardRedis(redis, redisTimeoutMs, () => searchInfohashes(redis, keys, query, limit));
    });
  };
}

function sendAsset(req: FastifyRequest, reply: FastifyReply, asset: Asset): FastifyReply {
  reply
    .header('content-security-policy', CONTENT_SECURITY_POLICY)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('cache-control', ASSET_CACHE_CONTROL)
    .header('etag', asset.etag);
  if (matchesEtag(req.headers['if-none-match'], asset.etag)) return reply.code(304).send();
  return reply.type(asset.contentType).send(asset.body);
}

/** If-None-Match holds `*` or the tag (weak comparison, as RFC 9110 asks for this header). */
function matchesEtag(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  return header.split(',').some((tag) => {
    const t = tag.trim();
    return t === '*' || t.replace(/^W\//, '') === etag;
  });
}
