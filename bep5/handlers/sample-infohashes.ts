import { type QueryHandler } from '../krpc-socket-types.js';
import { type HandlerContext, closestNodes } from './context.js';
import { samplesThatFit } from './reply-budget.js';

/** BEP 51 sample_infohashes: a random sample of what we store, `num`, `interval`, and nodes near the target. */
export function sampleInfohashesHandler(ctx: HandlerContext): QueryHandler<'sample_infohashes'> {
  return (query, { from }) => {
    const nodes = closestNodes(ctx, query.target, from, query.want);
    const { samples, num, interval } = ctx.store.sample(
      samplesThatFit({ nodes: nodes.nodes?.length ?? 0, nodes6: nodes.nodes6?.length ?? 0 }),
    );
    return { id: ctx.ownId(), interval, num, samples, ...nodes };
  };
}
