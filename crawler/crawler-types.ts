import { type ScrapeProbeLimits } from './scrape-probes.js';
import { type Clock } from '../bep5/clock.js';
import { type PeerAddress } from '../bep5/compact.js';
import { type AddressScope } from '../bep5/address-scope.js';
import { type DhtNode } from '../bep5/node.js';
import { type Family } from '../bep5/node-types.js';
import { type IdPartition } from './id-partition.js';
import { type CrawlLearning } from './crawl-learning.js';
import { type RandomSource } from '../bep5/random.js';
import { type DiscoverySink } from './discovery.js';

/** The Crawler's public shapes: its options, progress, sweep summaries and events. */

export interface CrawlerOptions {
  /** The crawler's node: its sockets and ID are used; it must be started. */
  node: DhtNode;
  /**
   * Address families to crawl (BEP 32), each through the node's socket of that family; default:
   * every family the node runs. With both, every query asks `want: n4 n6`.
   */
  families?: Family[];
  /** Where to start (resolved addresses). */
  bootstrap: PeerAddress[];
  /** Queries per second, all kinds together. */
  rate?: number;
  /** Queries in flight at once. */
  maxInflight?: number;
  /** Queries per second to one IP address. */
  perIpRate?: number;
  /** get_peers queries per second for newly seen infohashes; 0 turns peer discovery off. */
  getPeersRate?: number;
  /**
   * Which learned addresses may be visited (bep5/address-scope.ts); default: the node's scope.
   * Contacts outside it are skipped and counted, never sent to.
   */
  addressScope?: AddressScope;
  /** How targets are chosen (crawler/target-chooser.ts). */
  strategy?: 'coverage' | 'random';
  sink?: DiscoverySink;
  clock?: Clock;
  random?: RandomSource;
  /**
   * Visit only the nodes of this share of the ID space (a shared survey's unit of work); the
   * others are reported through onForeignContact, once each, and never visited.
   */
  partition?: IdPartition;
  /** What the crawl learns and acts on (crawl-learning.ts); give several crawls one to share it. */
  learning?: CrawlLearning;
  onForeignContact?: (id: Buffer, host: string, port: number) => void;
  /**
   * Datagrams the kernel dropped so far (default: this host's UDP RcvbufErrors, or null where
   * unknown). A timeout while this grows is tried again, not counted; the rate backs off.
   */
  receiveDrops?: () => number | null;
  /** BEP 33 census probes (crawler/scrape-probes.ts); `false` sends none. Default: CRAWL_SCRAPE_PROBE_* of constants.ts. */
  scrapeProbes?: ScrapeProbeLimits | false;
  /**
   * Before each sweep after the first, forget the nodes that failed in the sweep before and
   * either never answered or failed in the one before that too (NodeIndex.compact), and emit
   * 'nodes-forgotten' so that whoever holds node indexes maps them. For `run`, which sweeps for
   * months: its memory then follows the network's size, not its history. Default false: one
   * sweep, `measure` and shared surveys keep every node they heard of.
   */
  forgetDeadNodes?: boolean;
  /**
   * Infohash fingerprints kept to tell new infohashes from seen ones (crawler/recent-fingerprints.ts):
   * past this many the older half is forgotten. Default: no limit (one sweep, `measure`).
   */
  maxInfohashes?: number;
}

export interface CrawlProgress {
  sweep: number;
  known: number;
  answered: number;
  /** Of `known` and `answered`, the IPv6 nodes (BEP 32); the rest are IPv4. */
  ipv6: { known: number; answered: number };
  queued: number;
  inflight: number;
  queriesSent: number;
  rps: number;
  infohashes: number;
  peers: number;
  elapsedMs: number;
  /** True while the sink is saturated and the crawler holds new queries (backpressure). */
  pausedForSink: boolean;
  /** Time spent holding for the sink (ms, all sweeps). */
  sinkPausedMs: number;
  /** sample_infohashes queries sent (the rest of queriesSent: find_node, get_peers). */
  samplesAsked: number;
  /** BEP 33 census probes sent (get_peers with `scrape`, crawler/scrape-probes.ts). */
  scrapeProbes: number;
  /** Contacts heard of at addresses outside the address scope (private, bogon): never queried. */
  skippedContacts: number;
  /** Timeouts that came while the kernel dropped datagrams: tried again, not taken as silence. */
  timeoutsDuringDrops: number;
  /** The query rate now (lower than asked for while the kernel drops datagrams). */
  rate: number;
  /** Nodes forgotten as dead between sweeps (CrawlerOptions.forgetDeadNodes), all sweeps. */
  forgotten: number;
}

export interface SweepSummary extends CrawlProgress {
  /** Nodes that answered in this sweep. */
  answeredThisSweep: number;
  failedThisSweep: number;
  bep51: number;
  noBep51: number;
}

/** Progress is polled with progress() (a status line reads it once a second). */
export interface CrawlerEvents {
  'sweep-done': [SweepSummary];
  /**
   * Nodes were forgotten (CrawlerOptions.forgetDeadNodes) before sweep `sweep` began: `remap`
   * maps each old node index to its new one (-1: forgotten); the index now holds `size` nodes.
   */
  'nodes-forgotten': [{ sweep: number; forgotten: number; remap: Int32Array; size: number }];
}
