import { type AddressScope, inAddressScope } from '../bep5/address-scope.js';
import { ipFamily, isIpv4Mapped, parseIp } from '../bep5/ip.js';
import { type KrpcSocket } from '../bep5/krpc-socket.js';
import { type DhtNode } from '../bep5/node.js';
import { type Family } from '../bep5/node-types.js';
import { type Want } from '../bep5/queries.js';
import { ipv4ToNumber, type NodeIndex } from './node-index.js';

/**
 * The address families a crawl covers (BEP 32) and what follows from them: the node's socket
 * of each family (a node is asked over its own family), the `want` every query carries, and
 * which contacts the crawl takes into its index.
 *
 * IPv4 and IPv6 are crawled together, by one sweep over one index (crawler.ts): with both
 * families on, every query asks `want: n4 n6`, so any node's answer feeds both sides (`nodes`
 * the IPv4 one, `nodes6` the IPv6 one) and an IPv6-only node is found through the nodes6 of
 * IPv4 nodes as readily as through IPv6 ones. One sweep, budget, set of infohashes and census
 * for both, rather than a crawler per family: the ID space, the targets, what is learned of
 * clients and RTTs, and the nodes on both families (one ID, two addresses) are the same DHT
 * seen twice.
 */
export class FamilySockets {
  readonly socket4: KrpcSocket | undefined;
  readonly socket6: KrpcSocket | undefined;
  /** BEP 32 `want` on every query when both families are crawled; none for one (its own family is the default). */
  readonly want: Want | undefined;

  /** `families`: default every family the node runs. */
  constructor(node: DhtNode, families: readonly Family[] = ([4, 6] as const).filter((f) => node.socket(f) !== undefined)) {
    if (families.length === 0) throw new Error('the crawler needs a started node');
    for (const family of families) if (node.socket(family) === undefined) throw new Error(`the crawler needs a started node with IPv${family}`);
    this.socket4 = families.includes(4) ? node.socket(4) : undefined;
    this.socket6 = families.includes(6) ? node.socket(6) : undefined;
    this.want = this.socket4 !== undefined && this.socket6 !== undefined ? { n4: true, n6: true } : undefined;
  }

  get families(): Family[] {
    return [...(this.socket4 ? [4 as const] : []), ...(this.socket6 ? [6 as const] : [])];
  }

  /** The socket of node i's family. */
  forNode(nodes: NodeIndex, index: number): KrpcSocket {
    return (nodes.isIpv6(index) ? this.socket6 : this.socket4)!;
  }

  /** The socket for an address of this host's family, or undefined when that family is not crawled. */
  forHost(host: string): KrpcSocket | undefined {
    const family = ipFamily(host);
    return family === 4 ? this.socket4 : family === 6 ? this.socket6 : undefined;
  }

  /**
   * A contact into the index: its index and whether it is new; 'skipped' for an address outside
   * the scope (never to be sent to); undefined for a family not crawled or what is no address.
   * On the IPv6 side an IPv4-mapped address (::ffff:0:0/96) is always skipped: it names an IPv4
   * node, which no IPv6 socket reaches natively, and a nodes6 list has no business carrying one.
   */
  add(nodes: NodeIndex, id: Buffer, host: string, port: number, scope: AddressScope): { index: number; added: boolean } | 'skipped' | undefined {
    if (port === 0) return undefined;
    if (host.includes(':')) {
      const ip = this.socket6 === undefined ? undefined : parseIp(host);
      if (ip === undefined || ip.length !== 16) return undefined;
      if (isIpv4Mapped(ip) || !inAddressScope(scope, ip)) return 'skipped';
      return nodes.add6(id, ip, port);
    }
    const ip = this.socket4 === undefined ? -1 : ipv4ToNumber(host);
    if (ip < 0) return undefined;
    if (!inAddressScope(scope, host)) return 'skipped';
    return nodes.add(id, ip, port);
  }
}
