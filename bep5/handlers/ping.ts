import { type QueryHandler } from '../krpc-socket-types.js';
import { type HandlerContext } from './context.js';

/** BEP 5 ping: answer with our id. */
export function pingHandler(ctx: HandlerContext): QueryHandler<'ping'> {
  return () => ({ id: ctx.ownId() });
}
