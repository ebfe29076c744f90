import { type QueryHandler } from '../krpc-socket-types.js';
import { type HandlerContext, closestNodes } from './context.js';

/** BEP 5 find_node: the K closest good nodes we know to the target (BEP 32: per `want`). */
export function findNodeHandler(ctx: HandlerContext): QueryHandler<'find_node'> {
  return (query, { from }) => ({ id: ctx.ownId(), ...closestNodes(ctx, query.target, from, query.want) });
}
