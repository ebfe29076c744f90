import { Gauge, type Registry } from 'prom-client';
import { METRICS_PREFIX as P } from './constants.js';
import { SnapshotCounter } from './snapshot-counter.js';
import { type CrawlSnapshot } from './sources.js';

/** The crawler's progress: what it sent and found (counters) and where it stands (gauges). */
export class CrawlMetrics {
  private readonly queries: SnapshotCounter;
  private readonly infohashes: SnapshotCounter;
  private readonly peers: SnapshotCounter;
  private readonly nodes: Gauge<'state'>;
  private readonly sweep: Gauge;
  private readonly queued: Gauge;
  private readonly inflight: Gauge;
  private readonly paused: Gauge;
  private readonly pausedSeconds: SnapshotCounter;
  private readonly forgotten: SnapshotCounter;

  constructor(registry: Registry) {
    const registers = [registry];
    this.queries = new SnapshotCounter(registry, `${P}crawl_queries_total`, 'Queries the crawler sent (sample_infohashes, find_node, get_peers).');
    this.infohashes = new SnapshotCounter(registry, `${P}crawl_infohashes_total`, 'Distinct infohashes the crawler has seen (sampled, or asked of or announced to the node).');
    this.peers = new SnapshotCounter(registry, `${P}crawl_peers_total`, 'Peers the crawler found through get_peers.');
    this.nodes = new Gauge({ name: `${P}crawl_nodes`, help: 'Nodes the crawler knows (known) and of those, nodes that answered it (answered).', labelNames: ['state'], registers });
    this.sweep = new Gauge({ name: `${P}crawl_sweep`, help: 'The sweep under way (1 is the first).', registers });
    this.queued = new Gauge({ name: `${P}crawl_queued_nodes`, help: 'Nodes waiting to be visited in this sweep.', registers });
    this.inflight = new Gauge({ name: `${P}crawl_inflight_queries`, help: 'Crawler queries awaiting an answer.', registers });
    this.paused = new Gauge({ name: `${P}crawl_paused`, help: '1 while the crawler holds new queries because the discovery producer is saturated (Redis down and the spool about full), else 0.', registers });
    this.pausedSeconds = new SnapshotCounter(registry, `${P}crawl_paused_seconds_total`, 'Time the crawler held new queries for the discovery producer.');
    this.forgotten = new SnapshotCounter(registry, `${P}crawl_nodes_forgotten_total`, 'Nodes the crawler forgot between sweeps: failed in a sweep and never answered, or failed in two sweeps in a row.');
  }

  update(s: CrawlSnapshot): void {
    this.queries.set(s.queriesSent);
    this.infohashes.set(s.infohashes);
    this.peers.set(s.peers);
    this.nodes.set({ state: 'known' }, s.known);
    this.nodes.set({ state: 'answered' }, s.answered);
    this.sweep.set(s.sweep);
    this.queued.set(s.queued);
    this.inflight.set(s.inflight);
    this.paused.set(s.pausedForSink ? 1 : 0);
    this.pausedSeconds.set(s.sinkPausedMs / 1000);
    this.forgotten.set(s.forgotten);
  }
}
