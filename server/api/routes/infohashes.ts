import { type FastifyInstance } from 'fastify';
import { type ApiContext, readIndex } from '../context.js';
import { parseCursor, parseInfohashParam, parseLimit, parseSort } from '../params.js';
import { infohashListView, infohashView, peersView } from '../views.js';

/** Query strings are read as plain values and checked by params.ts (same messages as the CLI). */
type Query = Record<string, unknown>;

/** `/api/infohashes` (a page by recent or popular), `/api/infohashes/:ih` and its `/peers`. */
export function registerInfohashRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.get<{ Querystring: Query }>('/api/infohashes', async (req) => {
    const sort = parseSort(req.query['sort']);
    const limit = parseLimit(req.query['limit']);
    const cursor = parseCursor(req.query['cursor'], sort);
    return readIndex(ctx, (vc) => infohashListView(vc, { sort, limit, cursor }));
  });

  app.get<{ Params: { ih: string } }>('/api/infohashes/:ih', async (req) => {
    const infohash = parseInfohashParam(req.params.ih);
    return readIndex(ctx, (vc) => infohashView(vc, infohash));
  });

  app.get<{ Params: { ih: string }; Querystring: Query }>('/api/infohashes/:ih/peers', async (req) => {
    const infohash = parseInfohashParam(req.params.ih);
    const limit = parseLimit(req.query['limit']);
    const cursor = parseCursor(req.query['cursor'], 'peers');
    return readIndex(ctx, (vc) => peersView(vc, infohash, { limit, cursor }));
  });
}
