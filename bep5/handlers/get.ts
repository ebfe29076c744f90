import { decode } from '../bencode.js';
import { ipFamily } from '../ip.js';
import { type QueryHandler } from '../krpc-socket-types.js';
import { type HandlerContext, closestNodes } from './context.js';
import { getReplyBytes, itemFieldBytes, nodesBesideItem } from './reply-budget.js';

/**
 * BEP 44 get: a write token, the closest nodes (BEP 32: per `want`), and the item stored under
 * the target: `v`, and for a mutable item `k`, `seq` and `sig`. With the query's `seq` at or
 * above the stored one, only `seq` (the querier has the value). An item goes out in a datagram
 * of up to MAX_BEP44_SEND_BYTES, its node lists trimmed to fit, and only while the querier's
 * reflection budget allows it; past that the reply carries nodes and token only.
 */
export function getHandler(ctx: HandlerContext): QueryHandler<'get'> {
  return (query, { from, bytes }) => {
    const nodes = closestNodes(ctx, query.target, from, query.want);
    const base = { id: ctx.ownId(), token: ctx.tokens.issue(from.host), ...nodes };
    const item = ctx.items.get(query.target);
    if (item === undefined || (item.seq !== undefined && query.seq !== undefined && item.seq <= query.seq)) {
      ctx.mayReflect(from, bytes, 0);
      return item === undefined ? base : { ...base, seq: item.seq };
    }
    const itemBytes = itemFieldBytes(item.vBytes.length, item.seq);
    const fit = nodesBesideItem(ipFamily(from.host) ?? 4, { nodes: nodes.nodes?.length, nodes6: nodes.nodes6?.length }, itemBytes);
    if (!ctx.mayReflect(from, bytes, getReplyBytes(itemBytes, fit))) return base;
    return {
      ...base,
      nodes: nodes.nodes?.slice(0, fit.nodes),
      nodes6: nodes.nodes6?.slice(0, fit.nodes6),
      v: decode(item.vBytes),
      k: item.k,
      seq: item.seq,
      sig: item.sig,
    };
  };
}
