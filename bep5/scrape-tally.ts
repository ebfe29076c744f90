import { ScrapeBloom } from './bloom.js';
import { type PeerAddress } from './compact.js';
import { parseIp } from './ip.js';
import { type LookupEvent } from './lookup.js';

/**
 * BEP 33's client side: seeder and leecher estimates from a scrape lookup's events.
 *
 * Announces are scattered over more nodes than the K closest, each holding part of the swarm, so
 * the estimate is the union of every filter received (ORing filters is the union of the sets;
 * the same IP stored at several nodes counts once). A node that answered a scrape with `values`
 * and no filters (a legacy node) has its peers' IPs put in the peer filter, as the BEP says,
 * unless another node's seed filter may hold them, so that no IP counts as seed and peer both.
 * Leechers are the peers' estimate minus nothing: BEP 33's peer filter holds non-seeds only.
 */

export interface ScrapeEstimate {
  /** Estimated distinct seeding IPs (BEP 33's formula over the union of BFsd). */
  seeders: number;
  /** Estimated distinct non-seeding IPs (the union of BFpe, plus legacy `values`). */
  leechers: number;
  /** Nodes that answered with bloom filters. */
  filterNodes: number;
  /** Nodes that answered with peers but no filters (counted into the peer filter). */
  legacyNodes: number;
}

export class ScrapeTally {
  private readonly seeds = new ScrapeBloom();
  private readonly peers = new ScrapeBloom();
  private readonly withFilters = new Set<string>();
  private readonly legacy = new Map<string, PeerAddress[]>();

  add(event: LookupEvent): void {
    if (event.type === 'scrape') {
      const from = nodeKey(event.from);
      this.withFilters.add(from);
      this.legacy.delete(from);
      // Lengths were checked by the reply parser (replies.ts); from() checks again.
      if (event.seeds !== undefined) this.seeds.union(ScrapeBloom.from(event.seeds));
      if (event.peers !== undefined) this.peers.union(ScrapeBloom.from(event.peers));
    } else if (event.type === 'peers') {
      const from = nodeKey(event.from);
      if (this.withFilters.has(from)) return;
      const list = this.legacy.get(from);
      if (list === undefined) this.legacy.set(from, [...event.peers]);
      else list.push(...event.peers);
    }
  }

  estimate(): ScrapeEstimate {
    const peers = ScrapeBloom.from(this.peers.toBuffer());
    for (const list of this.legacy.values()) {
      for (const p of list) {
        const ip = parseIp(p.host);
        if (ip !== undefined && !this.seeds.mayContain(ip)) peers.insert(ip);
      }
    }
    return { seeders: this.seeds.estimate(), leechers: peers.estimate(), filterNodes: this.withFilters.size, legacyNodes: this.legacy.size };
  }
}

function nodeKey(n: { host: string; port: number }): string {
  return `${n.host}|${n.port}`;
}
