import { setMaxListeners } from 'node:events';
import { isBep42Compliant } from './bep42.js';
import { type Clock, type TimerHandle, systemClock } from './clock.js';
import { type NodeInfo, type PeerAddress, addressKey } from './compact.js';
import { DEFAULT_LOOKUP_ALPHA, DEFAULT_LOOKUP_CLOSE_WINDOW, DEFAULT_LOOKUP_K, DEFAULT_LOOKUP_WIDE_RTT_MS, DEFAULT_LOOKUP_MAX_QUERIES, DEFAULT_LOOKUP_SHORTLIST, DEFAULT_SOFT_TIMEOUT_MS } from './constants.js';
import { KrpcAbortError } from './errors.js';
import { type QueryOptions, type QueryResult } from './krpc-socket-types.js';
import { compareDistance } from './node-id.js';
import { type Method, type QueryOf, type Want } from './queries.js';
import { type GetPeersReply, type GetReply } from './replies.js';

/**
 * Iterative Kademlia lookup (BEP 5 find_node / get_peers, BEP 44 get): a shortlist sorted by XOR distance
 * (byte-wise), at most `alpha` queries in flight, a soft timeout that frees a slot while the
 * slow query may still answer, and the socket's hard timeout that gives up on the node. It
 * ends when the K closest known nodes have all answered (or failed), then aborts whatever is
 * still in flight. Results stream as an async iterable; the whole thing is abortable.
 */

/** What the lookup needs from a socket; KrpcSocket satisfies it, tests and the node may wrap it. */
export interface Querier {
  query<M extends Method>(to: PeerAddress, query: QueryOf<M>, options?: QueryOptions): Promise<QueryResult<M>>;
}

export type LookupMethod = 'find_node' | 'get_peers' | 'get';

export interface LookupOptions {
  querier: Querier;
  ownId: Buffer;
  target: Buffer;
  method: LookupMethod;
  /** Where to start: routing-table contacts (with ids) and/or bootstrap addresses (without). */
  seeds: ReadonlyArray<PeerAddress & { id?: Buffer }>;
  /** The IP family of our socket: which node list (`nodes` or `nodes6`) to follow. */
  family?: 4 | 6;
  want?: Want;
  /** BEP 44 get: ask for items only if newer than this sequence number. */
  seq?: number;
  /**
   * BEP 33 get_peers: once converged, ask the K closest nodes that answered for their seed and
   * peer bloom filters (`scrape` events, then `done`): at most K more queries. Not on every
   * query of the lookup, because libtorrent answers a scrape with filters instead of `values`.
   */
  scrape?: boolean;
  k?: number;
  alpha?: number;
  /** Queries in flight at once to candidates among the K closest (at least alpha; alpha disables it). */
  closeWindow?: number;
  /** The close window opens only once this lookup's fastest answer so far took at least this (ms). */
  wideRttMs?: number;
  softTimeoutMs?: number;
  /** Per-query hard timeout passed to the querier (its default when unset). */
  hardTimeoutMs?: number;
  maxQueries?: number;
  /** BEP 42: answers from non-compliant nodes give no token and do not count toward the K closest. */
  enforceBep42?: boolean;
  /** Nodes learned from replies are followed only at addresses this admits (the node's address scope). */
  admitAddress?: (host: string) => boolean;
  signal?: AbortSignal;
  clock?: Clock;
}

export interface ClosestNode {
  node: NodeInfo;
  /** get_peers / get write token, for a following announce_peer / put. */
  token?: Buffer;
}

export type LookupEvent =
  | { type: 'peers'; peers: PeerAddress[]; from: NodeInfo }
  /** BEP 44 get: a node's answer carried an item (`v`) or its seq, unverified (bep5/bep44.ts verifies). */
  | { type: 'item'; reply: GetReply; from: NodeInfo }
  /** BEP 33: a node's answer to a scrape carried bloom filters of the seeds and/or peers it stores. */
  | { type: 'scrape'; seeds?: Buffer; peers?: Buffer; from: NodeInfo }
  | { type: 'node-answered'; node: NodeInfo; rttMs: number }
  | { type: 'done'; result: LookupResult };

export interface LookupResult {
  target: Buffer;
  /** The K closest nodes that answered, closest first. */
  closest: ClosestNode[];
  /** Every distinct peer found (get_peers). */
  peers: PeerAddress[];
  queries: number;
  answered: number;
  failed: number;
  /** True when the lookup stopped at maxQueries rather than converging. */
  exhausted: boolean;
}

type CandidateState = 'new' | 'inflight' | 'slow' | 'answered' | 'failed';

interface Candidate {
  address: PeerAddress;
  key: string;
  /** Unknown for bootstrap addresses until they answer. */
  id?: Buffer;
  state: CandidateState;
  token?: Buffer;
  /** Answered but may not count toward termination (BEP 42 enforcement). */
  trusted: boolean;
  softTimer?: TimerHandle;
}

/** Runs a lookup, yielding events as they happen. Throws KrpcAbortError if the signal fires. */
export async function* lookup(options: LookupOptions): AsyncGenerator<LookupEvent, LookupResult> {
  const run = new LookupRun(options);
  return yield* run.events();
}

/** Runs a lookup to completion and returns its result (peers arrive all at once). */
export async function runLookup(options: LookupOptions): Promise<LookupResult> {
  const it = lookup(options);
  for (;;) {
    const next = await it.next();
    if (next.done) return next.value;
  }
}

/**
 * The abort reason of the queries still in flight when a lookup ends: one shared value, since a
 * fresh DOMException per ended lookup (the default reason) was a measurable share of its CPU.
 */
const LOOKUP_ENDED = Object.freeze({ reason: 'lookup ended' });

class LookupRun {
  private readonly k: number;
  private readonly alpha: number;
  private readonly closeWindow: number;
  private readonly wideRttMs: number;
  private readonly softTimeoutMs: number;
  private readonly maxQueries: number;
  private readonly clock: Clock;
  private readonly family: 4 | 6;
  /** Candidates with ids, closest first; id-less bootstrap addresses live in `unplaced`. */
  private readonly shortlist: Candidate[] = [];
  private readonly unplaced: Candidate[] = [];
  private readonly byAddress = new Map<string, Candidate>();
  /** Node IDs already placed, as latin1 strings (20 chars; cheaper to make than hex). */
  private readonly byId = new Set<string>();
  private readonly peers = new Map<string, PeerAddress>();
  private readonly queue: LookupEvent[] = [];
  private wake: (() => void) | undefined;
  private active = 0; // in flight and not yet past the soft timeout
  private outstanding = 0; // in flight, slow or not
  private queries = 0;
  private answered = 0;
  private failed = 0;
  private aborted = false;
  /**
   * This lookup's fastest answer so far (ms). Parallelism only pays when round trips cost wall
   * time: on the Internet an answer takes 20-300 ms and every saved round trip is time saved,
   * on loopback or a LAN it takes well under a millisecond and extra queries only cost CPU. The
   * fastest answer is the one least inflated by queueing in a busy process, and it is this
   * lookup's own: an estimate kept across lookups went stale (formed while the process was
   * saturated, it kept the window open on an idle loopback network, 18 queries instead of 14).
   */
  private fastestMs: number | undefined;
  /** One signal for every query of this lookup: aborted once when the lookup ends. */
  private readonly stopper = new AbortController();

  constructor(private readonly o: LookupOptions) {
    this.k = o.k ?? DEFAULT_LOOKUP_K;
    this.alpha = o.alpha ?? DEFAULT_LOOKUP_ALPHA;
    this.closeWindow = Math.max(this.alpha, o.closeWindow ?? DEFAULT_LOOKUP_CLOSE_WINDOW);
    this.wideRttMs = o.wideRttMs ?? DEFAULT_LOOKUP_WIDE_RTT_MS;
    this.softTimeoutMs = o.softTimeoutMs ?? DEFAULT_SOFT_TIMEOUT_MS;
    this.maxQueries = o.maxQueries ?? DEFAULT_LOOKUP_MAX_QUERIES;
    this.clock = o.clock ?? systemClock;
    this.family = o.family ?? 4;
    for (const seed of o.seeds) this.addCandidate(seed, seed.id);
    setMaxListeners(0, this.stopper.signal);
  }

  async *events(): AsyncGenerator<LookupEvent, LookupResult> {
    const { signal } = this.o;
    if (signal?.aborted) throw new KrpcAbortError(signal.reason);
    const onAbort = (): void => {
      this.aborted = true;
      this.notify();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      for (;;) {
        if (this.aborted) throw new KrpcAbortError(signal?.reason);
        this.pump();
        while (this.queue.length > 0) yield this.queue.shift()!;
        if (this.finished()) break;
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = undefined;
      }
      if (this.o.scrape === true && this.o.method === 'get_peers') {
        this.stopAll();
        yield* this.scrapeClosest();
      }
      const result = this.result();
      yield { type: 'done', result };
      return result;
    } finally {
      signal?.removeEventListener('abort', onAbort);
      this.stopAll();
    }
  }

  private notify(): void {
    this.wake?.();
  }

  /**
   * BEP 33: get_peers with `scrape` to the K closest nodes that answered, all at once. Their
   * filters come as `scrape` events, and any `values` as `peers` events (new peers only).
   */
  private async *scrapeClosest(): AsyncGenerator<LookupEvent> {
    const closest = this.result().closest;
    const signal = this.o.signal === undefined ? undefined : this.o.signal;
    const answers = await Promise.allSettled(
      closest.map(({ node }) => {
        this.queries++;
        const query: QueryOf<'get_peers'> = { method: 'get_peers', id: this.o.ownId, infoHash: this.o.target, want: this.o.want, scrape: true };
        return this.o.querier.query(node, query, { signal, timeoutMs: this.o.hardTimeoutMs });
      }),
    );
    if (signal?.aborted) throw new KrpcAbortError(signal.reason);
    for (const [i, a] of answers.entries()) {
      if (a.status === 'rejected') {
        this.failed++;
        continue;
      }
      this.answered++;
      const reply = a.value.reply as GetPeersReply;
      const from = closest[i]!.node;
      if (reply.bfsd !== undefined || reply.bfpe !== undefined) yield { type: 'scrape', seeds: reply.bfsd, peers: reply.bfpe, from };
      const fresh = reply.values.filter((p) => {
        const key = addressKey(p);
        if (this.peers.has(key)) return false;
        this.peers.set(key, p);
        return true;
      });
      if (fresh.length > 0) yield { type: 'peers', peers: fresh, from };
    }
  }

  private addCandidate(address: PeerAddress, id: Buffer | undefined): void {
    const key = addressKey(address);
    if (this.byAddress.has(key)) return;
    if (id !== undefined) {
      const key = id.toString('latin1');
      if (this.byId.has(key) || id.equals(this.o.ownId)) return;
      this.byId.add(key);
    }
    const c: Candidate = { address: { host: address.host, port: address.port }, key, id, state: 'new', trusted: true };
    this.byAddress.set(key, c);
    if (id === undefined) this.unplaced.push(c);
    else this.place(c);
  }

  /** Inserts by distance; trims the far end so the shortlist stays bounded. */
  private place(c: Candidate): void {
    const target = this.o.target;
    let lo = 0;
    let hi = this.shortlist.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareDistance(target, this.shortlist[mid]!.id!, c.id!) < 0) lo = mid + 1;
      else hi = mid;
    }
    this.shortlist.splice(lo, 0, c);
    const limit = Math.max(DEFAULT_LOOKUP_SHORTLIST, this.k * 4);
    // Only untouched candidates are dropped; anything queried stays so results stay consistent.
    for (let i = this.shortlist.length - 1; this.shortlist.length > limit && i >= 0; i--) {
      const far = this.shortlist[i]!;
      if (far.state === 'new') {
        this.shortlist.splice(i, 1);
        this.byAddress.delete(far.key);
      }
    }
  }

  /**
   * The next candidate worth querying: a bootstrap address, or a candidate closer than the
   * K-th trusted answer. Far candidates get `alpha` slots; a candidate already among the K
   * closest still in play may use up to `closeWindow` slots, since the lookup cannot end
   * before it has answered or failed anyway: querying it now costs no extra packet in the
   * common case and saves the round trips a strict alpha would spend on the last hop.
   */
  private nextCandidate(ignoreSlots = false): Candidate | undefined {
    const fresh = this.unplaced.find((c) => c.state === 'new');
    if (fresh) return ignoreSlots || this.active < this.alpha ? fresh : undefined;
    let settledCloser = 0;
    let inPlay = 0;
    // Until the first answer, plain alpha: the first hop is no slower for it, only narrower.
    const window = this.fastestMs !== undefined && this.fastestMs >= this.wideRttMs ? this.closeWindow : this.alpha;
    for (const c of this.shortlist) {
      if (settledCloser >= this.k) return undefined;
      if (c.state === 'new') {
        if (ignoreSlots || this.active < this.alpha || (inPlay < this.k && this.active < window)) return c;
        return undefined;
      }
      if (c.state === 'answered' && c.trusted) settledCloser++;
      if (c.state !== 'failed' && !(c.state === 'answered' && !c.trusted)) inPlay++;
    }
    return undefined;
  }

  private pump(): void {
    while (!this.aborted && this.queries < this.maxQueries) {
      const c = this.nextCandidate();
      if (c === undefined) return;
      this.send(c);
    }
  }

  /**
   * Done when no query is worth sending and every one of the K closest candidates that can
   * still matter has settled; far-away queries still in flight are abandoned.
   */
  private finished(): boolean {
    if (this.nextCandidate(true) !== undefined && this.queries < this.maxQueries) return false;
    if (this.unplaced.some((c) => c.state === 'inflight' || c.state === 'slow')) return false;
    let counted = 0;
    for (const c of this.shortlist) {
      if (counted >= this.k) return true;
      if (c.state === 'inflight' || c.state === 'slow') return false;
      if (c.state === 'answered' && c.trusted) counted++;
    }
    return true;
  }

  private send(c: Candidate): void {
    c.state = 'inflight';
    this.active++;
    this.outstanding++;
    this.queries++;
    c.softTimer = this.clock.setTimeout(() => {
      if (c.state !== 'inflight') return;
      c.state = 'slow';
      this.active--;
      this.notify();
    }, this.softTimeoutMs);
    c.softTimer.unref?.();

    const { ownId, target, want } = this.o;
    const query: QueryOf<LookupMethod> =
      this.o.method === 'get_peers'
        ? { method: 'get_peers', id: ownId, infoHash: target, want }
        : this.o.method === 'get'
          ? { method: 'get', id: ownId, target, seq: this.o.seq, want }
          : { method: 'find_node', id: ownId, target, want };
    this.o.querier
      .query(c.address, query, { signal: this.stopper.signal, timeoutMs: this.o.hardTimeoutMs })
      .then(
        (result) => this.onAnswer(c, result as QueryResult<LookupMethod>),
        () => this.onFailure(c),
      )
      .finally(() => this.notify());
  }

  private settle(c: Candidate): void {
    if (c.softTimer !== undefined) this.clock.clearTimeout(c.softTimer);
    if (c.state === 'inflight') this.active--;
    this.outstanding--;
  }

  private onFailure(c: Candidate): void {
    if (c.state !== 'inflight' && c.state !== 'slow') return;
    this.settle(c);
    c.state = 'failed';
    this.failed++;
  }

  private onAnswer(c: Candidate, result: QueryResult<LookupMethod>): void {
    if (c.state !== 'inflight' && c.state !== 'slow') return;
    this.settle(c);
    c.state = 'answered';
    this.answered++;
    const { reply } = result;
    if (c.id === undefined || !c.id.equals(reply.id)) {
      // A bootstrap address told us its id, or a node answered with another id than it was
      // advertised with: place it by the id it proves now.
      const key = reply.id.toString('latin1');
      if (this.byId.has(key)) return; // same node reached twice: count it once
      this.byId.add(key);
      const inUnplaced = this.unplaced.indexOf(c);
      if (inUnplaced >= 0) this.unplaced.splice(inUnplaced, 1);
      else this.shortlist.splice(this.shortlist.indexOf(c), 1);
      c.id = reply.id;
      if (!reply.id.equals(this.o.ownId)) this.place(c);
    }
    const node: NodeInfo = { id: reply.id, host: c.address.host, port: c.address.port };
    c.trusted = !this.o.enforceBep42 || isBep42Compliant(reply.id, c.address.host);
    this.queue.push({ type: 'node-answered', node, rttMs: result.rttMs });
    if (this.fastestMs === undefined || result.rttMs < this.fastestMs) this.fastestMs = result.rttMs;

    const nodes = this.family === 4 ? reply.nodes : reply.nodes6;
    const admit = this.o.admitAddress;
    for (const n of nodes) if (admit === undefined || admit(n.host)) this.addCandidate({ host: n.host, port: n.port }, n.id);
    if ('token' in reply && c.trusted) c.token = reply.token;
    if (this.o.method === 'get') {
      const item = reply as GetReply;
      if (item.vBytes !== undefined || item.seq !== undefined) this.queue.push({ type: 'item', reply: item, from: node });
    }
    if ('values' in reply) {
      const fresh: PeerAddress[] = [];
      for (const p of reply.values) {
        const key = addressKey(p);
        if (this.peers.has(key)) continue;
        this.peers.set(key, p);
        fresh.push(p);
      }
      if (fresh.length > 0) this.queue.push({ type: 'peers', peers: fresh, from: node });
    }
  }

  private stopAll(): void {
    let any = false;
    for (const c of [...this.unplaced, ...this.shortlist]) {
      if (c.state === 'inflight' || c.state === 'slow') {
        if (c.softTimer !== undefined) this.clock.clearTimeout(c.softTimer);
        any = true;
      }
    }
    if (any) this.stopper.abort(LOOKUP_ENDED);
  }

  private result(): LookupResult {
    const closest: ClosestNode[] = [];
    for (const c of this.shortlist) {
      if (closest.length >= this.k) break;
      if (c.state === 'answered' && c.trusted && c.id) {
        closest.push({ node: { id: c.id, host: c.address.host, port: c.address.port }, token: c.token });
      }
    }
    return {
      target: this.o.target,
      closest,
      peers: [...this.peers.values()],
      queries: this.queries,
      answered: this.answered,
      failed: this.failed,
      exhausted: this.queries >= this.maxQueries && this.nextCandidate(true) !== undefined,
    };
  }
}
