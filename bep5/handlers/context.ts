import { isBep42Compliant } from '../bep42.js';
import { type NodeInfo, type PeerAddress } from '../compact.js';
import { KRPC_ERROR_PROTOCOL } from '../constants.js';
import { QueryRejection } from '../errors.js';
import { type ItemStore } from '../item-store.js';
import { type PeerStore } from '../peer-store.js';
import { type RoutingTable } from '../routing-table.js';
import { type TokenIssuer } from '../tokens.js';
import { type Want } from '../queries.js';
import { ipFamily } from '../ip.js';

/** What every query handler may read: the node's state, never its sockets. */
export interface HandlerContext {
  /** Our node ID (it may change once, when BEP 42 gives us a compliant one). */
  ownId(): Buffer;
  /** One routing table per address family (BEP 32); absent when that family is off. */
  tables: { 4?: RoutingTable; 6?: RoutingTable };
  tokens: TokenIssuer;
  store: PeerStore;
  k: number;
  /** BEP 42: refuse announces from nodes whose id does not match their address. */
  enforceBep42Storage: boolean;
  /** Called after an announce passed every check and was stored (or refreshed). */
  onAnnounce?: (infoHash: Buffer, peer: PeerAddress, seed: boolean) => void;
  /** BEP 44 items. */
  items: ItemStore;
  /**
   * BEP 44 reflection budget: a get of `queryBytes` came from `from`; may a reply of
   * `replyBytes` carrying `v` go back (replyBytes 0: nothing to send, the query only counts)?
   * Always true for sources that proved their address and for exempt ones (node.ts).
   */
  mayReflect(from: PeerAddress, queryBytes: number, replyBytes: number): boolean;
}

/**
 * What every write (announce_peer, BEP 44 put) must bring: the token we gave its IP, 5 to 10
 * minutes old at most, and with BEP 42 enforced, a node ID that matches its address.
 */
export function checkWriteAccess(ctx: HandlerContext, query: { id: Buffer; token: Buffer }, from: PeerAddress): void {
  if (!ctx.tokens.verify(from.host, query.token)) throw new QueryRejection(KRPC_ERROR_PROTOCOL, 'bad token');
  if (ctx.enforceBep42Storage && !isBep42Compliant(query.id, from.host)) {
    throw new QueryRejection(KRPC_ERROR_PROTOCOL, 'node id does not match your address (BEP 42)');
  }
}

/**
 * BEP 32: which node lists a find_node / get_peers / sample_infohashes / get reply carries. Without
 * `want`, the querier's own family; with it, whatever it asked for that we have.
 */
export function closestNodes(
  ctx: HandlerContext,
  target: Buffer,
  from: PeerAddress,
  want: Want | undefined,
): { nodes?: NodeInfo[]; nodes6?: NodeInfo[] } {
  const family = ipFamily(from.host) ?? 4;
  const wants4 = want ? want.n4 : family === 4;
  const wants6 = want ? want.n6 : family === 6;
  const pick = (t: RoutingTable | undefined): NodeInfo[] =>
    t?.closestInfo(target, ctx.k) ?? [];
  return {
    nodes: wants4 ? pick(ctx.tables[4]) : undefined,
    nodes6: wants6 ? pick(ctx.tables[6]) : undefined,
  };
}
