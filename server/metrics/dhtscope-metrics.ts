import { collectDefaultMetrics, Registry } from 'prom-client';
import { METRICS_PREFIX as P, QUEUE_DEPTHS_TIMEOUT_MS } from './constants.js';
import { CrawlMetrics } from './crawl-metrics.js';
import { EventSubscription } from './event-subscription.js';
import { NodeMetrics } from './node-metrics.js';
import { ProducerMetrics } from './producer-metrics.js';
import { RetentionMetrics } from './retention-metrics.js';
import { SnapshotCounter } from './snapshot-counter.js';
import { type BatchWriteObservation, type MetricsSources, type QueueDepthsSnapshot, type RpcObservation } from './sources.js';
import { WorkerMetrics } from './worker-metrics.js';

export interface DhtscopeMetricsOptions {
  /**
   * Also export Node.js's process metrics (CPU, memory, event loop lag, GC) under their
   * standard names (process_*, nodejs_*), which stock dashboards expect. Default false: they
   * hook into the process (a GC observer), which one process should do once.
   */
  processMetrics?: boolean;
  /** How long a scrape waits for the queue depths (default QUEUE_DEPTHS_TIMEOUT_MS). */
  queueDepthsTimeoutMs?: number;
}

type SourceName = 'node' | 'crawl' | 'producer' | 'retention' | 'workers' | 'queues' | 'rpc_events' | 'batch_writes';

/**
 * dhtscope's Prometheus metrics on a registry of their own (never prom-client's global one, so
 * several servers in one process do not clash). Snapshot sources are read at each scrape
 * (`render()`); the two histograms are fed by events (DhtNode 'rpc', the worker set's
 * 'batch-applied') or by `observeRpc` / `observeBatchWrite`. README.md lists every metric.
 */
export class DhtscopeMetrics {
  readonly registry = new Registry();
  // A group of metrics exists only when something feeds it: a process without a crawler
  // shows no crawl metrics rather than crawl counters stuck at 0.
  private node: NodeMetrics | null = null;
  private readonly crawl: CrawlMetrics | null;
  private readonly producer: ProducerMetrics | null;
  private readonly retention: RetentionMetrics | null;
  private workers: WorkerMetrics | null = null;
  private readonly sourceErrors: SnapshotCounter<'source'>;
  private readonly sourceErrorCounts = new Map<SourceName, number>();
  private readonly rpcEvents: EventSubscription<'rpc', RpcObservation>;
  private readonly batchWrites: EventSubscription<'batch-applied', BatchWriteObservation>;
  private readonly queueTimeoutMs: number;

  constructor(
    private readonly sources: MetricsSources = {},
    options: DhtscopeMetricsOptions = {},
  ) {
    if (sources.node || sources.rpcEvents) this.node = new NodeMetrics(this.registry);
    this.crawl = sources.crawl ? new CrawlMetrics(this.registry) : null;
    this.producer = sources.producer ? new ProducerMetrics(this.registry) : null;
    this.retention = sources.retention ? new RetentionMetrics(this.registry) : null;
    if (sources.workers || sources.queues || sources.batchWrites) this.workers = new WorkerMetrics(this.registry);
    this.sourceErrors = new SnapshotCounter(this.registry, `${P}metrics_source_errors_total`, 'Scrapes in which a source of these metrics failed or (queues) did not answer in time.', ['source']);
    this.rpcEvents = new EventSubscription('rpc', (e) => this.observeRpc(e));
    this.batchWrites = new EventSubscription('batch-applied', (e) => this.observeBatchWrite(e));
    this.queueTimeoutMs = options.queueDepthsTimeoutMs ?? QUEUE_DEPTHS_TIMEOUT_MS;
    if (options.processMetrics) collectDefaultMetrics({ register: this.registry });
    this.subscribe();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** One reply's round trip, for the RPC latency histogram. */
  observeRpc(e: RpcObservation): void {
    (this.node ??= new NodeMetrics(this.registry)).observeRpc(e);
  }

  /** One discovery batch's write to Redis, for the write latency histogram. */
  observeBatchWrite(e: BatchWriteObservation): void {
    (this.workers ??= new WorkerMetrics(this.registry)).observeBatchWrite(e);
  }

  /** Reads every source and returns the Prometheus text exposition. */
  async render(): Promise<string> {
    await this.refresh();
    return this.registry.metrics();
  }

  /** Detaches from the event sources. */
  close(): void {
    this.rpcEvents.close();
    this.batchWrites.close();
  }

  private async refresh(): Promise<void> {
    this.subscribe();
    const queues = this.readQueues();
    this.read('node', this.sources.node, (s) => this.node?.update(s));
    this.read('crawl', this.sources.crawl, (s) => this.crawl?.update(s));
    this.read('producer', this.sources.producer, (s) => this.producer?.update(s));
    this.read('retention', this.sources.retention, (s) => this.retention?.update(s));
    this.read('workers', this.sources.workers, (s) => this.workers?.update(s));
    const depths = await queues;
    if (this.sources.queues) this.workers?.updateQueues(depths);
    for (const [source, n] of this.sourceErrorCounts) this.sourceErrors.set(n, { source });
  }

  /** Event sources can appear after start-up (or be replaced): follow whatever the getters return now. */
  private subscribe(): void {
    this.read('rpc_events', this.sources.rpcEvents, (s) => this.rpcEvents.sync(s));
    this.read('batch_writes', this.sources.batchWrites, (s) => this.batchWrites.sync(s));
  }

  /** Applies a source's snapshot; a source that throws is counted and its metrics keep their last values. */
  private read<T>(name: SourceName, get: (() => T | null | undefined) | undefined, apply: (snapshot: T) => void): void {
    if (get === undefined) return;
    let snapshot: T | null | undefined;
    try {
      snapshot = get();
    } catch {
      this.sourceFailed(name);
      return;
    }
    if (snapshot !== null && snapshot !== undefined) apply(snapshot);
  }

  private async readQueues(): Promise<QueueDepthsSnapshot | null> {
    const get = this.sources.queues;
    if (get === undefined) return null;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), this.queueTimeoutMs);
    });
    try {
      const depths = await Promise.race([Promise.resolve().then(get), late]);
      if (depths === 'late') {
        this.sourceFailed('queues');
        return null;
      }
      return depths ?? null;
    } catch {
      this.sourceFailed('queues');
      return null;
    } finally {
      clearTimeout(timer);
    }
  }

  private sourceFailed(name: SourceName): void {
    this.sourceErrorCounts.set(name, (this.sourceErrorCounts.get(name) ?? 0) + 1);
  }
}
