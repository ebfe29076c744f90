import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { type IndexKeys } from '../../indexer/keys.js';
import { type RedisClient } from '../../redis/client.js';
import { MAX_PARAM_LENGTH, REDIS_TIMEOUT_MS, RETRY_AFTER_SECONDS } from './constants.js';
import { registerApiAuth } from './auth.js';
import { type ApiContext, type LiveStatsProvider } from './context.js';
import { ApiError } from './errors.js';
import { registerInfohashRoutes } from './routes/infohashes.js';
import { registerSearchRoutes } from './routes/search.js';
import { registerStatsRoutes } from './routes/stats.js';
import { registerSurveyRoutes } from './routes/surveys.js';

/**
 * The read side of the index over HTTP (fastify 5). Endpoints (bodies: views.ts; errors:
 * errors.ts; details: server/api/README.md):
 *
 *   GET /api/infohashes?sort=recent|popular&limit=&cursor=   a page of infohash summaries
 *   GET /api/infohashes/:ih                                  one infohash's record and metadata
 *   GET /api/infohashes/:ih/peers?limit=&cursor=             a page of its live peers
 *   GET /api/search?q=&limit=&offset=                        torrent names with every word of q
 *   GET /api/stats?minutes=                                  totals, per-minute series, `live`
 *   GET /api/nodes/census                                    node census and nodes per day
 *   GET /api/surveys?limit=&from=&to=                        the survey series, newest first
 *
 * Every response is JSON, errors included. The server only reads: it never writes to Redis
 * and never checks or migrates the schema (the process that starts it runs ensureSchema).
 * Given an `apiKey`, it asks every request for it, on every route (auth.ts).
 */

/**
 * Adds to the server before the API routes: routes (a dashboard at `/`, `/metrics`), hooks
 * (which then see the API's requests too) or fastify plugins through `app.register`.
 */
export type ApiExtension = (app: FastifyInstance) => void | Promise<void>;

export interface ApiServerOptions {
  /** The index's Redis. The server never closes it: the caller owns it. */
  redis: RedisClient;
  keys: IndexKeys;
  /** fastify's logger (pino to stdout). Default false. */
  logger?: boolean;
  /** Merged into /api/stats as `live`; a failing or slow provider gives `live: null`. */
  liveStats?: LiveStatsProvider;
  /** The clock (live peers, stats window, census days). Default Date.now. */
  now?: () => number;
  /** Peers older than this are not live; pass the writers' IndexConfig.peerTtlMs when not the default. */
  peerTtlMs?: number;
  /** A request whose Redis reads take longer is answered 503. Default REDIS_TIMEOUT_MS. */
  redisTimeoutMs?: number;
  /** Run in order, before the API routes are added. */
  extensions?: readonly ApiExtension[];
  /**
   * When given, every request must carry this key (auth.ts): the API, the extensions' routes
   * (dashboard, /metrics) and any route added later. Visible ASCII, at most API_KEY_MAX_LENGTH
   * characters. Without it, no request is asked for one (the loopback default).
   */
  apiKey?: string;
}

/**
 * A configured server, not yet listening: the caller runs `listen({ host, port })` (defaults
 * API_DEFAULT_HOST / API_DEFAULT_PORT in constants.ts) and `close()`, and may add more routes
 * before listening.
 */
export async function createApiServer(options: ApiServerOptions): Promise<FastifyInstance> {
  const app: FastifyInstance = Fastify({
    logger: options.logger ?? false,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // URL-level failures (bad percent-encoding, an over-long parameter) get the same body as
    // every other error, without echoing the URL back.
    frameworkErrors(err, _req, reply) {
      const message =
        err.code === 'FST_ERR_MAX_PARAM_LENGTH' ? `a path parameter is longer than ${MAX_PARAM_LENGTH} characters` : `malformed request (${err.code})`;
      send(reply as FastifyReply, new ApiError('ERR_BAD_REQUEST', message));
    },
  });

  const ctx: ApiContext = {
    redis: options.redis,
    keys: options.keys,
    now: options.now ?? Date.now,
    peerTtlMs: options.peerTtlMs,
    redisTimeoutMs: options.redisTimeoutMs ?? REDIS_TIMEOUT_MS,
    liveStats: options.liveStats ?? null,
  };

  // On the root instance before any route or extension: every route inherits the hook.
  if (options.apiKey !== undefined) registerApiAuth(app, { key: options.apiKey, now: ctx.now });

  app.setErrorHandler((err, req, reply) => {
    if (err instanceof ApiError) return send(reply, err);
    const status = (err as { statusCode?: unknown }).statusCode;
    // fastify's own client errors (bad content type, body too large…) keep their message.
    if (typeof status === 'number' && status >= 400 && status < 500) return send(reply, new ApiError('ERR_BAD_REQUEST', (err as Error).message));
    req.log.error({ err }, 'request failed');
    return send(reply, new ApiError('ERR_INTERNAL', 'internal error (details are in the server log)'));
  });

  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split('?')[0]!;
    send(reply, new ApiError('ERR_ROUTE_NOT_FOUND', `no route for ${req.method} ${path.length > 100 ? `${path.slice(0, 97)}...` : path}`));
  });

  for (const extend of options.extensions ?? []) await extend(app);
  registerInfohashRoutes(app, ctx);
  registerSearchRoutes(app, ctx);
  registerStatsRoutes(app, ctx);
  registerSurveyRoutes(app, ctx);
  return app;
}

function send(reply: FastifyReply, err: ApiError): FastifyReply {
  reply.code(err.statusCode);
  if (err.code === 'ERR_REDIS_UNAVAILABLE') reply.header('retry-after', String(RETRY_AFTER_SECONDS));
  return reply.send(err.toBody());
}
