import { Cluster } from 'ioredis';
import { join } from 'node:path';
import { parseBootstrapEntry, resolveBootstrap } from '../bep5/bootstrap.js';
import { type PeerAddress } from '../bep5/compact.js';
import { type Family } from '../bep5/node-types.js';
import { formatPeer } from './node-options.js';
import { DEFAULT_MAX_INFLIGHT } from '../bep5/constants.js';
import { KrpcAbortError } from '../bep5/errors.js';
import { DhtNode } from '../bep5/node.js';
import { idToHex } from '../bep5/node-id.js';
import { CRAWL_DEFAULT_GET_PEERS_RATE, CRAWL_DEFAULT_INFLIGHT, CRAWL_DEFAULT_RATE, CRAWL_RECV_BUFFER_BYTES, CRAWL_RUN_MAX_INFOHASHES } from '../crawler/constants.js';
import { Crawler } from '../crawler/crawler.js';
import { type SweepSummary } from '../crawler/crawler-types.js';
import { type SizeEstimate } from '../crawler/estimate.js';
import { liveSizeEstimate, type PrefixCoverage, prefixCoverage } from '../crawler/live-view.js';
import { SweepSurveyor } from '../crawler/sweep-survey.js';
import { type TestnetOptions } from '../crawler/testnet/plan.js';
import { type AddressScope } from '../bep5/address-scope.js';
import { Testnet } from '../crawler/testnet/testnet.js';
import { createApiServer } from '../server/api/server.js';
import { apiExtensions } from './api-extensions.js';
import { torznabExtension } from '../server/torznab/routes.js';
import { type IndexKeys } from '../indexer/keys.js';
import { connectRedis, type RedisConnection } from '../redis/connection.js';
import { IndexPruner } from '../indexer/index-pruner.js';
import { recordSurvey, type SurveyEntry } from '../indexer/survey-series.js';
import { MigrationRunner, ensureSchema } from '../migrations/runner.js';
import { DiscoveryProducer } from '../workers/discovery-producer.js';
import { SHARD_GROUPS_ON_CLUSTER } from '../workers/constants.js';
import { startWorkers, type WorkerSet } from '../workers/worker-set.js';

/**
 * The composition root of `dhtscope run`: Redis (embedded by default) with migrations applied,
 * a DHT node, the crawler writing through a DiscoveryProducer into BullMQ, the workers that
 * apply batches and look up peers, and the HTTP API, in one process (plus the redis-server
 * child and, with a testnet, its worker processes). Everything is started in dependency order
 * and stopped in reverse, so a stop never loses a discovery: the crawler stops first, the
 * producer flushes (or spools), then the workers drain what is queued.
 *
 * Every completed sweep is surveyed (crawler/sweep-survey.ts: size estimate, census, churn,
 * Sybil regions) and recorded in the index's survey series (indexer/survey-series.ts).
 */

export interface SystemOptions {
  dataDir: string;
  keys: IndexKeys;
  /** Redis URL; default: REDIS_URL, 127.0.0.1:6379, else an embedded redis-server. */
  redisUrl?: string;
  /** The node: where it binds and where it starts from. */
  node: {
    host: string;
    port: number;
    bootstrap: string[];
    allowPrivate?: boolean;
    addressScope?: AddressScope;
    /** Address families the node runs and the crawler crawls (default [4]); `host6` is the IPv6 bind (default ::). */
    families?: Family[];
    host6?: string;
  };
  /**
   * Instead of the public DHT: a local testnet of this many nodes (the node bootstraps from it).
   * Its ground truth goes to `<dataDir>/ground-truth.json`; the CLI gives a testnet run a data
   * directory and key prefix of its own (cli/index-options.ts runIndexOption).
   */
  testnet?: { nodes: number; infohashes: number; addressBase?: number; seed?: number } & Omit<TestnetOptions, 'nodes' | 'infohashes'>;
  /** Where the HTTP API listens; with `key`, every request must carry it (server/api/auth.ts). */
  api: { host: string; port: number; key?: string };
  workers: { concurrency?: number; peerLookups: boolean; metadata: boolean };
  crawl: { rate?: number; maxInflight?: number; getPeersRate?: number };
  /** Index retention: prune infohashes not seen for retainMs, and beyond maxInfohashes (each optional). */
  retention?: { retainMs?: number; maxInfohashes?: number };
  log: (line: string) => void;
  /** Routine lines (job attempts that will be retried): `run --verbose`. Default: dropped. */
  verboseLog?: (line: string) => void;
}

export interface SystemSummary {
  api: string;
  dataDir: string;
  redis: string;
  redisMode: string;
  /** The embedded redis-server's files (`<dataDir>/redis`) when this run started one, else null. */
  redisDataDir: string | null;
  prefix: string;
  schemaVersion: number;
  /** What retention prunes (null: nothing, the index keeps every infohash). */
  retention: { retainDays: number | null; maxInfohashes: number | null } | null;
  node: { id: string; address: string; families: Family[] };
  bootstrap: string[];
  testnet: { nodes: number; infohashes: number; groundTruth: string } | null;
}

/** Something to undo at stop, in reverse order of start. */
type Closer = { name: string; close: () => Promise<void> };

export class DhtscopeSystem {
  private readonly closers: Closer[] = [];
  private readonly crawlStop = new AbortController();
  private crawling: Promise<void> = Promise.resolve();
  private stopping: Promise<void> | null = null;
  connection!: RedisConnection;
  node!: DhtNode;
  crawler!: Crawler;
  producer!: DiscoveryProducer;
  workers!: WorkerSet;
  pruner: IndexPruner | null = null;
  testnet: Testnet | null = null;
  summary!: SystemSummary;
  /** Sweeps recorded in the survey series, and those not recorded (write failures, sweeps where nothing answered). */
  readonly surveys = { recorded: 0, failed: 0, empty: 0, lastSweep: 0 };
  /** The survey writes, one after the other; stop() waits for them. */
  private surveyWrites: Promise<void> = Promise.resolve();

  /** The index's key names (the dashboard's infohash search reads the index with them). */
  get keys(): IndexKeys {
    return this.options.keys;
  }

  private constructor(private readonly options: SystemOptions) {}

  /** Starts everything; on any failure, stops what had started and rethrows. */
  static async start(options: SystemOptions): Promise<DhtscopeSystem> {
    const system = new DhtscopeSystem(options);
    try {
      await system.startAll();
    } catch (err) {
      await system.stop();
      throw err;
    }
    return system;
  }

  private async startAll(): Promise<void> {
    const o = this.options;
    const log = o.log;

    this.connection = await connectRedis({ ...(o.redisUrl !== undefined ? { url: o.redisUrl } : {}), dataDir: o.dataDir, onLog: log, attachToRunning: false });
    this.closers.push({ name: 'redis', close: () => this.connection.close() });
    const schemaVersion = await ensureSchema(this.connection.client, o.keys, { migrate: true });

    let bootstrap = o.node.bootstrap;
    let allowPrivate = o.node.allowPrivate;
    let addressScope: AddressScope | undefined = o.node.addressScope;
    if (o.testnet) {
      // The data directory of a testnet run is the testnet's own (`<data dir>/testnet` unless
      // --data-dir), so its ground truth sits beside its Redis data and spool.
      const groundTruthPath = join(o.dataDir, 'ground-truth.json');
      log(`starting a local testnet of ${o.testnet.nodes} nodes with ${o.testnet.infohashes} infohashes`);
      this.testnet = await Testnet.start({ ...o.testnet, groundTruthPath });
      this.closers.push({ name: 'testnet', close: () => this.testnet!.stop() });
      bootstrap = [this.testnet.bootstrap, ...(this.testnet.groundTruth.bootstrap6 !== null ? [this.testnet.groundTruth.bootstrap6] : [])];
      // Loopback, and nothing else: some testnet nodes advertise private and bogon contacts.
      addressScope = 'loopback';
      allowPrivate = true; // metadata: the testnet's peers are on 127.x
    }

    const crawlInflight = o.crawl.maxInflight ?? CRAWL_DEFAULT_INFLIGHT;
    const families = o.node.families ?? [4];
    this.node = new DhtNode({
      families,
      host: o.node.host,
      ...(o.node.host6 !== undefined ? { host6: o.node.host6 } : {}),
      port: o.node.port,
      bootstrap,
      dataDir: o.dataDir,
      ...(addressScope !== undefined ? { addressScope } : { allowPrivate }),
      // The crawler's queries share the node's socket with the node's own.
      maxInflight: crawlInflight + DEFAULT_MAX_INFLIGHT,
      recvBufferSize: CRAWL_RECV_BUFFER_BYTES,
    });
    this.node.on('warning', (message) => log(`node: ${message}`));
    this.node.on('bootstrap-failed', ({ retryInMs }) => (this.bootstrapRetryAt = Date.now() + retryInMs));
    this.node.on('bootstrapped', () => (this.bootstrapRetryAt = null));
    await this.node.start();
    this.closers.push({ name: 'node', close: () => this.node.stop() });
    const address = this.node.address(families[0])!;

    this.workers = await startWorkers({
      connection: this.connection,
      keys: o.keys,
      ...(o.workers.concurrency !== undefined ? { concurrency: o.workers.concurrency } : {}),
      peerLookups: o.workers.peerLookups ? { node: this.node } : null,
      metadata: o.workers.metadata ? { allowPrivate: allowPrivate ?? false } : null,
      log,
      ...(o.verboseLog !== undefined ? { verboseLog: o.verboseLog } : {}),
    });
    this.closers.push({ name: 'workers', close: () => this.workers.close() });

    this.producer = await DiscoveryProducer.open({
      connection: this.connection,
      keys: o.keys,
      spoolDir: join(o.dataDir, 'spool', o.keys.prefix),
      // On a cluster a batch costs a script per shard it touches: batches are kept per group of shards.
      shardGroups: this.connection.client instanceof Cluster ? SHARD_GROUPS_ON_CLUSTER : 1,
      log,
    });
    this.closers.push({ name: 'producer', close: () => this.producer.close() });

    // Data from before migration 005 moves into the sharded layout while the crawl goes on;
    // readers answer from both layouts meanwhile (indexer/indexed-reads.ts).
    const moving = new AbortController();
    const move = new MigrationRunner(this.connection.client, o.keys, { onLog: log })
      .moveSchema4Data({ signal: moving.signal })
      .then(
        (r) => {
          if (r.moved > 0) log(`schema 5: moved ${r.moved} infohashes of the schema-4 layout${r.remaining > 0 ? `, ${r.remaining} left for the next start` : ''}`);
        },
        (err: unknown) => log(`schema 5: moving the schema-4 layout stopped (${err instanceof Error ? err.message : String(err)}); the next start goes on`),
      );
    this.closers.push({
      name: 'schema-4 move',
      close: async () => {
        moving.abort();
        await move;
      },
    });

    const retention = o.retention ?? {};
    const pruner = new IndexPruner({ redis: this.connection.client, keys: o.keys, ...retention, log });
    if (pruner.enabled) {
      this.pruner = pruner;
      pruner.start();
      this.closers.push({ name: 'retention', close: () => pruner.stop() });
    }

    const api = await createApiServer({
      redis: this.connection.client,
      keys: o.keys,
      liveStats: () => this.liveStats(),
      extensions: [...apiExtensions(this), torznabExtension({ redis: this.connection.client, keys: o.keys })],
      ...(o.api.key !== undefined ? { apiKey: o.api.key } : {}),
    });
    this.closers.push({ name: 'api', close: () => api.close() });
    const apiUrl = await api.listen({ host: o.api.host, port: o.api.port });

    const addresses = await resolveAddresses(bootstrap, families);
    this.crawler = new Crawler({
      node: this.node,
      bootstrap: addresses,
      rate: o.crawl.rate ?? CRAWL_DEFAULT_RATE,
      maxInflight: crawlInflight,
      getPeersRate: o.crawl.getPeersRate ?? CRAWL_DEFAULT_GET_PEERS_RATE,
      sink: this.producer,
      // It sweeps for months: nodes gone for good are forgotten, so memory follows the network.
      forgetDeadNodes: true,
      maxInfohashes: CRAWL_RUN_MAX_INFOHASHES,
    });
    // Synchronously at each sweep's end, before the next sweep clears its per-sweep flags.
    const surveyor = new SweepSurveyor(this.crawler.nodes);
    this.crawler.on('sweep-done', (sweep) => this.surveySweep(surveyor, sweep));
    this.crawler.on('nodes-forgotten', ({ remap, size }) => surveyor.remap(remap, size));
    this.closers.push({ name: 'survey series', close: () => this.surveyWrites });
    const joining = Promise.all(
      families.map((family) =>
        this.node.bootstrap({ signal: this.crawlStop.signal, family }).catch((err: unknown) => {
          if (!(err instanceof KrpcAbortError)) log(`bootstrap (IPv${family}) stopped: ${String(err)}`);
        }),
      ),
    );
    // Sweeps until stopped: later sweeps re-visit every known node (churn, new samples).
    this.crawling = this.crawler
      .run({ signal: this.crawlStop.signal })
      .then(() => undefined)
      .catch((err: unknown) => {
        if (!(err instanceof KrpcAbortError)) log(`crawler stopped: ${String(err)}`);
      })
      .finally(() => joining);

    this.summary = {
      api: apiUrl,
      dataDir: o.dataDir,
      redis: this.connection.description,
      redisMode: this.connection.mode,
      redisDataDir: this.connection.embedded?.dir ?? null,
      prefix: o.keys.prefix,
      schemaVersion,
      retention: this.pruner
        ? {
            retainDays: retention.retainMs === undefined ? null : retention.retainMs / 86_400_000,
            maxInfohashes: retention.maxInfohashes ?? null,
          }
        : null,
      node: { id: idToHex(this.node.id), address: formatPeer(address), families },
      bootstrap,
      testnet: this.testnet
        ? { nodes: o.testnet!.nodes, infohashes: o.testnet!.infohashes, groundTruth: this.testnet.groundTruthPath ?? '' }
        : null,
    };
  }

  /** When the node retries its bootstrap after a failed one (Date.now() ms), or null. */
  private bootstrapRetryAt: number | null = null;

  /**
   * Whether the node has joined the DHT: its contacts over every family, and while it has none,
   * how long until it tries the bootstrap nodes again (null while a try is under way).
   */
  joinState(): { contacts: number; retryInMs: number | null } {
    const contacts = (this.summary?.node.families ?? [4]).reduce((n, f) => n + (this.node.table(f)?.size ?? 0), 0);
    const retryInMs = contacts > 0 || this.bootstrapRetryAt === null ? null : Math.max(0, this.bootstrapRetryAt - Date.now());
    return { contacts, retryInMs };
  }

  /** The size estimate and coverage are recomputed at most this often (they walk every node). */
  private static readonly VIEW_REFRESH_MS = 10_000;
  private view: { at: number; estimate: SizeEstimate | null; coverage: PrefixCoverage } | null = null;

  private crawlView(): { estimate: SizeEstimate | null; coverage: PrefixCoverage } | null {
    if (!this.crawler) return null;
    const now = performance.now();
    if (this.view === null || now - this.view.at >= DhtscopeSystem.VIEW_REFRESH_MS) {
      this.view = { at: now, estimate: liveSizeEstimate(this.crawler.nodes), coverage: prefixCoverage(this.crawler.nodes, 8) };
    }
    return { estimate: this.view.estimate, coverage: this.view.coverage };
  }

  /**
   * Surveys the sweep that just ended and queues its entry for the survey series. Not recorded:
   * a sweep cut short by stop() (not a survey of the network), and a sweep in which no node
   * answered (the crawler retries an empty network every second: those would push real surveys
   * out of the bounded series). Never throws into the crawler.
   */
  private surveySweep(surveyor: SweepSurveyor, sweep: SweepSummary): void {
    if (this.crawlStop.signal.aborted) return;
    const log = this.options.log;
    let entry: SurveyEntry;
    try {
      entry = { at: Date.now(), source: { kind: 'run', sweep: sweep.sweep }, ...surveyor.sweepDone() };
    } catch (err) {
      this.surveys.failed++;
      log(`survey of sweep ${sweep.sweep} failed: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    if (entry.census.answered === 0) {
      this.surveys.empty++;
      return;
    }
    this.surveyWrites = this.surveyWrites
      .then(() => recordSurvey(this.connection.client, this.options.keys, entry))
      .then(
        () => {
          this.surveys.recorded++;
          this.surveys.lastSweep = sweep.sweep;
        },
        (err: unknown) => {
          this.surveys.failed++;
          log(`recording the survey of sweep ${sweep.sweep} failed: ${err instanceof Error ? err.message : String(err)}`);
        },
      );
  }

  /**
   * What the API's /api/stats shows under "live" (and the dashboard draws): the crawl's
   * counters, the network size estimate with its 95% interval, coverage of the ID space per
   * 8-bit prefix, the producer and workers, queue depths, and the node's packet counters.
   */
  async liveStats(): Promise<Record<string, unknown>> {
    const view = this.crawlView();
    return {
      at: Date.now(),
      crawl: this.crawler?.progress() ?? null,
      estimate: view?.estimate ?? null,
      coverage: view?.coverage ?? null,
      producer: this.producer?.stats() ?? null,
      workers: this.workers?.stats() ?? null,
      queues: this.workers ? await this.workers.queueDepths() : null,
      retention: this.pruner?.stats() ?? null,
      surveys: { ...this.surveys },
      node: this.node ? this.node.stats() : null,
    };
  }

  /**
   * Stops in reverse order: the crawl first (no new discoveries), then the producer flushes
   * into the queue, the workers finish their jobs, and only then the node, testnet and Redis.
   * Idempotent.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.crawlStop.abort();
      await this.crawling;
      for (const closer of this.closers.reverse()) {
        try {
          await closer.close();
        } catch (err) {
          this.options.log(`stopping ${closer.name}: ${String(err)}`);
        }
      }
    })();
    return this.stopping;
  }
}

async function resolveAddresses(entries: string[], families: readonly Family[]): Promise<PeerAddress[]> {
  const out: PeerAddress[] = [];
  for (const family of families) out.push(...(await resolveBootstrap(entries.map(parseBootstrapEntry), family)).addresses);
  return out;
}
