import { EventEmitter } from 'node:events';
import { isBep42Compliant } from '../bep5/bep42.js';
import { type Clock, systemClock } from '../bep5/clock.js';
import { type NodeInfo, type PeerAddress } from '../bep5/compact.js';
import { type AddressScope } from '../bep5/address-scope.js';
import { type QueryResult } from '../bep5/krpc-socket-types.js';
import { type Family } from '../bep5/node-types.js';
import { type RandomSource, cryptoRandom } from '../bep5/random.js';
import { RateBudget } from '../bep5/rate-limit.js';
import { Bitset } from './bitset.js';
import { CRAWL_DESCENT_MAX_QUERIES, CRAWL_DESCENT_UNTIL, CRAWL_DEFAULT_INFLIGHT, CRAWL_DEFAULT_GET_PEERS_RATE, CRAWL_DEFAULT_PER_IP_RATE, CRAWL_DEFAULT_RATE, CRAWL_MAX_TIMEOUT_MS, CRAWL_RETRY_TIMEOUT_FACTOR, CRAWL_MIN_TIMEOUT_MS, CRAWL_SINK_POLL_MS } from './constants.js';
import { type CrawlJob, CrawlJobs } from './crawl-jobs.js';
import { CrawlLearning } from './crawl-learning.js';
import { DiscoveryReporter } from './discovery-reporter.js';
import { discoveryAddress } from './discovery.js';
import { FamilySockets } from './family-sockets.js';
import { DropAdaptation } from './drop-adaptation.js';
import { type RecentFingerprints } from './recent-fingerprints.js';
import { NODE_FEATURE, NODE_FLAG, NodeIndex, SWEEP_FLAGS } from './node-index.js';
import { ScrapeProbeBudget, ScrapeProbes } from './scrape-probes.js';
import { NodeVisits, type VisitMethod } from './node-visits.js';
import { hostReceiveDrops } from './receive-drops.js';
import { TargetChooser } from './target-chooser.js';
import { type CrawlProgress, type CrawlerEvents, type CrawlerOptions, type SweepSummary } from './crawler-types.js';

/** A reply's contacts, per family (BEP 32: `nodes` IPv4, `nodes6` IPv6). */
type Contacts = { nodes: readonly NodeInfo[]; nodes6: readonly NodeInfo[] };

export { CrawlLearning } from './crawl-learning.js';

/**
 * The crawler: sweeps the ID space so that every node is queried about once per sweep, with
 * one RPC that yields both its neighbours and its stored infohashes (BEP 51
 * sample_infohashes; find_node for nodes without BEP 51). It is a polite node: it uses a
 * real node's identity (which answers every query), paces itself globally and per IP, and
 * asks each node for peers only of infohashes that node said it stores.
 *
 * This file is the sweep loop: pacing, sending, and where answers go. The parts with their own
 * job are beside it: which query goes next (crawl-jobs.ts), what a visit's answer or silence
 * means for a node (node-visits.ts), what the crawl learns and acts on (crawl-learning.ts), the
 * kernel's drops (drop-adaptation.ts), reporting discoveries (discovery-reporter.ts), target
 * choice (target-chooser.ts), timeouts (rtt-tracker.ts), the address families crawled and
 * their sockets (family-sockets.ts: IPv4 and IPv6 in one sweep, BEP 32).
 *
 * Why this file is over 400 lines: what is left is the loop itself (pacing, sending, and where
 * each kind of answer goes), and every part with a job of its own is already beside it.
 */

export class Crawler extends EventEmitter<CrawlerEvents> {
  readonly nodes: NodeIndex;
  /** What first contacts and client versions turned out to be (shared by a survey's partitions). */
  private readonly learning: CrawlLearning;
  /** The families crawled, their sockets and `want` (BEP 32). */
  private readonly sockets: FamilySockets;
  private readonly clock: Clock;
  private readonly random: RandomSource;
  private readonly budget: RateBudget;
  private readonly maxInflight: number;
  private readonly addressScope: AddressScope;
  private samplesAsked = 0;
  private skippedContacts = 0;
  private readonly reporter: DiscoveryReporter;
  private pausedForSink = false;
  private sinkPausedMs = 0;
  private readonly jobs: CrawlJobs;
  private inflight = 0;
  private queriesSent = 0;
  private sweepNumber = 0;
  private readonly startedAt: number;
  private wake: (() => void) | undefined;
  private readonly targets: TargetChooser;
  private readonly drops: DropAdaptation;
  private readonly visits: NodeVisits;
  private readonly scrapeProbes: ScrapeProbes | undefined;
  /** Partition crawls: nodes known inside the partition, and queries sent to find them (the descent). */
  private partitionKnown = 0;
  /** The nodes that failed in the sweep before the last (forgetDeadNodes). */
  private failedLastSweep = new Bitset(0);
  private forgotten = 0;
  private descentQueries = 0;

  constructor(private readonly o: CrawlerOptions) {
    super();
    this.learning = o.learning ?? new CrawlLearning();
    this.nodes = new NodeIndex(1024, this.learning.versions);
    this.reporter = new DiscoveryReporter(this.nodes, o.sink, o.maxInfohashes);
    this.sockets = new FamilySockets(o.node, o.families);
    this.clock = o.clock ?? systemClock;
    this.random = o.random ?? cryptoRandom;
    const rate = o.rate ?? CRAWL_DEFAULT_RATE;
    this.budget = new RateBudget({ ratePerSecond: rate, burst: Math.max(1, Math.ceil(rate / 10)), clock: this.clock });
    this.jobs = new CrawlJobs(this.nodes, { perIpRate: o.perIpRate ?? CRAWL_DEFAULT_PER_IP_RATE, getPeersRate: o.getPeersRate ?? CRAWL_DEFAULT_GET_PEERS_RATE, clock: this.clock });
    this.maxInflight = o.maxInflight ?? CRAWL_DEFAULT_INFLIGHT;
    this.addressScope = o.addressScope ?? o.node.addressScope;
    this.startedAt = this.clock.now();
    this.targets = new TargetChooser(this.nodes, this.random, o.strategy ?? 'coverage', o.partition);
    this.drops = new DropAdaptation(this.budget, rate, o.receiveDrops ?? hostReceiveDrops, this.clock);
    this.scrapeProbes = o.scrapeProbes === false ? undefined : new ScrapeProbes(this.nodes, o.scrapeProbes === undefined ? this.learning.scrapeProbes : new ScrapeProbeBudget(o.scrapeProbes));
    this.visits = new NodeVisits({
      nodes: this.nodes,
      learning: this.learning,
      queue: this.jobs.visitQueue,
      drops: this.drops,
      elapsedMs: () => this.clock.now() - this.startedAt,
      release: (index) => this.reporter.release(index),
    });
    // Passive: what others ask of or announce to our node is also a discovery. A partition's
    // crawl (a shared survey) leaves that to the process, or each infohash would count once
    // per partition in hand.
    if (o.partition === undefined) {
      o.node.on('announce', this.onAnnounce);
      o.node.on('get-peers', this.onGetPeers);
    }
  }

  private readonly onAnnounce = ({ infoHash, peer }: { infoHash: Buffer; peer: PeerAddress }): void => void this.reporter.infohash(infoHash, discoveryAddress(peer), 'announce_peer');
  private readonly onGetPeers = ({ infoHash, from }: { infoHash: Buffer; from: PeerAddress }): void => void this.reporter.infohash(infoHash, discoveryAddress(from), 'get_peers');

  /** The address families this crawl covers. */
  get families(): Family[] {
    return this.sockets.families;
  }

  /** Stops listening to the node (its socket stays the node's): for crawlers that come and go on one node. */
  detach(): void {
    this.o.node.off('announce', this.onAnnounce);
    this.o.node.off('get-peers', this.onGetPeers);
  }

  progress(): CrawlProgress {
    const elapsedMs = this.clock.now() - this.startedAt;
    let answered = 0;
    let answeredIpv6 = 0;
    for (let i = 0; i < this.nodes.size; i++) {
      const f = this.nodes.flags(i);
      if (f & NODE_FLAG.ANSWERED) {
        answered++;
        if (f & NODE_FLAG.IPV6) answeredIpv6++;
      }
    }
    return {
      sweep: this.sweepNumber,
      known: this.nodes.size,
      answered,
      ipv6: { known: this.nodes.ipv6Count, answered: answeredIpv6 },
      queued: this.jobs.visitQueue.length,
      inflight: this.inflight,
      queriesSent: this.queriesSent,
      rps: elapsedMs > 0 ? (this.queriesSent * 1000) / elapsedMs : 0,
      infohashes: this.reporter.infohashes.size,
      peers: this.reporter.peersFound,
      pausedForSink: this.pausedForSink,
      sinkPausedMs: this.sinkPausedMs,
      samplesAsked: this.samplesAsked,
      scrapeProbes: this.scrapeProbes?.sent ?? 0,
      skippedContacts: this.skippedContacts,
      timeoutsDuringDrops: this.drops.timeoutsDuringDrops,
      rate: this.budget.ratePerSecond,
      forgotten: this.forgotten,
      elapsedMs,
    };
  }

  /**
   * What the crawl learned about BEP 51 per client version (`v` hex, null for none): nodes
   * with it, nodes without, and whether that version's nodes are now asked find_node first.
   */
  clientBep51(): Array<{ version: string | null; supported: number; unsupported: number; neverSupports: boolean }> {
    return this.learning.clients.entries().map(([v, supported, unsupported]) => ({
      version: v === 0 ? null : (this.nodes.versions[v] ?? null),
      supported,
      unsupported,
      neverSupports: this.learning.clients.neverSupports(v),
    }));
  }

  /** Infohashes seen so far: has(hex or 20 bytes), size (crawler/fingerprint-set.ts). */
  knownInfohashes(): Pick<RecentFingerprints, 'has' | 'size'> {
    return this.reporter.infohashes;
  }

  /**
   * One sweep: every known node (and every node learned during the sweep) is visited once.
   * Resolves when nothing is left to visit and nothing is in flight, or when aborted.
   */
  async sweep(signal?: AbortSignal, options: { resume?: boolean } = {}): Promise<SweepSummary> {
    if (options.resume !== true || this.sweepNumber === 0) {
      if (this.o.forgetDeadNodes === true && this.sweepNumber > 0) this.forgetDeadNodes();
      this.sweepNumber++;
      this.nodes.clearFlagEverywhere(SWEEP_FLAGS);
      this.visits.newSweep();
      // A partition's crawl is part of one sweep of the whole space: the budget is its process's.
      if (this.o.partition === undefined) this.scrapeProbes?.newSweep();
      this.jobs.visitQueue.clear();
      for (let i = 0; i < this.nodes.size; i++) if (!this.nodes.hasFlag(i, NODE_FLAG.FOREIGN)) this.jobs.visitQueue.push(i);
      if (this.partitionKnown === 0) for (const address of this.o.bootstrap) if (this.sockets.forHost(address.host) !== undefined) this.jobs.addBootstrap(address);
    }
    const onAbort = (): void => this.wake?.();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      while (!signal?.aborted) {
        if (this.o.sink?.saturated?.() === true) {
          await this.holdForSink(signal);
          continue;
        }
        this.drops.adaptRate();
        const job = this.inflight >= this.maxInflight ? undefined : this.jobs.next();
        if (job === undefined) {
          if (this.inflight === 0 && this.jobs.empty) break;
          await this.waitForWork();
          continue;
        }
        if (!this.budget.take()) {
          this.jobs.requeue(job);
          await this.sleep(Math.max(1, this.budget.waitMs()));
          continue;
        }
        this.send(job);
      }
      // Let what is in flight finish, so the summary counts it.
      while (this.inflight > 0) await this.waitForWork();
    } finally {
      signal?.removeEventListener('abort', onAbort);
      this.reporter.releaseAll();
    }
    const summary = this.sweepSummary();
    this.emit('sweep-done', summary);
    return summary;
  }

  /**
   * Sweeps again and again until `durationMs` has passed or the signal fires. Later sweeps
   * re-visit every known node (that is what measures churn), sampling those whose BEP 51
   * interval has passed and asking the rest only for nodes. Returns every sweep's summary.
   */
  async run(options: { durationMs?: number; signal?: AbortSignal; maxSweeps?: number } = {}): Promise<SweepSummary[]> {
    const deadline = options.durationMs === undefined ? undefined : AbortSignal.timeout(options.durationMs);
    const signals = [options.signal, deadline].filter((s): s is AbortSignal => s !== undefined);
    const signal = signals.length > 0 ? AbortSignal.any(signals) : undefined;
    const summaries: SweepSummary[] = [];
    while (!signal?.aborted && summaries.length < (options.maxSweeps ?? Infinity)) {
      summaries.push(await this.sweep(signal));
      // A network that answered nothing: wait a little before knocking again.
      if (this.nodes.size === 0 && !signal?.aborted) await this.sleep(1000);
    }
    return summaries;
  }

  /** Queries a partition crawl sent to other partitions' nodes to find its own (its descent). */
  get descentQueriesSent(): number {
    return this.descentQueries;
  }

  /**
   * Contacts from elsewhere (a shared survey's other partitions): learned as if a node had
   * named them, and queued in the sweep running now (or in the next one, or a resumed one).
   */
  addContacts(contacts: Iterable<{ id: Buffer; host: string; port: number }>): number {
    const before = this.nodes.size;
    for (const c of contacts) this.learn(c.id, c.host, c.port, true);
    const added = this.nodes.size - before;
    if (added > 0) this.wake?.();
    return added;
  }

  /**
   * Forgets the nodes that failed in the sweep that ended and either never answered (a contact
   * that was never there, or is gone) or failed in the sweep before too; see
   * CrawlerOptions.forgetDeadNodes. Two sweeps, not one, for a node that answered once: a
   * home computer off for an evening keeps its ID and address, and is still known when it is
   * back. A forgotten node that is still handed out as a contact is learned again, as new.
   * Runs between sweeps, when no query, job or held-back event refers to a node index.
   */
  private forgetDeadNodes(): void {
    if (!this.jobs.empty || this.inflight > 0) return;
    const nodes = this.nodes;
    const failedNow = new Bitset(nodes.size);
    const dead = new Bitset(nodes.size);
    let forgotten = 0;
    for (let i = 0; i < nodes.size; i++) {
      const f = nodes.flags(i);
      if (!(f & NODE_FLAG.FAILED)) continue;
      failedNow.set(i);
      if (!(f & NODE_FLAG.ANSWERED) || this.failedLastSweep.has(i)) {
        dead.set(i);
        forgotten++;
      }
    }
    if (forgotten === 0) {
      this.failedLastSweep = failedNow;
      return;
    }
    const remap = nodes.compact((i) => !dead.has(i));
    this.failedLastSweep = failedNow.remap(remap, nodes.size);
    this.targets.recount();
    this.forgotten += forgotten;
    this.emit('nodes-forgotten', { sweep: this.sweepNumber + 1, forgotten, remap, size: nodes.size });
  }

  private sweepSummary(): SweepSummary {
    let answeredThisSweep = 0;
    let failedThisSweep = 0;
    let bep51 = 0;
    let noBep51 = 0;
    for (let i = 0; i < this.nodes.size; i++) {
      const f = this.nodes.flags(i);
      if (f & NODE_FLAG.QUERIED && !(f & NODE_FLAG.FAILED) && f & NODE_FLAG.ANSWERED) answeredThisSweep++;
      if (f & NODE_FLAG.FAILED) failedThisSweep++;
      if (f & NODE_FLAG.BEP51) bep51++;
      if (f & NODE_FLAG.NO_BEP51) noBep51++;
    }
    return { ...this.progress(), answeredThisSweep, failedThisSweep, bep51, noBep51 };
  }

  /** Sends nothing until the sink can take more again (or the crawl is stopped). */
  private async holdForSink(signal?: AbortSignal): Promise<void> {
    const since = this.clock.now();
    this.pausedForSink = true;
    try {
      while (!signal?.aborted && this.o.sink?.saturated?.() === true) await this.sleep(CRAWL_SINK_POLL_MS);
    } finally {
      this.pausedForSink = false;
      this.sinkPausedMs += this.clock.now() - since;
    }
  }

  private waitForWork(): Promise<void> {
    // Woken by any reply; a timer catches budget refills and deferred per-IP work.
    return new Promise((resolve) => {
      const timer = this.clock.setTimeout(() => {
        this.wake = undefined;
        resolve();
      }, 20);
      timer.unref?.();
      this.wake = () => {
        this.clock.clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
    });
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = this.clock.setTimeout(resolve, ms);
      t.unref?.();
    });
  }

  private send(job: CrawlJob): void {
    this.inflight++;
    this.queriesSent++;
    const done = (): void => {
      this.inflight--;
      this.wake?.();
    };
    const timeoutMs = this.learning.rtt.timeoutMs(CRAWL_MIN_TIMEOUT_MS, CRAWL_MAX_TIMEOUT_MS);
    const ownId = this.o.node.id;
    const want = this.sockets.want;
    if (job.kind === 'peers') {
      const to = { host: this.nodes.host(job.index), port: this.nodes.port(job.index) };
      this.sockets
        .forNode(this.nodes, job.index)
        .query(to, { method: 'get_peers', id: ownId, infoHash: job.infoHash!, want }, { timeoutMs })
        .then((r) => this.onPeers(job, r), () => undefined)
        .finally(done);
      return;
    }
    if (job.kind === 'scrape') {
      const to = { host: this.nodes.host(job.index), port: this.nodes.port(job.index) };
      this.sockets
        .forNode(this.nodes, job.index)
        .query(to, { method: 'get_peers', id: ownId, infoHash: job.infoHash!, want, scrape: true }, { timeoutMs })
        .then((r) => this.onScrapeProbe(job.index, r), () => undefined)
        .finally(done);
      return;
    }
    if (job.kind === 'bootstrap') {
      this.sockets
        .forHost(job.address!.host)!
        .query(job.address!, { method: 'find_node', id: ownId, target: this.targets.random(), want }, { timeoutMs })
        .then((r) => this.onNodes(-1, r.reply, r as QueryResult<'find_node'>), () => undefined)
        .finally(done);
      return;
    }
    const index = job.index;
    const dropsAtSend = this.drops.count();
    this.visits.begin(index);
    const to = { host: this.nodes.host(index), port: this.nodes.port(index) };
    const socket = this.sockets.forNode(this.nodes, index);
    const target = this.targets.forVisit(index);
    const method = this.visits.method(index);
    const visitTimeoutMs = this.visits.secondChance(index) ? Math.min(CRAWL_MAX_TIMEOUT_MS, timeoutMs * CRAWL_RETRY_TIMEOUT_FACTOR) : timeoutMs;
    if (method === 'sample_infohashes') this.samplesAsked++;
    const request =
      method === 'sample_infohashes'
        ? socket.query(to, { method: 'sample_infohashes', id: ownId, target, want }, { timeoutMs: visitTimeoutMs })
        : socket.query(to, { method: 'find_node', id: ownId, target, want }, { timeoutMs: visitTimeoutMs });
    request
      .then(
        (r) => this.onVisitReply(index, method, r as QueryResult<'find_node'> | QueryResult<'sample_infohashes'>),
        (err: unknown) => this.visits.onFailure(index, method, err, dropsAtSend),
      )
      .finally(done);
  }

  private onVisitReply(index: number, method: VisitMethod, r: QueryResult<'find_node'> | QueryResult<'sample_infohashes'>): void {
    if (this.visits.onReply(index, method, r)) this.onSample(index, r as QueryResult<'sample_infohashes'>);
    this.visits.countClient(index, true);
    this.onNodes(index, r.reply, r as QueryResult<'find_node'>);
  }

  private onNodes(index: number, found: Contacts, result: QueryResult<'find_node'>): void {
    const at = Date.now();
    this.learning.rtt.add(result.rttMs);
    // A bootstrap address: index it now that we know its ID.
    if (index === -1) index = this.learn(result.reply.id, result.from.host, result.from.port, false);
    if (index >= 0) this.recordAnswer(index, result, at);
    // Each family's contacts go to its side; a family not crawled is not learned at all.
    if (this.sockets.socket4 !== undefined) for (const n of found.nodes) this.learn(n.id, n.host, n.port, true);
    let usable6 = 0;
    if (this.sockets.socket6 !== undefined) for (const n of found.nodes6) if (this.learn(n.id, n.host, n.port, true) !== -1) usable6++;
    if (index >= 0) this.judgeBep32(index, this.sockets.socket6 !== undefined ? usable6 > 0 : found.nodes6.length > 0);
  }

  private recordAnswer(index: number, result: QueryResult<'find_node'> | QueryResult<'sample_infohashes'>, at: number): void {
    const firstAnswer = !this.nodes.hasFlag(index, NODE_FLAG.ANSWERED) || this.nodes.rttMs(index) === 0;
    this.nodes.setFlag(index, NODE_FLAG.ANSWERED);
    this.nodes.setRttMs(index, result.rttMs);
    this.nodes.setVersion(index, result.v);
    if (isBep42Compliant(result.reply.id, this.nodes.ipBytes(index))) this.nodes.setFlag(index, NODE_FLAG.BEP42);
    if (firstAnswer) this.reporter.nodeAnswered(index, result.v, at);
  }

  /**
   * BEP 32 for the census: a node that answers over IPv6, or hands out IPv6 contacts we could
   * use (in scope: link-local or documentation addresses show nothing), is on IPv6; one that
   * answered `want: n6` with none does not show it (yet: support wins later).
   */
  private judgeBep32(index: number, gaveNodes6: boolean): void {
    if (gaveNodes6 || this.nodes.ipv6(index) !== undefined) this.nodes.setFeature(index, NODE_FEATURE.BEP32);
    else if (this.sockets.want?.n6 === true) this.nodes.setFeature(index, NODE_FEATURE.NO_BEP32);
  }

  /**
   * Adds a node we heard of (family-sockets.ts says which it takes); new ones are queued for
   * this sweep. Returns its index or -1: for ourselves, a family not crawled, and an address
   * outside the scope (counted as skipped).
   */
  private learn(id: Buffer, host: string, port: number, queue: boolean): number {
    if (id.equals(this.o.node.id)) return -1;
    const found = this.sockets.add(this.nodes, id, host, port, this.addressScope);
    if (found === 'skipped') this.skippedContacts++;
    if (found === undefined || found === 'skipped') return -1;
    const { index, added } = found;
    if (!added) return index;
    this.targets.noteNode(id);
    const partition = this.o.partition;
    if (partition !== undefined && !partition.contains(id)) {
      // Another partition's node: passed on, never visited here, except to find our way into
      // our own partition while we know almost none of it (a lookup's hops).
      this.nodes.setFlag(index, NODE_FLAG.FOREIGN);
      this.o.onForeignContact?.(id, host, port);
      if (queue && this.partitionKnown < CRAWL_DESCENT_UNTIL && this.descentQueries < CRAWL_DESCENT_MAX_QUERIES) {
        this.descentQueries++;
        this.jobs.addBootstrap({ host, port });
      }
      return index;
    }
    this.partitionKnown++;
    if (queue) this.jobs.visitQueue.push(index);
    return index;
  }

  private onSample(index: number, result: QueryResult<'sample_infohashes'>): void {
    const { reply } = result;
    const at = Date.now();
    this.visits.sampled(index, reply.interval);
    this.reporter.release(index);
    const address = this.nodes.address(index);
    this.reporter.sample(address, reply, at);
    let fresh = 0;
    for (const s of reply.samples) {
      if (!this.reporter.infohash(s, address, 'sample')) continue;
      fresh++;
      this.jobs.addPeers(index, s);
    }
    this.visits.sampleAgain(index, reply, fresh);
    if (this.scrapeProbes?.pick(index, reply.samples.length) === true) this.jobs.addScrapeProbe(index, reply.samples[0]!);
  }

  private onScrapeProbe(index: number, result: QueryResult<'get_peers'>): void {
    this.scrapeProbes!.judge(index, result.reply);
    this.onNodes(index, result.reply, result as unknown as QueryResult<'find_node'>);
  }

  private onPeers(job: CrawlJob, result: QueryResult<'get_peers'>): void {
    if (result.reply.values.length === 0) return;
    this.reporter.peers(job.infoHash!, result.reply.values, this.nodes.address(job.index));
    this.onNodes(job.index, result.reply, result as unknown as QueryResult<'find_node'>);
  }
}
