import { type NodeInfo, type PeerAddress } from '../compact.js';
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
}

/**
 * BEP 32: which node lists a find_node / get_peers / sample_infohashes reply carries. Without
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
