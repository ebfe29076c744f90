import { type FastifyReply } from 'fastify';
import { type IndexKeys } from '../../indexer/keys.js';
import { type RedisClient } from '../../redis/client.js';
import { REDIS_TIMEOUT_MS, RETRY_AFTER_SECONDS } from '../api/constants.js';
import { ApiError } from '../api/errors.js';
import { guardRedis } from '../api/redis-guard.js';
import { type ApiExtension } from '../api/server.js';
import { capsXml, packageVersion } from './caps.js';
import { RSS_CONTENT_TYPE, TORZNAB_ROUTE, XML_CONTENT_TYPE } from './constants.js';
import { errorXml, feedXml } from './feed.js';
import { TORZNAB_ERRORS, TorznabError, parseTorznabRequest } from './params.js';
import { torznabSearch } from './search.js';

/**
 * Torznab at `/torznab/api`, as an extension of the HTTP API (server/api/server.ts), so that
 * Prowlarr, Sonarr, Radarr and Jackett can use the index as an indexer:
 *
 *   ?t=caps                                   what this indexer offers (caps.ts)
 *   ?t=search&q=&cat=&limit=&offset=          RSS 2.0 with torznab:attr per torrent (feed.ts)
 *   ?t=tvsearch&q=&season=&ep=&cat=           the same, narrowed to the episode or season
 *   ?t=movie&q=&cat=                          the same (imdbid and the like are ignored)
 *
 * Every answer is XML. A wrong request is HTTP 200 with Torznab's `<error code description/>`:
 * that is where the *arr clients look for the error element and show its description (another
 * status is reported as an HTTP failure). Redis being unavailable is 503 with Retry-After and
 * error 900, a temporary failure; anything else is 500 with error 900, the details in the
 * server log only.
 * Authentication is the server's (auth.ts), as for every other route; its refusals are answered
 * here in Torznab's form too (100 incorrect credentials, 500 request limit after too many wrong
 * keys), since the *arr clients recognise a bad key only from that element.
 */

export interface TorznabOptions {
  /** The index's Redis: the API's client (the caller owns and closes it). */
  redis: RedisClient;
  keys: IndexKeys;
  /** A request whose Redis reads take longer is answered 503. Default REDIS_TIMEOUT_MS. */
  redisTimeoutMs?: number;
}

export function torznabExtension(options: TorznabOptions): ApiExtension {
  const { redis, keys } = options;
  const redisTimeoutMs = options.redisTimeoutMs ?? REDIS_TIMEOUT_MS;
  const caps = capsXml(packageVersion());
  return (app) => {
    // An encapsulated scope: its error handler sees the auth hook's refusals for this route only.
    app.register(async (scope) => {
      scope.setErrorHandler((err, req, reply) => {
        if (err instanceof ApiError && err.code === 'ERR_UNAUTHORIZED') return sendError(reply, 200, TORZNAB_ERRORS.incorrectCredentials, err.message);
        if (err instanceof ApiError && err.code === 'ERR_TOO_MANY_AUTH_FAILURES') return sendError(reply, 200, TORZNAB_ERRORS.requestLimitReached, err.message);
        req.log.error({ err }, 'torznab request failed');
        return sendError(reply, 500, TORZNAB_ERRORS.unknown, 'internal error (details are in the server log)');
      });
      register(scope);
    });
  };

  function register(app: Parameters<ApiExtension>[0]): void {
    app.get<{ Querystring: Record<string, unknown> }>(TORZNAB_ROUTE, async (req, reply) => {
      reply.header('x-content-type-options', 'nosniff');
      try {
        const request = parseTorznabRequest(req.query);
        if (request.fn === 'caps') return reply.type(XML_CONTENT_TYPE).send(caps);
        const items = await guardRedis(redis, redisTimeoutMs, () => torznabSearch({ redis, keys, now: Date.now() }, request));
        return reply.type(RSS_CONTENT_TYPE).send(feedXml(items, `${req.protocol}://${req.host}/`));
      } catch (err) {
        if (err instanceof TorznabError) return sendError(reply, 200, err.code, err.description);
        if (err instanceof ApiError && err.code === 'ERR_REDIS_UNAVAILABLE') {
          reply.header('retry-after', String(RETRY_AFTER_SECONDS));
          return sendError(reply, 503, TORZNAB_ERRORS.unknown, err.message);
        }
        req.log.error({ err }, 'torznab request failed');
        return sendError(reply, 500, TORZNAB_ERRORS.unknown, 'internal error (details are in the server log)');
      }
    });
  }
}

function sendError(reply: FastifyReply, status: number, code: number, description: string): FastifyReply {
  return reply.code(status).type(XML_CONTENT_TYPE).send(errorXml(code, description));
}
