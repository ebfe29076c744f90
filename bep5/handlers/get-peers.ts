import { ipFamily } from '../ip.js';
import { type QueryHandler } from '../krpc-socket-types.js';
import { type HandlerContext, closestNodes } from './context.js';
import { valuesThatFit } from './reply-budget.js';

/**
 * BEP 5 get_peers: a write token, the peers we store for the infohash (a random subset that
 * fits one datagram), and the closest nodes so lookups converge even when we have peers
 * (BEP 32 allows both). BEP 33: `noseed` prefers non-seeds, `scrape` adds bloom filters.
 */
export function getPeersHandler(ctx: HandlerContext): QueryHandler<'get_peers'> {
  return (query, { from }) => {
    const family = ipFamily(from.host) ?? 4;
    const nodes = closestNodes(ctx, query.infoHash, from, query.want);
    const scrape = query.scrape ? ctx.store.scrape(query.infoHash) : undefined;
    const max = valuesThatFit(family, { nodes: nodes.nodes?.length ?? 0, nodes6: nodes.nodes6?.length ?? 0, scrape: scrape !== undefined });
    const values = ctx.store.has(query.infoHash) ? ctx.store.getPeers(query.infoHash, { family, max, noseed: query.noseed }) : [];
    return {
      id: ctx.ownId(),
      token: ctx.tokens.issue(from.host),
      values,
      ...nodes,
      bfsd: scrape?.seeds,
      bfpe: scrape?.peers,
    };
  };
}
