import { KrpcInvalidReplyError, KrpcRemoteError, KrpcTimeoutError } from '../bep5/errors.js';
import { type QueryResult } from '../bep5/krpc-socket-types.js';
import { CRAWL_MAX_SAMPLES_PER_SWEEP } from './constants.js';
import { type CrawlLearning } from './crawl-learning.js';
import { type DropAdaptation } from './drop-adaptation.js';
import { type IndexDeque } from './index-deque.js';
import { NODE_FLAG, type NodeIndex } from './node-index.js';

/**
 * A node's visits as one state machine over its flags (NODE_FLAG in node-index.ts): what to ask
 * it, and what each kind of answer or silence means for the node, its client version and the
 * sweep (whether and when it is visited again). Kept whole here so that no rule sees only half
 * of a node's flags; the sweep loop (crawler.ts) sends and reports, this decides.
 */

export type VisitMethod = 'sample_infohashes' | 'find_node';

export interface NodeVisitsOptions {
  nodes: NodeIndex;
  learning: CrawlLearning;
  /** The sweep's visit queue: push is later in the sweep, unshift next. */
  queue: IndexDeque;
  drops: DropAdaptation;
  /** Time on the crawl's clock since it started (ms), which BEP 51 intervals are kept in. */
  elapsedMs: () => number;
  /** A held-back node discovery may be reported now: its BEP 51 verdict is in (DiscoveryReporter.release). */
  release: (index: number) => void;
}

export class NodeVisits {
  private readonly nodes: NodeIndex;
  private readonly learning: CrawlLearning;
  private readonly queue: IndexDeque;
  /** Samples asked this sweep of nodes that were asked more than once (few: see CRAWL_MAX_SAMPLES_PER_SWEEP). */
  private readonly repeatSamples = new Map<number, number>();

  constructor(private readonly o: NodeVisitsOptions) {
    this.nodes = o.nodes;
    this.learning = o.learning;
    this.queue = o.queue;
  }

  newSweep(): void {
    this.repeatSamples.clear();
  }

  /** A visit is sent: the node is queried in this sweep, and its first visit ever counts toward what first contacts are. */
  begin(index: number): void {
    if (!this.nodes.hasFlag(index, NODE_FLAG.QUERIED)) this.learning.nodesVisited++;
    this.nodes.setFlag(index, NODE_FLAG.QUERIED);
  }

  /**
   * What to ask a node on a visit: sample_infohashes, which yields its neighbours and its
   * infohashes in one packet, unless the node (or, once it has answered and we know its `v`,
   * its client version) is known not to support it, its BEP 51 interval has not passed, or
   * the sample already went unanswered in this sweep.
   */
  method(index: number): VisitMethod {
    const f = this.nodes.flags(index);
    if (f & (NODE_FLAG.RESAMPLE | NODE_FLAG.MORE_SAMPLES)) return 'sample_infohashes';
    if (!(f & NODE_FLAG.ANSWERED) && this.learning.findNodeFirst()) return 'find_node';
    if (f & (NODE_FLAG.NO_BEP51 | NODE_FLAG.SAMPLE_SILENT)) return 'find_node';
    if (!this.sampleDue(index)) return 'find_node';
    if (f & NODE_FLAG.ANSWERED && !(f & NODE_FLAG.BEP51) && this.learning.clients.neverSupports(this.nodes.version(index))) return 'find_node';
    return 'sample_infohashes';
  }

  /**
   * A second chance (a retry, the find_node after a silent sample, a re-sample) waits longer:
   * the node may only have been slow, and on a busy machine loopback replies are slow too.
   */
  secondChance(index: number): boolean {
    return this.nodes.hasFlag(index, NODE_FLAG.RETRIED | NODE_FLAG.SAMPLE_SILENT | NODE_FLAG.RESAMPLE);
  }

  /**
   * A visit's answer, before its nodes are learned: true when it carries samples, for the
   * caller to take in (sampled(), then its infohashes, then sampleAgain()). The caller then
   * counts the node's client (countClient(index, true)).
   */
  onReply(index: number, method: VisitMethod, r: QueryResult<'find_node'> | QueryResult<'sample_infohashes'>): boolean {
    this.nodes.setVersion(index, r.v);
    // A first contact that answered find_node first: now sample it, unless its client (by `v`) is known to lack BEP 51.
    if (method === 'find_node' && !this.nodes.hasFlag(index, NODE_FLAG.ANSWERED | NODE_FLAG.NO_BEP51 | NODE_FLAG.BEP51 | NODE_FLAG.SAMPLE_SILENT)) {
      if (this.nodes.hasFlag(index, NODE_FLAG.RETRIED)) this.learning.firstContactRetriesAnswered++;
      if (this.learning.clients.neverSupports(this.nodes.version(index))) this.nodes.setFlag(index, NODE_FLAG.NO_BEP51);
      else if (this.sampleDue(index)) {
        this.nodes.setFlag(index, NODE_FLAG.RESAMPLE);
        this.queue.unshift(index);
      }
    }
    if (method === 'sample_infohashes') {
      this.nodes.clearFlag(index, NODE_FLAG.RESAMPLE | NODE_FLAG.MORE_SAMPLES);
      return 'samples' in r.reply;
    }
    if (this.nodes.hasFlag(index, NODE_FLAG.SAMPLE_SILENT) && !this.nodes.hasFlag(index, NODE_FLAG.NO_BEP51 | NODE_FLAG.BEP51)) {
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
        this.queue.push(index);
      }
    }
    return false;
  }

  /** A node answered sample_infohashes with samples: it has BEP 51, and is not sampled again before `interval` seconds (BEP 51). */
  sampled(index: number, interval: number): void {
    // A node first counted as silent that answers after all: its version does have BEP 51.
    if (this.nodes.hasFlag(index, NODE_FLAG.CLIENT_COUNTED) && !this.nodes.hasFlag(index, NODE_FLAG.BEP51)) this.learning.clients.record(this.nodes.version(index), true);
    this.nodes.clearFlag(index, NODE_FLAG.NO_BEP51);
    if (!this.nodes.hasFlag(index, NODE_FLAG.BEP51)) this.learning.bep51Found++;
    this.nodes.setFlag(index, NODE_FLAG.BEP51);
    this.nodes.setNextSampleAtMs(index, this.o.elapsedMs() + interval * 1000);
  }

  /** It holds more than it showed and lets us ask again now: ask again while that pays (`fresh` infohashes new to us). */
  sampleAgain(index: number, reply: { num: number; interval: number; samples: readonly Buffer[] }, fresh: number): void {
    const asked = this.repeatSamples.get(index) ?? 1;
    if (reply.interval === 0 && reply.num > reply.samples.length && fresh > 0 && asked < CRAWL_MAX_SAMPLES_PER_SWEEP) {
      this.repeatSamples.set(index, asked + 1);
      this.nodes.setFlag(index, NODE_FLAG.MORE_SAMPLES);
      this.queue.push(index);
    }
  }

  /**
   * Silence, 203 or 204 on sample_infohashes is an answer about the method, not the node:
   * find_node follows at once. Only a node silent to find_node as well (twice, counting the
   * sample) is taken for dead; a node that answered anything, an error included, is alive.
   */
  onFailure(index: number, method: VisitMethod, err: unknown, dropsAtSend: number): void {
    const f = this.nodes.flags(index);
    // A timeout while the kernel dropped datagrams says nothing about the node: ask again.
    if (err instanceof KrpcTimeoutError && this.o.drops.retryAfterTimeout(this.nodes, index, dropsAtSend)) {
      this.queue.push(index);
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
      if (resample || refused) this.settleNoBep51(index);
      else this.nodes.setFlag(index, NODE_FLAG.SAMPLE_SILENT);
      if (!resample) this.queue.unshift(index);
      return;
    }
    if (!(err instanceof KrpcTimeoutError)) {
      this.nodes.setFlag(index, NODE_FLAG.FAILED);
      return;
    }
    if (resample) {
      // It answered find_node in this sweep: alive, and silent to BEP 51 twice.
      this.settleNoBep51(index);
      return;
    }
    if (method === 'sample_infohashes') {
      this.nodes.setFlag(index, NODE_FLAG.SAMPLE_SILENT);
      this.queue.unshift(index);
      return;
    }
    // A first contact that did not answer find_node (sent first, see CrawlLearning.findNodeFirst):
    // tried again only while second tries still pay (CrawlLearning.firstContactRetryPays).
    if (!(f & (NODE_FLAG.ANSWERED | NODE_FLAG.SAMPLE_SILENT | NODE_FLAG.NO_BEP51))) {
      if (f & NODE_FLAG.RETRIED || !this.learning.firstContactRetryPays()) {
        this.nodes.setFlag(index, NODE_FLAG.FAILED);
        return;
      }
      this.learning.firstContactRetries++;
      this.nodes.setFlag(index, NODE_FLAG.RETRIED);
      this.queue.push(index);
      return;
    }
    // BEP 5 advises one retry before giving up on a node: at the back of the queue, so a
    // momentary loss or overload has passed by then. A silent sample already was one try.
    if (f & (NODE_FLAG.RETRIED | NODE_FLAG.SAMPLE_SILENT)) {
      this.nodes.setFlag(index, NODE_FLAG.FAILED);
      return;
    }
    this.nodes.setFlag(index, NODE_FLAG.RETRIED);
    this.queue.push(index);
  }

  /** Adds a node's BEP 51 verdict to its client version's tally, once per node, once both are known. */
  countClient(index: number, versionKnown = this.nodes.rttMs(index) > 0): void {
    const f = this.nodes.flags(index);
    if (!versionKnown || f & NODE_FLAG.CLIENT_COUNTED || !(f & (NODE_FLAG.BEP51 | NODE_FLAG.NO_BEP51))) return;
    this.nodes.setFlag(index, NODE_FLAG.CLIENT_COUNTED);
    this.learning.clients.record(this.nodes.version(index), (f & NODE_FLAG.BEP51) !== 0);
  }

  /** Silent or refused to BEP 51 for good (in this sweep): its verdict is in. */
  private settleNoBep51(index: number): void {
    this.nodes.clearFlag(index, NODE_FLAG.RESAMPLE);
    this.nodes.setFlag(index, NODE_FLAG.NO_BEP51);
    this.countClient(index);
    this.o.release(index);
  }

  /** Whether the node's BEP 51 interval has passed (or it has none). */
  private sampleDue(index: number): boolean {
    return !(this.nodes.nextSampleAtMs(index) > this.o.elapsedMs());
  }
}
