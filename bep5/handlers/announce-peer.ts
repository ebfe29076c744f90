import { type QueryHandler } from '../krpc-socket-types.js';
import { type HandlerContext, checkWriteAccess } from './context.js';

/**
 * BEP 5 announce_peer: store the querier's address under the infohash, if the token we gave
 * its IP is still valid (5 to 10 minutes). `implied_port` means the datagram's source port.
 */
export function announcePeerHandler(ctx: HandlerContext): QueryHandler<'announce_peer'> {
  return (query, { from }) => {
    checkWriteAccess(ctx, query, from);
    const port = query.impliedPort ? from.port : query.port;
    const peer = { host: from.host, port };
    const seed = query.seed ?? false;
    // A refusal by the store's caps is still answered with success: the announcer cannot
    // act on it, and telling it would help an attacker probe the caps.
    if (ctx.store.announce(query.infoHash, peer, seed) !== 'rejected') ctx.onAnnounce?.(query.infoHash, peer, seed);
    return { id: ctx.ownId() };
  };
}
