import { type FastifyInstance } from 'fastify';
import { type ApiContext, readIndex } from '../context.js';
import { parseLimit, parseTimeRange } from '../params.js';
import { surveysView } from '../views.js';

type Query = Record<string, unknown>;

/** `/api/surveys?limit=&from=&to=`: the survey series (indexer/survey-series.ts), newest first. */
export function registerSurveyRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.get<{ Querystring: Query }>('/api/surveys', async (req) => {
    const limit = parseLimit(req.query['limit']);
    const range = parseTimeRange(req.query['from'], req.query['to']);
    return readIndex(ctx, (vc) => surveysView(vc, { limit, ...range }));
  });
}
