import { isBep42Compliant } from '../bep42.js';
import { KRPC_ERROR_PROTOCOL } from '../constants.js';
import { QueryRejection } from '../errors.js';
import { type QueryHandler } from '../krpc-socket.js';
import { type HandlerContext } from './context.js';

/**
 * BEP 5 announce_peer: store the querier's address under the infohash, if the token we gave
 * its IP is still valid (5 to 10 minutes). `implied_port` means the datagram's source port.
 */
export function announcePeerHandler(ctx: HandlerContext): QueryHandler<'announce_peer'> {
  return (query, { from }) => {
    if (!ctx.tokens.verify(from.host, query.token)) throw new QueryRejection(KRPC_ERROR_PROTOCOL, 'bad token');
    if (ctx.enforceBep42Storage && !isBep42Compliant(query.id, from.host)) {
      throw new QueryRejection(KRPC_ERROR_PROTOCOL, 'node id does not match your address (BEP 42)');
    }
    const port = query.impliedPort ? from.port : query.port;
    ctx.store.announce(query.infoHash, { host: from.host, port }, query.seed ?? false);
    return { id: ctx.ownId() };
  };
}
