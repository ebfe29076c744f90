import { EventEmitter } from 'node:events';
import { isBep42Compliant } from '../bep5/bep42.js';
import { type Clock, systemClock } from '../bep5/clock.js';
import { type NodeInfo, type PeerAddress } from '../bep5/compact.js';
import { KrpcRemoteError, KrpcInvalidReplyError, KrpcTimeoutError } from '../bep5/errors.js';
import { type AddressScope, inAddressScope } from '../bep5/address-scope.js';
import { type KrpcSocket } from '../bep5/krpc-socket.js';
import { type QueryResult } from '../bep5/krpc-socket-types.js';
import { idToHex } from '../bep5/node-id.js';
import { type RandomSource, cryptoRandom } from '../bep5/random.js';
import { RateBudget } from '../bep5/rate-limit.js';
import { CRAWL_DESCENT_MAX_QUERIES, CRAWL_DESCENT_UNTIL, CRAWL_DROP_BACKOFF, CRAWL_DROP_RECOVERY, CRAWL_DROP_RETRIES, CRAWL_MIN_RATE_SHARE, CRAWL_RATE_ADAPT_MS, CRAWL_DEFAULT_INFLIGHT, CRAWL_DEFAULT_GET_PEERS_RATE, CRAWL_DEFAULT_PER_IP_RATE, CRAWL_DEFAULT_RATE, CRAWL_MAX_TIMEOUT_MS, CRAWL_RETRY_TIMEOUT_FACTOR, CRAWL_MIN_TIMEOUT_MS, CRAWL_SINK_POLL_MS, CRAWL_CLIENT_NO_BEP51_AFTER, CRAWL_FIRST_CONTACT_LEARNING, CRAWL_MAX_SAMPLES_PER_SWEEP, CRAWL_RETRY_LEARNING, CRAWL_RETRY_MIN_YIELD } from './constants.js';
import { type Discovery } from './discovery.js';
import { ClientBep51Stats } from './client-bep51.js';
import { FingerprintSet } from './fingerprint-set.js';
import { IndexDeque } from './index-deque.js';
import { Ipv4RateLimiter } from './ipv4-rate-limiter.js';
import { ClientVersions, DROP_RETRY_MASK, DROP_RETRY_SHIFT, MAX_VERSIONS, NODE_FLAG, NodeIndex, SWEEP_FLAGS, ipv4ToNumber } from './node-index.js';
import { CachedCounter, hostReceiveDrops } from './receive-drops.js';
import { RttTracker } from './rtt-tracker.js';
import { TargetChooser } from './target-chooser.js';
import { type CrawlProgress, type CrawlerEvents, type CrawlerOptions, type SweepSummary } from './crawler-types.js';

/**
 * The crawler: sweeps the ID space so that every node is queried about once per sweep, with
 * one RPC that yields both its neighbours and its stored infohashes (BEP 51
 * sample_infohashes; find_node for nodes without BEP 51). It is a polite node: it uses a
 * real node's identity (which answers every query), paces itself globally and per IP, and
 * asks each node for peers only of infohashes that node said it stores.
 *
 * Why this file is over 400 lines: a visit's whole life (pick, pace, send, and what each kind of
 * answer or silence means for the node, its client version and the sweep) is one state machine
 * over the typed arrays of node-index.ts; split, its rules would be spread over modules that
 * each see half of a node's flags. The parts with their own job are elsewhere: target choice
 * (target-chooser.ts), per-client BEP 51 learning (client-bep51.ts), timeouts (rtt-tracker.ts).
 */

interface Job {
  kind: 'visit' | 'bootstrap' | 'peers';
  index: number; // node index (-1 for bootstrap)
  address?: PeerAddress;
  infoHash?: Buffer;
}

export class Crawler extends EventEmitter<CrawlerEvents> {
  readonly nodes: NodeIndex;
  /** What first contacts and client versions turned out to be (shared by a survey's partitions). */
  private readonly learning: CrawlLearning;
  private readonly socket: KrpcSocket;
  private readonly clock: Clock;
  private readonly random: RandomSource;
  private readonly budget: RateBudget;
  private readonly perIp: Ipv4RateLimiter;
  private readonly peersBudget: RateBudget | undefined;
  private readonly maxInflight: number;
  private readonly addressScope: AddressScope;
  private samplesAsked = 0;
  /** Samples asked this sweep of nodes that were asked more than once (few: see CRAWL_MAX_SAMPLES_PER_SWEEP). */
  private readonly repeatSamples = new Map<number, number>();
  private skippedContacts = 0;
  private readonly infohashes = new FingerprintSet();
  /**
   * Node discoveries held back until the node's BEP 51 verdict: a node that answered find_node
   * and is sampled next (RESAMPLE) is reported once, with the verdict, so the census counts it
   * right. Few at a time: the sample goes to the front of the queue.
   */
  private readonly pendingNodeEvents = new Map<number, Extract<Discovery, { type: 'node' }>>();
  private pausedForSink = false;
  private sinkPausedMs = 0;
  private readonly visitQueue = new IndexDeque();
  private readonly peerJobs: Job[] = [];
  private readonly bootstrapJobs: Job[] = [];
  private inflight = 0;
  private queriesSent = 0;
  private peersFound = 0;
  private sweepNumber = 0;
  private readonly startedAt: number;
  private wake: (() => void) | undefined;
  private readonly targets: TargetChooser;
  /** Kernel receive-buffer drops so far (crawler/receive-drops.ts), read at most every 100 ms. */
  private readonly receiveDrops: CachedCounter;
  private readonly configuredRate: number;
  private dropsAtLastAdapt = 0;
  private lastAdaptAt = 0;
  private lastDropAt = Number.NEGATIVE_INFINITY;
  /** Timeouts that came while the kernel dropped datagrams, tried again instead of judged. */
  private timeoutsDuringDrops = 0;
  /** Partition crawls: nodes known inside the partition, and queries sent to find them (the descent). */
  private partitionKnown = 0;
  private descentQueries = 0;

  constructor(private readonly o: CrawlerOptions) {
    super();
    this.learning = o.learning ?? new CrawlLearning();
    this.nodes = new NodeIndex(1024, this.learning.versions);
    const socket = o.node.socket(4);
    if (socket === undefined) throw new Error('the crawler needs a started node with IPv4');
    this.socket = socket;
    this.clock = o.clock ?? systemClock;
    this.random = o.random ?? cryptoRandom;
    const rate = o.rate ?? CRAWL_DEFAULT_RATE;
    this.configuredRate = rate;
    this.receiveDrops = new CachedCounter(o.receiveDrops ?? hostReceiveDrops, this.clock);
    this.budget = new RateBudget({ ratePerSecond: rate, burst: Math.max(1, Math.ceil(rate / 10)), clock: this.clock });
    this.perIp = new Ipv4RateLimiter({ ratePerSecond: o.perIpRate ?? CRAWL_DEFAULT_PER_IP_RATE, burst: 4, clock: this.clock });
    const peersRate = o.getPeersRate ?? CRAWL_DEFAULT_GET_PEERS_RATE;
    this.peersBudget = peersRate > 0 ? new RateBudget({ ratePerSecond: peersRate, burst: Math.max(1, Math.ceil(peersRate / 10)), clock: this.clock }) : undefined;
    this.maxInflight = o.maxInflight ?? CRAWL_DEFAULT_INFLIGHT;
    this.addressScope = o.addressScope ?? o.node.addressScope;
    this.startedAt = this.clock.now();
    this.targets = new TargetChooser(this.nodes, this.random, o.strategy ?? 'coverage', o.partition);
    this.dropsAtLastAdapt = this.receiveDrops.now();
    // Passive: what others ask of or announce to our node is also a discovery. A partition's
    // crawl (a shared survey) leaves that to the process, or each infohash would count once
    // per partition in hand.
    if (o.partition === undefined) {
      o.node.on('announce', this.onAnnounce);
      o.node.on('get-peers', this.onGetPeers);
    }
  }

  private readonly onAnnounce = ({ infoHash, peer }: { infoHash: Buffer; peer: PeerAddress }): void => void this.noteInfohash(infoHash, `${peer.host}:${peer.port}`, 'announce_peer');
  private readonly onGetPeers = ({ infoHash, from }: { infoHash: Buffer; from: PeerAddress }): void => void this.noteInfohash(infoHash, `${from.host}:${from.port}`, 'get_peers');

  /** Stops listening to the node (its socket stays the node's): for crawlers that come and go on one node. */
  detach(): void {
    this.o.node.off('announce', this.onAnnounce);
    this.o.node.off('get-peers', this.onGetPeers);
  }

  progress(): CrawlProgress {
    const elapsedMs = this.clock.now() - this.startedAt;
    let answered = 0;
    for (let i = 0; i < this.nodes.size; i++) if (this.nodes.hasFlag(i, NODE_FLAG.ANSWERED)) answered++;
    return {
      sweep: this.sweepNumber,
      known: this.nodes.size,
      answered,
      queued: this.visitQueue.length,
      inflight: this.inflight,
      queriesSent: this.queriesSent,
      rps: elapsedMs > 0 ? (this.queriesSent * 1000) / elapsedMs : 0,
      infohashes: this.infohashes.size,
      peers: this.peersFound,
      pausedForSink: this.pausedForSink,
      sinkPausedMs: this.sinkPausedMs,
      samplesAsked: this.samplesAsked,
      skippedContacts: this.skippedContacts,
      timeoutsDuringDrops: this.timeoutsDuringDrops,
      rate: this.budget.ratePerSecond,
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
  knownInfohashes(): Pick<FingerprintSet, 'has' | 'size'> {
    return this.infohashes;
  }

  /**
   * One sweep: every known node (and every node learned during the sweep) is visited once.
   * Resolves when nothing is left to visit and nothing is in flight, or when aborted.
   */
  async sweep(signal?: AbortSignal, options: { resume?: boolean } = {}): Promise<SweepSummary> {
    if (options.resume !== true || this.sweepNumber === 0) {
      this.sweepNumber++;
      this.nodes.clearFlagEverywhere(SWEEP_FLAGS);
      this.repeatSamples.clear();
      this.visitQueue.clear();
      for (let i = 0; i < this.nodes.size; i++) if (!this.nodes.hasFlag(i, NODE_FLAG.FOREIGN)) this.visitQueue.push(i);
      if (this.partitionKnown === 0) for (const address of this.o.bootstrap) this.bootstrapJobs.push({ kind: 'bootstrap', index: -1, address });
    }
    const onAbort = (): void => this.wake?.();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      while (!signal?.aborted) {
        if (this.o.sink?.saturated?.() === true) {
          await this.holdForSink(signal);
          continue;
        }
        this.adaptRate();
        const job = this.nextJob();
        if (job === undefined) {
          if (this.inflight === 0 && this.visitQueue.length === 0 && this.bootstrapJobs.length === 0 && this.peerJobs.length === 0) break;
          await this.waitForWork();
          continue;
        }
        if (!this.budget.take()) {
          this.requeue(job);
          await this.sleep(Math.max(1, this.budget.waitMs()));
          continue;
        }
        this.send(job);
      }
      // Let what is in flight finish, so the summary counts it.
      while (this.inflight > 0) await this.waitForWork();
    } finally {
      signal?.removeEventListener('abort', onAbort);
      for (const index of [...this.pendingNodeEvents.keys()]) this.releaseNodeEvent(index);
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
    let added = 0;
    const before = this.nodes.size;
    for (const c of contacts) this.learn(c.id, c.host, c.port, true);
    added = this.nodes.size - before;
    if (added > 0) this.wake?.();
    return added;
  }

  /**
   * Kernel drops mean the crawl receives faster than it reads: slow down at once
   * (CRAWL_DROP_BACKOFF), and come back gently (CRAWL_DROP_RECOVERY a step) once a few
   * seconds pass without drops.
   */
  private adaptRate(): void {
    const now = this.clock.now();
    if (now - this.lastAdaptAt < CRAWL_RATE_ADAPT_MS) return;
    this.lastAdaptAt = now;
    const drops = this.receiveDrops.now();
    const rate = this.budget.ratePerSecond;
    if (drops > this.dropsAtLastAdapt) {
      this.lastDropAt = now;
      this.budget.setRate(Math.max(this.configuredRate * CRAWL_MIN_RATE_SHARE, rate * CRAWL_DROP_BACKOFF));
    } else if (rate < this.configuredRate && now - this.lastDropAt > 10 * CRAWL_RATE_ADAPT_MS) {
      this.budget.setRate(Math.min(this.configuredRate, rate * CRAWL_DROP_RECOVERY));
    }
    this.dropsAtLastAdapt = drops;
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

  private requeue(job: Job): void {
    if (job.kind === 'visit') this.visitQueue.unshift(job.index);
    else if (job.kind === 'bootstrap') this.bootstrapJobs.unshift(job);
    else this.peerJobs.unshift(job);
  }

  /** Bootstrap first, then peer lookups within their own budget, then node visits. */
  private nextJob(): Job | undefined {
    if (this.inflight >= this.maxInflight) return undefined;
    const boot = this.bootstrapJobs.shift();
    if (boot) return boot;
    if (this.peerJobs.length > 0 && this.peersBudget?.take()) return this.peerJobs.shift();
    // Visit nodes; an IP over its rate goes to the back of the queue, tried again later.
    for (let tries = 0; tries < this.visitQueue.length && tries < 64; tries++) {
      const index = this.visitQueue.shift()!;
      if (!this.perIp.take(this.nodes.ipv4(index))) {
        this.visitQueue.push(index);
        continue;
      }
      return { kind: 'visit', index };
    }
    return undefined;
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

  private send(job: Job): void {
    this.inflight++;
    this.queriesSent++;
    const done = (): void => {
      this.inflight--;
      this.wake?.();
    };
    const timeoutMs = this.learning.rtt.timeoutMs(CRAWL_MIN_TIMEOUT_MS, CRAWL_MAX_TIMEOUT_MS);
    const ownId = this.o.node.id;
    if (job.kind === 'peers') {
      const to = { host: this.nodes.host(job.index), port: this.nodes.port(job.index) };
      this.socket
        .query(to, { method: 'get_peers', id: ownId, infoHash: job.infoHash! }, { timeoutMs })
        .then((r) => this.onPeers(job, r), () => undefined)
        .finally(done);
      return;
    }
    if (job.kind === 'bootstrap') {
      this.socket
        .query(job.address!, { method: 'find_node', id: ownId, target: this.targets.random() }, { timeoutMs })
        .then((r) => this.onNodes(-1, r.reply.nodes, r as QueryResult<'find_node'>), () => undefined)
        .finally(done);
      return;
    }
    const index = job.index;
    const dropsAtSend = this.receiveDrops.now();
    if (!this.nodes.hasFlag(index, NODE_FLAG.QUERIED)) this.learning.nodesVisited++;
    this.nodes.setFlag(index, NODE_FLAG.QUERIED);
    const to = { host: this.nodes.host(index), port: this.nodes.port(index) };
    const target = this.targets.forVisit(index);
    const method = this.visitMethod(index);
    // A second chance (a retry, the find_node after a silent sample, a re-sample) waits longer:
    // the node may only have been slow, and on a busy machine loopback replies are slow too.
    const secondChance = this.nodes.hasFlag(index, NODE_FLAG.RETRIED | NODE_FLAG.SAMPLE_SILENT | NODE_FLAG.RESAMPLE);
    const visitTimeoutMs = secondChance ? Math.min(CRAWL_MAX_TIMEOUT_MS, timeoutMs * CRAWL_RETRY_TIMEOUT_FACTOR) : timeoutMs;
    if (method === 'sample_infohashes') this.samplesAsked++;
    const request =
      method === 'sample_infohashes'
        ? this.socket.query(to, { method: 'sample_infohashes', id: ownId, target }, { timeoutMs: visitTimeoutMs })
        : this.socket.query(to, { method: 'find_node', id: ownId, target }, { timeoutMs: visitTimeoutMs });
    request
      .then(
        (r) => this.onVisitReply(index, method, r as QueryResult<'find_node'> | QueryResult<'sample_infohashes'>),
        (err: unknown) => this.onVisitFailure(index, method, err, dropsAtSend),
      )
      .finally(done);
  }

  /**
   * What to ask a node on a visit: sample_infohashes, which yields its neighbours and its
   * infohashes in one packet, unless the node (or, once it has answered and we know its `v`,
   * its client version) is known not to support it, its BEP 51 interval has not passed, or
   * the sample already went unanswered in this sweep.
   */
  private visitMethod(index: number): 'sample_infohashes' | 'find_node' {
    const f = this.nodes.flags(index);
    if (f & (NODE_FLAG.RESAMPLE | NODE_FLAG.MORE_SAMPLES)) return 'sample_infohashes';
    if (!(f & NODE_FLAG.ANSWERED) && this.findNodeFirst()) return 'find_node';
    if (f & (NODE_FLAG.NO_BEP51 | NODE_FLAG.SAMPLE_SILENT)) return 'find_node';
    if (this.nodes.nextSampleAtMs(index) > this.clock.now() - this.startedAt) return 'find_node';
    if (f & NODE_FLAG.ANSWERED && !(f & NODE_FLAG.BEP51) && this.learning.clients.neverSupports(this.nodes.version(index))) return 'find_node';
    return 'sample_infohashes';
  }

  /**
   * Whether a node never heard from gets find_node first. A first contact costs, by what it turns
   * out to be: sample first, 1 packet for a BEP 51 node, 2 for any other live node (the silent
   * or refused sample, then find_node) and 2 for a dead one; find_node first, 2, 1 and 1 (a
   * find_node every BEP 5 node answers, so one timeout is a verdict). With a share p of first
   * contacts live with BEP 51, sample first costs 2 - p and find_node first 1 + p: find_node first
   * wins while p < 1/2, as on the real DHT, where most contacts handed out are dead or lack BEP 51.
   * p is learned from this crawl (after CRAWL_FIRST_CONTACT_LEARNING visits; samples until then).
   */
  private findNodeFirst(): boolean {
    return this.learning.nodesVisited >= CRAWL_FIRST_CONTACT_LEARNING && this.learning.bep51Found < this.learning.nodesVisited / 2;
  }

  private onVisitReply(index: number, method: 'sample_infohashes' | 'find_node', r: QueryResult<'find_node'> | QueryResult<'sample_infohashes'>): void {
    this.nodes.setVersion(index, r.v);
    // A first contact that answered find_node first: now sample it, unless its client (by `v`) is known to lack BEP 51.
    if (method === 'find_node' && !this.nodes.hasFlag(index, NODE_FLAG.ANSWERED | NODE_FLAG.NO_BEP51 | NODE_FLAG.BEP51 | NODE_FLAG.SAMPLE_SILENT)) {
      if (this.nodes.hasFlag(index, NODE_FLAG.RETRIED)) this.learning.firstContactRetriesAnswered++;
      if (this.learning.clients.neverSupports(this.nodes.version(index))) this.nodes.setFlag(index, NODE_FLAG.NO_BEP51);
      else if (!(this.nodes.nextSampleAtMs(index) > this.clock.now() - this.startedAt)) {
        this.nodes.setFlag(index, NODE_FLAG.RESAMPLE);
        this.visitQueue.unshift(index);
      }
    }
    if (method === 'sample_infohashes') {
      this.nodes.clearFlag(index, NODE_FLAG.RESAMPLE | NODE_FLAG.MORE_SAMPLES);
      if ('samples' in r.reply) this.onSample(index, r as QueryResult<'sample_infohashes'>);
    } else if (this.nodes.hasFlag(index, NODE_FLAG.SAMPLE_SILENT) && !this.nodes.hasFlag(index, NODE_FLAG.NO_BEP51 | NODE_FLAG.BEP51)) {
      // The node is alive; only the method went unanswered. That counts against its client
      // version at once (waiting for the re-sample's verdict would let a whole sweep's worth of
      // one client pass before anything is learned). A version known to lack BEP 51 settles
      // it; any other gets one more sample later in the sweep, for the node that was only slow.
      const version = this.nodes.version(index);
      if (!this.nodes.hasFlag(index, NODE_FLAG.CLIENT_COUNTED)) {
        this.nodes.setFlag(index, NODE_FLAG.CLIENT_COUNTED);
        this.learning.clients.record(version, false);
      }
      if (this.learning.clients.neverSupports(version)) this.nodes.setFlag(index, NODE_FLAG.NO_BEP51);
      else {
        this.nodes.setFlag(index, NODE_FLAG.RESAMPLE);
        this.nodes.clearFlag(index, NODE_FLAG.SAMPLE_SILENT);
        this.visitQueue.push(index);
      }
    }
    this.countClient(index, true);
    this.onNodes(index, r.reply.nodes, r as QueryResult<'find_node'>);
  }

  /**
   * Silence, 203 or 204 on sample_infohashes is an answer about the method, not the node:
   * find_node follows at once. Only a node silent to find_node as well (twice, counting the
   * sample) is taken for dead; a node that answered anything, an error included, is alive.
   */
  private onVisitFailure(index: number, method: 'sample_infohashes' | 'find_node', err: unknown, dropsAtSend: number): void {
    const f = this.nodes.flags(index);
    // The kernel dropped datagrams while this query was out: its reply may have been one of
    // them, so the timeout says nothing about the node. Ask again (a few times at most: the
    // counter is host-wide, and another process's drops must not hold a node forever).
    const dropRetries = (f & DROP_RETRY_MASK) >>> DROP_RETRY_SHIFT;
    if (err instanceof KrpcTimeoutError && dropRetries < CRAWL_DROP_RETRIES && this.receiveDrops.now() > dropsAtSend) {
      this.nodes.clearFlag(index, DROP_RETRY_MASK);
      this.nodes.setFlag(index, (dropRetries + 1) << DROP_RETRY_SHIFT);
      this.timeoutsDuringDrops++;
      this.visitQueue.push(index);
      return;
    }
    if (method === 'sample_infohashes' && f & NODE_FLAG.MORE_SAMPLES) {
      // A repeat sample of a node that answered one already: nothing to conclude from its loss.
      this.nodes.clearFlag(index, NODE_FLAG.MORE_SAMPLES);
      if (err instanceof KrpcRemoteError || err instanceof KrpcInvalidReplyError) this.nodes.setFlag(index, NODE_FLAG.ANSWERED);
      return;
    }
    const resample = method === 'sample_infohashes' && (f & NODE_FLAG.RESAMPLE) !== 0;
    if (err instanceof KrpcRemoteError || err instanceof KrpcInvalidReplyError) {
      this.nodes.setFlag(index, NODE_FLAG.ANSWERED);
      if (method === 'find_node') return;
      const refused = err instanceof KrpcInvalidReplyError || err.krpcCode === 203 || err.krpcCode === 204;
      if (resample || refused) {
        this.nodes.clearFlag(index, NODE_FLAG.RESAMPLE);
        this.nodes.setFlag(index, NODE_FLAG.NO_BEP51);
        this.countClient(index);
        this.releaseNodeEvent(index);
      } else this.nodes.setFlag(index, NODE_FLAG.SAMPLE_SILENT);
      if (!resample) this.visitQueue.unshift(index);
      return;
    }
    if (!(err instanceof KrpcTimeoutError)) {
      this.nodes.setFlag(index, NODE_FLAG.FAILED);
      return;
    }
    if (resample) {
      // It answered find_node in this sweep: alive, and silent to BEP 51 twice.
      this.nodes.clearFlag(index, NODE_FLAG.RESAMPLE);
      this.nodes.setFlag(index, NODE_FLAG.NO_BEP51);
      this.countClient(index);
      this.releaseNodeEvent(index);
      return;
    }
    if (method === 'sample_infohashes') {
      this.nodes.setFlag(index, NODE_FLAG.SAMPLE_SILENT);
      this.visitQueue.unshift(index);
      return;
    }
    // A first contact that did not answer find_node (sent first, see findNodeFirst). A second
    // try costs a packet for every dead contact handed out (half of them on the DHT) and pays
    // only where packets get lost: the crawler keeps retrying while retries still find live
    // nodes (CRAWL_RETRY_MIN_YIELD of them), and stops on a network where they find none.
    if (!(f & (NODE_FLAG.ANSWERED | NODE_FLAG.SAMPLE_SILENT | NODE_FLAG.NO_BEP51))) {
      const worthIt = this.learning.firstContactRetries < CRAWL_RETRY_LEARNING || this.learning.firstContactRetriesAnswered >= CRAWL_RETRY_MIN_YIELD * this.learning.firstContactRetries;
      if (f & NODE_FLAG.RETRIED || !worthIt) {
        this.nodes.setFlag(index, NODE_FLAG.FAILED);
        return;
      }
      this.learning.firstContactRetries++;
      this.nodes.setFlag(index, NODE_FLAG.RETRIED);
      this.visitQueue.push(index);
      return;
    }
    // BEP 5 advises one retry before giving up on a node: at the back of the queue, so a
    // momentary loss or overload has passed by then. A silent sample already was one try.
    if (f & (NODE_FLAG.RETRIED | NODE_FLAG.SAMPLE_SILENT)) {
      this.nodes.setFlag(index, NODE_FLAG.FAILED);
      return;
    }
    this.nodes.setFlag(index, NODE_FLAG.RETRIED);
    this.visitQueue.push(index);
  }

  /** Adds a node's BEP 51 verdict to its client version's tally, once per node, once both are known. */
  private countClient(index: number, versionKnown = this.nodes.rttMs(index) > 0): void {
    const f = this.nodes.flags(index);
    if (!versionKnown || f & NODE_FLAG.CLIENT_COUNTED || !(f & (NODE_FLAG.BEP51 | NODE_FLAG.NO_BEP51))) return;
    this.nodes.setFlag(index, NODE_FLAG.CLIENT_COUNTED);
    this.learning.clients.record(this.nodes.version(index), (f & NODE_FLAG.BEP51) !== 0);
  }

  private onNodes(index: number, found: NodeInfo[], result: QueryResult<'find_node'>): void {
    const at = Date.now();
    this.learning.rtt.add(result.rttMs);
    if (index === -1) {
      // A bootstrap address: index it now that we know its ID.
      const ip = ipv4ToNumber(result.from.host);
      if (ip >= 0) index = this.learn(result.reply.id, result.from.host, result.from.port, false);
    }
    if (index >= 0) this.recordAnswer(index, result, at);
    for (const n of found) this.learn(n.id, n.host, n.port, true);
  }

  private recordAnswer(index: number, result: QueryResult<'find_node'> | QueryResult<'sample_infohashes'>, at: number): void {
    const firstAnswer = !this.nodes.hasFlag(index, NODE_FLAG.ANSWERED) || this.nodes.rttMs(index) === 0;
    this.nodes.setFlag(index, NODE_FLAG.ANSWERED);
    this.nodes.setRttMs(index, result.rttMs);
    this.nodes.setVersion(index, result.v);
    const host = this.nodes.host(index);
    if (isBep42Compliant(result.reply.id, host)) this.nodes.setFlag(index, NODE_FLAG.BEP42);
    if (firstAnswer && this.o.sink) {
      const f = this.nodes.flags(index);
      const event: Extract<Discovery, { type: 'node' }> = {
        type: 'node',
        id: idToHex(this.nodes.id(index)),
        address: `${host}:${this.nodes.port(index)}`,
        version: result.v ? result.v.toString('hex') : null,
        rttMs: this.nodes.rttMs(index),
        bep51: f & NODE_FLAG.BEP51 ? true : f & NODE_FLAG.NO_BEP51 ? false : null,
        bep42: (f & NODE_FLAG.BEP42) !== 0,
        at,
      };
      if (f & NODE_FLAG.RESAMPLE && event.bep51 === null) this.pendingNodeEvents.set(index, event);
      else this.emitDiscovery(event);
    }
  }

  /** Reports a held-back node discovery with the BEP 51 verdict known now (or still unknown at the sweep's end). */
  private releaseNodeEvent(index: number): void {
    const event = this.pendingNodeEvents.get(index);
    if (event === undefined) return;
    this.pendingNodeEvents.delete(index);
    const f = this.nodes.flags(index);
    this.emitDiscovery({ ...event, bep51: f & NODE_FLAG.BEP51 ? true : f & NODE_FLAG.NO_BEP51 ? false : null });
  }

  /** Adds a node we heard of; new ones are queued for this sweep. Returns its index or -1. */
  private learn(id: Buffer, host: string, port: number, queue: boolean): number {
    const ip = ipv4ToNumber(host);
    if (ip < 0 || port === 0) return -1;
    if (!inAddressScope(this.addressScope, host)) {
      this.skippedContacts++;
      return -1;
    }
    if (id.equals(this.o.node.id)) return -1;
    const { index, added } = this.nodes.add(id, ip, port);
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
        this.bootstrapJobs.push({ kind: 'bootstrap', index: -1, address: { host, port } });
      }
      return index;
    }
    this.partitionKnown++;
    if (queue) this.visitQueue.push(index);
    return index;
  }

  private onSample(index: number, result: QueryResult<'sample_infohashes'>): void {
    const { reply } = result;
    const at = Date.now();
    // A node first counted as silent that answers after all: its version does have BEP 51.
    if (this.nodes.hasFlag(index, NODE_FLAG.CLIENT_COUNTED) && !this.nodes.hasFlag(index, NODE_FLAG.BEP51)) this.learning.clients.record(this.nodes.version(index), true);
    this.nodes.clearFlag(index, NODE_FLAG.NO_BEP51);
    if (!this.nodes.hasFlag(index, NODE_FLAG.BEP51)) this.learning.bep51Found++;
    this.nodes.setFlag(index, NODE_FLAG.BEP51);
    this.releaseNodeEvent(index);
    // BEP 51: do not sample again before `interval` seconds.
    this.nodes.setNextSampleAtMs(index, this.clock.now() - this.startedAt + reply.interval * 1000);
    const address = this.nodes.address(index);
    this.emitDiscovery({ type: 'sample', node: address, num: reply.num, interval: reply.interval, samples: reply.samples.length, at });
    let fresh = 0;
    for (const s of reply.samples) {
      const isNew = this.noteInfohash(s, address, 'sample');
      if (isNew) fresh++;
      if (isNew && this.peersBudget) this.peerJobs.push({ kind: 'peers', index, infoHash: s });
    }
    // It holds more than it showed and lets us ask again now: ask again while that pays.
    const asked = this.repeatSamples.get(index) ?? 1;
    if (reply.interval === 0 && reply.num > reply.samples.length && fresh > 0 && asked < CRAWL_MAX_SAMPLES_PER_SWEEP) {
      this.repeatSamples.set(index, asked + 1);
      this.nodes.setFlag(index, NODE_FLAG.MORE_SAMPLES);
      this.visitQueue.push(index);
    }
  }

  /** Records an infohash; true the first time it is seen. */
  private noteInfohash(infoHash: Buffer, node: string, source: 'sample' | 'get_peers' | 'announce_peer'): boolean {
    const hex = infoHash.toString('hex');
    const isNew = this.infohashes.add(infoHash);
    this.emitDiscovery({ type: 'infohash', infohash: hex, node, source, at: Date.now() });
    return isNew;
  }

  private onPeers(job: Job, result: QueryResult<'get_peers'>): void {
    const hex = job.infoHash!.toString('hex');
    const values = result.reply.values;
    if (values.length === 0) return;
    this.peersFound += values.length;
    this.emitDiscovery({
      type: 'peers',
      infohash: hex,
      peers: values.map((p) => (p.host.includes(':') ? `[${p.host}]:${p.port}` : `${p.host}:${p.port}`)),
      node: this.nodes.address(job.index),
      at: Date.now(),
    });
    this.onNodes(job.index, result.reply.nodes, result as unknown as QueryResult<'find_node'>);
  }

  private emitDiscovery(event: Discovery): void {
    this.o.sink?.write(event);
  }
}

/**
 * What a crawl learns as it goes and acts on: the share of first contacts that turn out to be
 * BEP 51 nodes (find_node or sample first), whether second tries of silent first contacts
 * find anyone, which client versions lack BEP 51, and how long answers take. One per crawl; a process crawling many
 * partitions of a shared survey passes one to all of them, so each partition does not pay
 * for the lesson again (200 first contacts, 100 second tries).
 */
export class CrawlLearning {
  readonly versions = new ClientVersions();
  readonly clients = new ClientBep51Stats(MAX_VERSIONS, CRAWL_CLIENT_NO_BEP51_AFTER);
  /** Round-trip times, for the timeout (3 x p95). */
  readonly rtt = new RttTracker();
  /** Nodes visited at least once, and of them those found to answer sample_infohashes: what a first contact is likely to be. */
  nodesVisited = 0;
  bep51Found = 0;
  /** Second tries of first contacts that were silent to find_node, and how many of them answered: is the network losing packets? */
  firstContactRetries = 0;
  firstContactRetriesAnswered = 0;
}
