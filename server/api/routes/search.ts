import { type FastifyInstance } from 'fastify';
import { type ApiContext, readIndex } from '../context.js';
import { parseOffset, parseSearchLimit, parseSearchQuery } from '../params.js';
import { searchView } from '../views.js';

type Query = Record<string, unknown>;

/** `/api/search?q=&limit=&offset=`: torrent names that have every word of `q`, best first. */
export function registerSearchRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.get<{ Querystring: Query }>('/api/search', async (req) => {
    const query = parseSearchQuery(req.query['q']);
    const limit = parseSearchLimit(req.query['limit']);
    const offset = parseOffset(req.query['offset']);
    return readIndex(ctx, (vc) => searchView(vc, query, { limit, offset }));
  });
}
