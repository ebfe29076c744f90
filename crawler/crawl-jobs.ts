import { type Clock } from '../bep5/clock.js';
import { type PeerAddress } from '../bep5/compact.js';
import { RateBudget } from '../bep5/rate-limit.js';
import { IndexDeque } from './index-deque.js';
import { tableKey } from './fmix32.js';
import { Ipv4RateLimiter, ipv6RateKey } from './ipv4-rate-limiter.js';
import { type NodeIndex } from './node-index.js';

export interface CrawlJob {
  kind: 'visit' | 'bootstrap' | 'peers' | 'scrape';
  index: number; // node index (-1 for bootstrap)
  address?: PeerAddress;
  infoHash?: Buffer;
}

/**
 * What a crawl has to send, and which of it goes next: bootstrap queries first, then the few
 * BEP 33 census probes, then get_peers for new infohashes within their own budget, then node
 * visits, each IP within its rate.
 */
export class CrawlJobs {
  /** The sweep's visits, as node indexes: push is later in the sweep, unshift next. */
  readonly visitQueue = new IndexDeque();
  private readonly peerJobs: CrawlJob[] = [];
  private readonly scrapeJobs: CrawlJob[] = [];
  private readonly bootstrapJobs: CrawlJob[] = [];
  private readonly perIp: Ipv4RateLimiter;
  /** The secret key of the /64 fold (ipv6RateKey): no /64 can be chosen to share another's bucket. */
  private readonly ipv6Key = tableKey();
  /** IPv6 nodes' per-/64 limit (ipv6RateKey); made with the first IPv6 visit, so an IPv4 crawl holds none. */
  private perIp6: Ipv4RateLimiter | undefined;
  private readonly peersBudget: RateBudget | undefined;

  constructor(
    private readonly nodes: NodeIndex,
    private readonly o: { perIpRate: number; getPeersRate: number; clock: Clock },
  ) {
    this.perIp = this.newPerIpLimiter();
    this.peersBudget = o.getPeersRate > 0 ? new RateBudget({ ratePerSecond: o.getPeersRate, burst: Math.max(1, Math.ceil(o.getPeersRate / 10)), clock: o.clock }) : undefined;
  }

  /** Nothing left to send. */
  get empty(): boolean {
    return this.visitQueue.length === 0 && this.bootstrapJobs.length === 0 && this.peerJobs.length === 0 && this.scrapeJobs.length === 0;
  }

  /** A find_node to an address whose node ID is not known yet (a bootstrap node, a descent hop). */
  addBootstrap(address: PeerAddress): void {
    this.bootstrapJobs.push({ kind: 'bootstrap', index: -1, address });
  }

  /** A get_peers for a new infohash, asked of the node that sampled it; none when peer discovery is off. */
  addPeers(index: number, infoHash: Buffer): void {
    if (this.peersBudget) this.peerJobs.push({ kind: 'peers', index, infoHash });
  }

  /** A BEP 33 census probe (crawler/scrape-probes.ts): get_peers with `scrape` for one of the node's own samples. */
  addScrapeProbe(index: number, infoHash: Buffer): void {
    this.scrapeJobs.push({ kind: 'scrape', index, infoHash });
  }

  /** Bootstrap first, then census probes, then peer lookups within their own budget, then node visits. */
  next(): CrawlJob | undefined {
    const boot = this.bootstrapJobs.shift();
    if (boot) return boot;
    const probe = this.scrapeJobs.shift();
    if (probe) return probe;
    if (this.peerJobs.length > 0 && this.peersBudget?.take()) return this.peerJobs.shift();
    // Visit nodes; an IP over its rate goes to the back of the queue, tried again later.
    for (let tries = 0; tries < this.visitQueue.length && tries < 64; tries++) {
      const index = this.visitQueue.shift()!;
      if (!this.takePerIp(index)) {
        this.visitQueue.push(index);
        continue;
      }
      return { kind: 'visit', index };
    }
    return undefined;
  }

  /** One query's worth of the node's per-IP budget (per /64 for IPv6); false while it has none. */
  private takePerIp(index: number): boolean {
    const ipv6 = this.nodes.ipv6(index);
    if (ipv6 === undefined) return this.perIp.take(this.nodes.ipv4(index));
    this.perIp6 ??= this.newPerIpLimiter();
    return this.perIp6.take(ipv6RateKey(ipv6, this.nodes.port(index), this.ipv6Key));
  }

  private newPerIpLimiter(): Ipv4RateLimiter {
    return new Ipv4RateLimiter({ ratePerSecond: this.o.perIpRate, burst: 4, clock: this.o.clock });
  }

  /** A job taken but not sent (the global budget was spent): first again next time. */
  requeue(job: CrawlJob): void {
    if (job.kind === 'visit') this.visitQueue.unshift(job.index);
    else if (job.kind === 'bootstrap') this.bootstrapJobs.unshift(job);
    else if (job.kind === 'scrape') this.scrapeJobs.unshift(job);
    else this.peerJobs.unshift(job);
  }
}
