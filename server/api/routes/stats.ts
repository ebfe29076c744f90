import { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { LIVE_STATS_TIMEOUT_MS } from '../constants.js';
import { type ApiContext, readIndex } from '../context.js';
import { parseMinutes } from '../params.js';
import { withDeadline } from '../redis-guard.js';
import { censusView, type LiveStats, statsView } from '../views.js';

type Query = Record<string, unknown>;

/** `/api/stats` (index totals and series, plus the serving process's live figures) and `/api/nodes/census`. */
export function registerStatsRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.get<{ Querystring: Query }>('/api/stats', async (req) => {
    const minutes = parseMinutes(req.query['minutes']);
    return readIndex(ctx, (vc) => statsView(vc, minutes, readLive(ctx, req.log)));
  });

  app.get('/api/nodes/census', async () => readIndex(ctx, (vc) => censusView(vc)));
}

/**
 * The provider's figures, or null when there is none or it fails: the index part of the
 * stats is worth answering without them (the failure is logged).
 */
async function readLive(ctx: ApiContext, log: FastifyBaseLogger): Promise<LiveStats | null> {
  const provider = ctx.liveStats;
  if (provider === null) return null;
  try {
    return await withDeadline(
      Promise.resolve().then(provider),
      LIVE_STATS_TIMEOUT_MS,
      () => new Error(`liveStats did not answer within ${LIVE_STATS_TIMEOUT_MS} ms`),
    );
  } catch (err) {
    log.warn({ err }, 'liveStats provider failed');
    return null;
  }
}
