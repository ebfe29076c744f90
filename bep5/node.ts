import { EventEmitter, setMaxListeners } from 'node:events';
import { type Encodable } from './bencode.js';
import { Bep44Client } from './bep44-client.js';
import { generateBep42Id, isBep42Compliant, isBep42Exempt } from './bep42.js';
import { DEFAULT_BOOTSTRAP, type HostPort, defaultAddressScope, parseBootstrapEntry, resolveBootstrap } from './bootstrap.js';
import { type Clock, type TimerHandle, sleep, systemClock } from './clock.js';
import { writeToClosest } from './closest-writes.js';
import { type NodeInfo, type PeerAddress } from './compact.js';
import { DEFAULT_BOOTSTRAP_MAX_BACKOFF_MS, DEFAULT_BOOTSTRAP_MIN_BACKOFF_MS, DEFAULT_EXPIRE_INTERVAL_MS, DEFAULT_LOOKUP_ALPHA, DEFAULT_LOOKUP_K, DEFAULT_OUTGOING_BURST, DEFAULT_OUTGOING_RATE, DEFAULT_QUERY_RATE_BURST, DEFAULT_QUERY_RATE_PER_IP, DEFAULT_REFRESH_CHECK_MS, DEFAULT_SAVE_INTERVAL_MS } from './constants.js';
import { PacedQueue } from './paced-queue.js';
import { QuerierVerifier } from './querier-verifier.js';
import { KrpcAbortError, KrpcTimeoutError } from './errors.js';
import { ExternalAddressVoter } from './external-address.js';
import { announcePeerHandler } from './handlers/announce-peer.js';
import { type HandlerContext } from './handlers/context.js';
import { findNodeHandler } from './handlers/find-node.js';
import { getHandler } from './handlers/get.js';
import { getPeersHandler } from './handlers/get-peers.js';
import { pingHandler } from './handlers/ping.js';
import { putHandler } from './handlers/put.js';
import { sampleInfohashesHandler } from './handlers/sample-infohashes.js';
import { type AddressScope, inAddressScope } from './address-scope.js';
import { ipFamily, isBogon } from './ip.js';
import { ItemStore } from './item-store.js';
import { KrpcSocket } from './krpc-socket.js';
import { type QueryOptions, type QueryResult, type SocketFamily } from './krpc-socket-types.js';
import { type LookupEvent, type LookupMethod, type LookupResult, type Querier, lookup } from './lookup.js';
import { idToHex, isCanonicalHexId, randomId } from './node-id.js';
import { PeerStore } from './peer-store.js';
import { type Method, type QueryOf } from './queries.js';
import { type RandomSource, cryptoRandom } from './random.js';
import { RateBudget, TokenBucketLimiter } from './rate-limit.js';
import { ReflectionBudget } from './reflection-budget.js';
import { type ScrapeEstimate, ScrapeTally } from './scrape-tally.js';
import { RoutingTable } from './routing-table.js';
import { type TableFile, loadTableFile, saveTableFile, tableFilePath } from './table-file.js';
import { TokenIssuer } from './tokens.js';
import { type AnnounceOutcome, type Bep44GetOptions, type Bep44GetResult, type Bep44MutablePutOptions, type Bep44MutablePutResult, type Bep44PutOptions, type Bep44PutResult, type DhtNodeEvents, type DhtNodeOptions, type Family } from './node-types.js';

/**
 * A BEP 5 DHT node: the composition root. It wires sockets (one per address family, BEP 32),
 * routing tables, write tokens, peer storage and lookups, and owns start/stop and the timers
 * that keep the table fresh. Every default comes from constants.ts. BEP 44 storage is served
 * here (handlers/get.ts, put.ts, item-store.ts); its client is bep44-client.ts.
 *
 * Why this file is over 400 lines: it is the one place that holds the node's lifecycle (start,
 * join with backoff, ID change, save, stop) together with the wiring each part needs from the
 * others. The parts themselves live in their own modules (handlers/, lookup.ts, routing-table.ts,
 * querier-verifier.ts, external-address.ts, paced-queue.ts); its types are in node-types.ts.
 */

interface FamilyState {
  family: Family;
  socket: KrpcSocket;
  table: RoutingTable;
  querier: Querier;
  /** Round trips of this family's lookups: decides their parallelism (bep5/lookup.ts). */
  bootstrapped: boolean;
  /** Buckets with a ping-for-replacement under way, so one bucket is not probed twice at once. */
  probing: Set<string>;
}

export class DhtNode extends EventEmitter<DhtNodeEvents> {
  private idValue: Buffer;
  private readonly clock: Clock;
  private readonly random: RandomSource;
  private readonly o: DhtNodeOptions;
  private readonly families: Family[];
  private readonly bootstrapEntries: HostPort[];
  readonly addressScope: AddressScope;
  /** True when the scope is 'private' (every unicast address). */
  readonly allowPrivate: boolean;
  private readonly k: number;
  readonly store: PeerStore;
  /** BEP 44 items stored here. */
  readonly items: ItemStore;
  private readonly reflection: ReflectionBudget;
  private readonly bep44: Bep44Client;
  private readonly tokens: TokenIssuer;
  private readonly limiter: TokenBucketLimiter;
  private readonly budget: RateBudget;
  private readonly voter = new ExternalAddressVoter();
  private readonly state = new Map<Family, FamilyState>();
  private readonly timers = new Set<TimerHandle>();
  private running = false;
  private stopping: AbortController = new AbortController();
  private loadedCandidates = new Map<Family, NodeInfo[]>();
  private readonly verifier: QuerierVerifier;
  private readonly paced: PacedQueue;

  constructor(options: DhtNodeOptions = {}) {
    super();
    this.o = options;
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? cryptoRandom;
    this.idValue = options.id ?? randomId(this.random);
    this.families = options.families ?? [4];
    this.bootstrapEntries = (options.bootstrap ?? DEFAULT_BOOTSTRAP).map(parseBootstrapEntry);
    this.addressScope = options.addressScope ?? (options.allowPrivate === true ? 'private' : options.allowPrivate === false ? 'public' : defaultAddressScope(this.bootstrapEntries));
    this.allowPrivate = this.addressScope === 'private';
    this.k = options.k ?? DEFAULT_LOOKUP_K;
    this.store = new PeerStore({ clock: this.clock, random: this.random });
    this.items = new ItemStore({ clock: this.clock });
    this.reflection = new ReflectionBudget({ clock: this.clock, random: this.random });
    this.bep44 = new Bep44Client({
      ownId: () => this.idValue,
      defaultFamily: () => this.families[0]!,
      lookup: (target, options) => this.lookup(target, options),
      querier: (family) => this.requireFamily(family).querier,
    });
    this.tokens = new TokenIssuer({ clock: this.clock, random: this.random });
    this.limiter = new TokenBucketLimiter({
      ratePerSecond: options.queryRatePerIp ?? DEFAULT_QUERY_RATE_PER_IP,
      burst: options.queryBurstPerIp ?? DEFAULT_QUERY_RATE_BURST,
      clock: this.clock,
    });
    this.budget = new RateBudget({
      ratePerSecond: options.outgoingRate ?? DEFAULT_OUTGOING_RATE,
      burst: options.outgoingBurst ?? DEFAULT_OUTGOING_BURST,
      clock: this.clock,
    });
    this.paced = new PacedQueue(this.budget, this.clock);
    this.verifier = new QuerierVerifier({ clock: this.clock, budget: this.budget, addressScope: this.addressScope });
  }

  get id(): Buffer {
    return this.idValue;
  }

  address(family: Family = 4): PeerAddress | undefined {
    return this.state.get(family)?.socket.address();
  }

  table(family: Family = 4): RoutingTable | undefined {
    return this.state.get(family)?.table;
  }

  socket(family: Family = 4): KrpcSocket | undefined {
    return this.state.get(family)?.socket;
  }

  /** Binds the sockets, loads the saved table, answers queries. Bootstrap is `bootstrap()`. */
  async start(): Promise<void> {
    if (this.running) return;
    const saved = this.o.dataDir ? await loadTableFile(tableFilePath(this.o.dataDir)) : undefined;
    if (saved && this.o.id === undefined && isCanonicalHexId(saved.id)) this.idValue = Buffer.from(saved.id, 'hex');

    for (const family of this.families) {
      const type: SocketFamily = family === 4 ? 'udp4' : 'udp6';
      const socket = new KrpcSocket({
        type,
        socket: this.o.socketFactory?.(type),
        ...(this.o.recvBufferSize === undefined ? {} : { recvBufferSize: this.o.recvBufferSize }),
        clock: this.clock,
        random: this.random,
        version: this.o.version,
        timeoutMs: this.o.queryTimeoutMs,
        maxInflight: this.o.maxInflight,
        readOnly: this.o.readOnly,
        admitQuery: (from) => this.admit(from),
      });
      const table = this.newTable();
      const fs: FamilyState = { family, socket, table, querier: this.trackingQuerier(family, socket), bootstrapped: false, probing: new Set() };
      this.state.set(family, fs);
      this.registerHandlers(fs);
      socket.on('response', (method, result) => {
        if (this.listenerCount('rpc') > 0) this.emit('rpc', { family, method, rttMs: result.rttMs });
      });
      const host = family === 4 ? (this.o.host ?? '0.0.0.0') : (this.o.host6 ?? '::');
      try {
        await socket.bind(this.o.port ?? 0, host);
      } catch (err) {
        await this.closeSockets();
        throw err;
      }
      const loaded = saved?.tables[family];
      if (loaded !== undefined) {
        try {
          this.loadedCandidates.set(family, RoutingTable.fromJSON(loaded, { ...this.tableOptions(), ownId: this.idValue }).candidates);
        } catch {
          this.emit('warning', `ignoring a malformed saved routing table for IPv${family}`);
        }
      }
      const a = socket.address();
      this.emit('listening', { family, host: a.host, port: a.port, id: idToHex(this.idValue) });
    }
    this.running = true;
    this.stopping = new AbortController();
    // Every in-flight query listens on this signal; their number is bounded by the socket's cap.
    setMaxListeners(0, this.stopping.signal);
    this.every(DEFAULT_REFRESH_CHECK_MS, () => this.refreshBuckets());
    this.every(DEFAULT_EXPIRE_INTERVAL_MS, () => this.store.expire() + this.items.expire());
    if (this.o.dataDir) this.every(DEFAULT_SAVE_INTERVAL_MS, () => this.save());
  }

  /** Saves the table and closes the sockets. Idempotent. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.stopping.abort();
    for (const t of this.timers) this.clock.clearTimeout(t);
    this.timers.clear();
    await this.save().catch((err: unknown) => this.emit('warning', `could not save the routing table: ${String(err)}`));
    await this.closeSockets();
  }

  /**
   * Where a join starts: saved contacts, the table's closest to our ID, and the bootstrap
   * addresses (resolved now; names that do not resolve are reported as warnings). A one-shot
   * lookup can start from these directly instead of joining first.
   */
  async startingPoints(family: Family = this.families[0]!): Promise<Array<PeerAddress & { id?: Buffer }>> {
    const fs = this.requireFamily(family);
    const { addresses, failures } = await resolveBootstrap(this.bootstrapEntries, family);
    for (const f of failures) this.emit('warning', `bootstrap ${f.entry}: cannot resolve (${f.reason})`);
    return [...(this.loadedCandidates.get(family) ?? []), ...fs.table.closest(this.idValue, this.k), ...addresses];
  }

  /**
   * Joins the network: queries saved contacts and bootstrap addresses, then looks up our own
   * ID to fill the table. Retries with backoff (without throwing) until some node answers or
   * the signal fires; resolves with the table size.
   */
  async bootstrap(options: { signal?: AbortSignal; family?: Family } = {}): Promise<number> {
    const family = options.family ?? this.families[0]!;
    const fs = this.requireFamily(family);
    const signal = anySignal([options.signal, this.stopping.signal]);
    let backoff = DEFAULT_BOOTSTRAP_MIN_BACKOFF_MS;
    for (;;) {
      if (signal.aborted) throw new KrpcAbortError(signal.reason);
      const { addresses, failures } = await resolveBootstrap(this.bootstrapEntries, family);
      for (const f of failures) this.emit('warning', `bootstrap ${f.entry}: cannot resolve (${f.reason})`);
      const seeds = [...(this.loadedCandidates.get(family) ?? []), ...fs.table.closest(this.idValue, this.k), ...addresses];
      if (seeds.length === 0 && this.bootstrapEntries.length === 0) {
        // Nothing to try, now or later: a first node of a new network. Say so and return.
        this.emit('bootstrap-failed', { family, reason: 'no bootstrap address and no saved table', retryInMs: 0 });
        return fs.table.size;
      }
      const result = seeds.length > 0 ? await this.collect(this.lookup(this.idValue, { method: 'find_node', family, signal, seeds })) : { queries: 0 };
      if (fs.table.size > 0) {
        fs.bootstrapped = true;
        this.loadedCandidates.delete(family);
        this.emit('bootstrapped', { family, nodes: fs.table.size, queries: result.queries });
        return fs.table.size;
      }
      const reason = addresses.length === 0 && failures.length > 0 ? 'no bootstrap host name resolved' : `none of ${seeds.length} bootstrap nodes answered`;
      this.emit('bootstrap-failed', { family, reason, retryInMs: backoff });
      await sleep(backoff, { clock: this.clock, signal, unref: true });
      backoff = Math.min(backoff * 2, DEFAULT_BOOTSTRAP_MAX_BACKOFF_MS);
    }
  }

  /** An iterative lookup from our table's closest contacts (or the given seeds). */
  lookup(
    target: Buffer,
    options: {
      method?: LookupMethod;
      family?: Family;
      signal?: AbortSignal;
      seeds?: Array<PeerAddress & { id?: Buffer }>;
      /** Nodes the lookup converges on (default the node's K); wider makes its first K more complete. */
      k?: number;
      /** BEP 44 get: ask only for items newer than this seq. */
      seq?: number;
      /** BEP 33 get_peers: ask for the nodes' seed and peer bloom filters (`scrape` events). */
      scrape?: boolean;
    } = {},
  ): AsyncGenerator<LookupEvent, LookupResult> {
    const family = options.family ?? this.families[0]!;
    const fs = this.requireFamily(family);
    const seeds = options.seeds ?? fs.table.closest(target, this.k * 2).map((c) => ({ id: c.id, host: c.host, port: c.port }));
    fs.table.touchBucket(target);
    return lookup({
      querier: fs.querier,
      ownId: this.idValue,
      target,
      method: options.method ?? 'find_node',
      seeds,
      family,
      k: options.k ?? this.k,
      seq: options.seq,
      scrape: options.scrape,
      alpha: this.o.alpha ?? DEFAULT_LOOKUP_ALPHA,
      enforceBep42: this.o.enforceBep42,
      admitAddress: (host) => inAddressScope(this.addressScope, host),
      signal: options.signal,
      clock: this.clock,
    });
  }

  /**
   * get_peers lookup: peers stream as they arrive. With `scrape`, once converged it asks the K
   * closest nodes for their BEP 33 bloom filters (`scrape` events; ScrapeTally turns them into
   * seeder and leecher estimates).
   */
  findPeers(infoHash: Buffer, options: { family?: Family; signal?: AbortSignal; scrape?: boolean } = {}): AsyncGenerator<LookupEvent, LookupResult> {
    return this.lookup(infoHash, { ...options, method: 'get_peers' });
  }

  /**
   * BEP 33 scrape: a get_peers lookup that then asks the K closest nodes for their bloom filters,
   * and the estimated numbers of seeders and leechers from their union (ScrapeTally).
   */
  async scrape(infoHash: Buffer, options: { family?: Family; signal?: AbortSignal } = {}): Promise<ScrapeEstimate & { lookup: LookupResult }> {
    const tally = new ScrapeTally();
    const it = this.findPeers(infoHash, { ...options, scrape: true });
    for (;;) {
      const next = await it.next();
      if (next.done) return { ...tally.estimate(), lookup: next.value };
      tally.add(next.value);
    }
  }

  /** get_peers lookup, then announce_peer to the K closest nodes that gave a token. */
  async announce(
    infoHash: Buffer,
    options: { port?: number; impliedPort?: boolean; seed?: boolean; family?: Family; signal?: AbortSignal } = {},
  ): Promise<AnnounceOutcome> {
    const family = options.family ?? this.families[0]!;
    const fs = this.requireFamily(family);
    const impliedPort = options.impliedPort ?? options.port === undefined;
    const result = await this.collect(this.findPeers(infoHash, options));
    const { acknowledged, errors, failed } = await writeToClosest(result.closest, (node, token) =>
      fs.querier.query(node, { method: 'announce_peer', id: this.idValue, infoHash, port: impliedPort ? 0 : options.port!, impliedPort, token, seed: options.seed }, { signal: options.signal }),
    );
    return { lookup: result, announced: acknowledged, failed: failed + Object.values(errors).reduce((a, b) => a + b, 0) };
  }

  /** BEP 44: the item stored under `target`, verified (for a mutable one, the newest); see Bep44GetOptions. */
  get(target: Buffer, options: Bep44GetOptions = {}): Promise<Bep44GetResult> {
    return this.bep44.get(target, options);
  }

  /** BEP 44: stores `value` (at most 1,000 bytes bencoded) under its SHA-1 at the K closest nodes. */
  putImmutable(value: Encodable, options: Bep44PutOptions = {}): Promise<Bep44PutResult> {
    return this.bep44.putImmutable(value, options);
  }

  /** BEP 44: signs `value` and stores it under SHA-1(public key ‖ salt) at the K closest nodes; seq defaults to the newest found + 1. */
  putMutable(options: Bep44MutablePutOptions): Promise<Bep44MutablePutResult> {
    return this.bep44.putMutable(options);
  }

  ping(to: PeerAddress, options: QueryOptions & { family?: Family } = {}): Promise<QueryResult<'ping'>> {
    return this.requireFamily(options.family ?? familyOf(to)).querier.query(to, { method: 'ping', id: this.idValue }, options);
  }

  sampleInfohashes(to: PeerAddress, target: Buffer, options: QueryOptions = {}): Promise<QueryResult<'sample_infohashes'>> {
    return this.requireFamily(familyOf(to)).querier.query(to, { method: 'sample_infohashes', id: this.idValue, target }, options);
  }

  /** Counters for diagnosis and metrics. */
  stats(): {
    id: string;
    families: Record<string, { tableSize: number; buckets: number; socket: ReturnType<KrpcSocket['stats']> }>;
    store: { infohashes: number; peers: number };
    items: { items: number; bytes: number };
  } {
    const families: Record<string, { tableSize: number; buckets: number; socket: ReturnType<KrpcSocket['stats']> }> = {};
    for (const [family, fs] of this.state) {
      families[`ipv${family}`] = { tableSize: fs.table.size, buckets: fs.table.buckets().length, socket: fs.socket.stats() };
    }
    return { id: idToHex(this.idValue), families, store: this.store.size, items: this.items.size };
  }

  /** Writes the routing tables to the data directory (no-op without one). */
  async save(): Promise<void> {
    if (!this.o.dataDir) return;
    const content: TableFile = { version: 1, id: idToHex(this.idValue), savedAt: new Date().toISOString(), tables: {} };
    for (const [family, fs] of this.state) {
      // Contacts we loaded but have not re-verified yet are kept too, so a short run loses nothing.
      const json = fs.table.toJSON();
      const pending = (this.loadedCandidates.get(family) ?? []).map((c) => ({ id: idToHex(c.id), host: c.host, port: c.port }));
      content.tables[family] = { ...json, nodes: [...json.nodes, ...pending] };
    }
    await saveTableFile(tableFilePath(this.o.dataDir), content);
  }

  // ---- wiring ------------------------------------------------------------------------------

  private tableOptions(): { k: number; clock: Clock; addressScope: AddressScope } {
    return { k: this.k, clock: this.clock, addressScope: this.addressScope };
  }

  private newTable(): RoutingTable {
    return new RoutingTable({ ...this.tableOptions(), ownId: this.idValue });
  }

  private registerHandlers(fs: FamilyState): void {
    const ctx: HandlerContext = {
      ownId: () => this.idValue,
      tables: {},
      tokens: this.tokens,
      store: this.store,
      k: this.k,
      enforceBep42Storage: this.o.enforceBep42 ?? false,
      // Reported only once the token was verified and the peer stored: forged announces
      // must not reach passive observers.
      onAnnounce: (infoHash, peer, seed) => {
        if (this.listenerCount('announce') > 0) this.emit('announce', { infoHash: Buffer.from(infoHash), peer, seed });
      },
      items: this.items,
      mayReflect: (from, queryBytes, replyBytes) => this.mayReflect(from, queryBytes, replyBytes),
    };
    // Tables are looked up on each call, so a table rebuilt after an ID change is used at once.
    Object.defineProperty(ctx.tables, 4, { get: () => this.state.get(4)?.table, enumerable: true });
    Object.defineProperty(ctx.tables, 6, { get: () => this.state.get(6)?.table, enumerable: true });
    fs.socket
      .handle('ping', pingHandler(ctx))
      .handle('find_node', findNodeHandler(ctx))
      .handle('get_peers', getPeersHandler(ctx))
      .handle('announce_peer', announcePeerHandler(ctx));
    if (this.o.bep51 !== false) fs.socket.handle('sample_infohashes', sampleInfohashesHandler(ctx));
    if (this.o.bep44 !== false) fs.socket.handle('get', getHandler(ctx)).handle('put', putHandler(ctx));
    fs.socket.on('query', (query, context) => {
      // BEP 5: a querier is never added for querying us, but a known one stays good; BEP 43:
      // read-only queriers are not touched at all.
      if (!context.readOnly) {
        fs.table.recordQuery({ id: query.id, host: context.from.host, port: context.from.port });
        // After the reply (which is sent synchronously after this event): answer first, verify second.
        const id = Buffer.from(query.id);
        const from = context.from;
        queueMicrotask(() => {
          if (!this.running) return;
          this.verifier.consider(fs.table, id, from, () =>
            fs.socket.query(from, { method: 'ping', id: this.idValue }, { signal: this.stopping.signal }).then((result) => this.onAnswered(fs.family, result as QueryResult<Method>)),
          );
        });
      }
      if (query.method === 'get_peers' && this.listenerCount('get-peers') > 0) {
        this.emit('get-peers', { infoHash: Buffer.from(query.infoHash), from: context.from });
      }
    });
  }

  /** Per-IP token bucket on incoming queries; private and loopback sources exempt by default. */
  private admit(from: PeerAddress): boolean {
    if (!this.o.limitPrivate && isBogon(from.host)) return true;
    return this.limiter.take(from.host);
  }

  /**
   * BEP 44 reflection budget (reflection-budget.ts), for sources that have not proved their
   * address: not in our table, never answered a query of ours. Private and loopback sources
   * are exempt as from the rate limit.
   */
  private mayReflect(from: PeerAddress, queryBytes: number, replyBytes: number): boolean {
    if (!this.o.limitPrivate && isBogon(from.host)) return true;
    const table = this.state.get(ipFamily(from.host) ?? 4)?.table;
    if (table?.getByAddress(from.host, from.port) !== undefined || this.verifier.hasAnswered(from)) return true;
    return this.reflection.allow(from.host, queryBytes, replyBytes);
  }

  /**
   * The querier every lookup, ping and refresh goes through: it spends the outgoing budget,
   * and keeps the routing table in step with who answers and who does not.
   */
  private trackingQuerier(family: Family, socket: KrpcSocket): Querier {
    return {
      query: async <M extends Method>(to: PeerAddress, query: QueryOf<M>, options: QueryOptions = {}): Promise<QueryResult<M>> => {
        await this.spend(options.signal);
        try {
          const result = await socket.query(to, query, options);
          this.onAnswered(family, result as QueryResult<Method>);
          return result;
        } catch (err) {
          if (err instanceof KrpcTimeoutError) this.onTimedOut(family, to);
          throw err;
        }
      },
    };
  }

  /** Waits for the global outgoing budget, so a burst of lookups cannot flood the link. */
  private spend(signal?: AbortSignal): Promise<void> {
    return this.paced.acquire(signal);
  }

  private onAnswered(family: Family, result: QueryResult<Method>): void {
    const fs = this.state.get(family);
    if (fs === undefined) return;
    const { reply, from, v, rttMs } = result;
    this.verifier.noteAnswer(from);
    if (this.o.enforceBep42 && !isBep42Compliant(reply.id, from.host)) return;
    const outcome = fs.table.recordResponse({ id: reply.id, host: from.host, port: from.port, version: v, rttMs });
    if (outcome.status === 'full') void this.probe(fs, outcome.pingCandidates);
    if (result.ip !== undefined) this.considerExternalAddress(from, result.ip);
  }

  private onTimedOut(family: Family, to: PeerAddress): void {
    const fs = this.state.get(family);
    const contact = fs?.table.getByAddress(to.host, to.port);
    if (fs && contact) fs.table.recordFailure(contact);
  }

  /**
   * BEP 5: a full bucket pings its least recently seen questionable nodes; one that fails
   * twice is replaced by the newcomer waiting in the bucket's replacement cache.
   */
  private async probe(fs: FamilyState, candidates: NodeInfo[]): Promise<void> {
    const key = candidates[0] ? idToHex(candidates[0].id).slice(0, 8) : '';
    if (fs.probing.has(key) || !this.running) return;
    fs.probing.add(key);
    try {
      for (const candidate of candidates) {
        let answered = false;
        for (let attempt = 0; attempt < 2 && !answered && this.running; attempt++) {
          answered = await fs.querier
            .query(candidate, { method: 'ping', id: this.idValue }, { signal: this.stopping.signal })
            .then(() => true, () => false);
        }
        if (!answered) break; // replaced (recordFailure promoted the newcomer); the bucket has room
      }
    } finally {
      fs.probing.delete(key);
    }
  }

  /** BEP 42: once enough independent nodes agree on our address, take a compliant ID. */
  private considerExternalAddress(voter: PeerAddress, claimed: PeerAddress): void {
    if (this.o.adoptBep42Id === false || this.o.id !== undefined) return;
    this.voter.vote(voter, claimed);
    const external = this.voter.winner();
    if (external === undefined || isBep42Exempt(external) || isBep42Compliant(this.idValue, external)) return;
    this.idValue = generateBep42Id(external, this.random);
    for (const fs of this.state.values()) {
      const old = fs.table.all();
      fs.table = this.newTable();
      for (const c of old) fs.table.recordResponse({ id: c.id, host: c.host, port: c.port, version: c.version, rttMs: c.rttMs });
    }
    this.emit('id-changed', { id: idToHex(this.idValue), externalAddress: external });
  }

  /** BEP 5: a bucket untouched for 15 minutes is refreshed by a lookup of a random ID in its range. */
  private async refreshBuckets(): Promise<void> {
    for (const fs of this.state.values()) {
      if (!fs.bootstrapped) continue;
      for (const { target } of fs.table.bucketsNeedingRefresh()) {
        if (!this.running) return;
        await this.collect(this.lookup(target, { family: fs.family, signal: this.stopping.signal })).catch(() => undefined);
      }
    }
  }

  private every(ms: number, task: () => unknown): void {
    const schedule = (): void => {
      const handle = this.clock.setTimeout(async () => {
        this.timers.delete(handle);
        if (!this.running) return;
        try {
          await task();
        } catch (err) {
          this.emit('warning', `periodic task failed: ${String(err)}`);
        }
        if (this.running) schedule();
      }, ms);
      handle.unref?.();
      this.timers.add(handle);
    };
    schedule();
  }

  private async collect(it: AsyncGenerator<LookupEvent, LookupResult>): Promise<LookupResult> {
    for (;;) {
      const next = await it.next();
      if (next.done) return next.value;
    }
  }

  private requireFamily(family: Family): FamilyState {
    const fs = this.state.get(family);
    if (fs === undefined) throw new Error(`IPv${family} is not enabled on this node (or it is not started)`);
    return fs;
  }

  private async closeSockets(): Promise<void> {
    await Promise.all([...this.state.values()].map((fs) => fs.socket.close()));
    this.state.clear();
  }
}

function familyOf(to: PeerAddress): Family {
  return to.host.includes(':') ? 6 : 4;
}

function anySignal(signals: Array<AbortSignal | undefined>): AbortSignal {
  return AbortSignal.any(signals.filter((s): s is AbortSignal => s !== undefined));
}
