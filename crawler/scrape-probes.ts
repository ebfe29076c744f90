import { type GetPeersReply } from '../bep5/replies.js';
import { CRAWL_SCRAPE_PROBE_EVERY, CRAWL_SCRAPE_PROBE_FIRST, CRAWL_SCRAPE_PROBES_PER_SWEEP } from './constants.js';
import { NODE_FEATURE, type NodeIndex } from './node-index.js';

export interface ScrapeProbeLimits {
  first: number;
  every: number;
  perSweep: number;
}

/**
 * How many probes a sweep may send: the first `first` candidates, then one in `every`, at most
 * `perSweep`. One per crawl; the partitions of a shared survey (one sweep of the whole space)
 * share their process's, through CrawlLearning, or each partition would probe its first 64.
 */
export class ScrapeProbeBudget {
  private candidates = 0;
  private probes = 0;

  constructor(readonly limits: ScrapeProbeLimits = { first: CRAWL_SCRAPE_PROBE_FIRST, every: CRAWL_SCRAPE_PROBE_EVERY, perSweep: CRAWL_SCRAPE_PROBES_PER_SWEEP }) {}

  newSweep(): void {
    this.candidates = 0;
    this.probes = 0;
  }

  /** A node that could be probed: whether this one is. */
  take(): boolean {
    const nth = this.candidates++;
    if (this.probes >= this.limits.perSweep) return false;
    if (nth >= this.limits.first && (nth - this.limits.first) % this.limits.every !== 0) return false;
    this.probes++;
    return true;
  }
}

/**
 * Which nodes the census asks whether they speak BEP 33, and what their answers say.
 *
 * A scrape only shows support when the node holds the swarm: libtorrent (and dhtscope) answer
 * a get_peers for an infohash they do not store with nodes alone, scrape or not. So the probe
 * asks for one of the node's own samples, and only BEP 51 nodes can be probed. The reply is
 * read strictly: filters mean support; `values` without filters mean the node has the swarm
 * and ignores `scrape`; neither (the entry expired since it was sampled) says nothing.
 */
export class ScrapeProbes {
  /** Probes sent by this crawl (each one packet). */
  sent = 0;

  constructor(
    private readonly nodes: NodeIndex,
    private readonly budget: ScrapeProbeBudget,
  ) {}

  /** A node gave samples: whether to probe it now (then it is marked, and never probed again). */
  pick(index: number, samples: number): boolean {
    if (samples === 0) return false;
    if (this.nodes.features(index) & (NODE_FEATURE.SCRAPE_PROBED | NODE_FEATURE.BEP33 | NODE_FEATURE.NO_BEP33)) return false;
    if (!this.budget.take()) return false;
    this.sent++;
    this.nodes.setFeature(index, NODE_FEATURE.SCRAPE_PROBED);
    return true;
  }

  newSweep(): void {
    this.budget.newSweep();
  }

  /** Reads a probe's reply into the node's verdict. */
  judge(index: number, reply: Pick<GetPeersReply, 'bfsd' | 'bfpe' | 'values'>): void {
    if (reply.bfsd !== undefined && reply.bfpe !== undefined) this.nodes.setFeature(index, NODE_FEATURE.BEP33);
    else if (reply.values.length > 0) this.nodes.setFeature(index, NODE_FEATURE.NO_BEP33);
  }
}
