import { type SweepSummary } from '../../crawler/crawler-types.js';

/**
 * What the two processes of the Transmission bench agree on: our ports inside our namespace,
 * the probe timeouts, the inner process's configuration and messages, and the results.
 */

/** Transmission's fixed ports inside its namespace (nothing else lives there). */
export const TR_PEER_PORT = 51413;
export const TR_RPC_PORT = 9091;
/** Our ports inside our namespace. */
export const PROBE_PORT = 6880;
export const CRAWLER_PORT = 6881;
export const FIRST_SEED_PORT = 6882;


/** How long a probe waits before calling the target silent (veth RTTs are well under 1 ms). */
export const SILENCE_MS = 1_000;
export const ANSWER_WAIT_MS = 2_000;

// ---- results ---------------------------------------------------------------------------------

export interface ProbeResult {
  name: string;
  outcome: 'reply' | 'error' | 'silent';
  ms?: number;
  /** Keys of the reply's `r` dict, or the error's code and message. */
  detail: string;
  id?: string;
  nodes?: number;
  tokenBytes?: number;
  values?: number;
  errorCode?: number;
  /** The reply's `v` (hex), null when absent. */
  v?: string | null;
  /** Whether the reply carried our address in `ip` (BEP 42). */
  ip?: boolean;
}

export interface PacketRow {
  from: string;
  to: string;
  kind: string;
  count: number;
  bytes: number;
}

export interface CrawlOutcome {
  sweeps: Array<Pick<SweepSummary, 'sweep' | 'known' | 'answeredThisSweep' | 'failedThisSweep' | 'bep51' | 'noBep51' | 'queriesSent' | 'samplesAsked' | 'skippedContacts'> & { ms: number }>;
  /** Transmission as the crawler saw it. */
  transmission: { known: boolean; answered: boolean; failed: boolean; bep51: boolean; noBep51: boolean; version: string | null; rttMs: number };
  /** What the crawler's socket sent to Transmission, by method. */
  queriesToTransmission: Record<string, number>;
  /** Our seed nodes the crawler learned (only Transmission could have told it about them). */
  seedsLearned: number;
  seedsAnswered: number;
  clientBep51: Array<{ version: string | null; supported: number; unsupported: number; neverSupports: boolean }>;
}

export interface InnerResult {
  transmissionId: string;
  /** ms from our "go" until Transmission answered a ping, and until its find_node listed one of our nodes. */
  firstPingMs: number;
  firstNodesMs: number;
  /** find_node replies seen while its table was still empty: their `r` keys. */
  emptyTableReplies: string[];
  probes: ProbeResult[];
  crawl: CrawlOutcome;
  lookup: { infoHash: string; waitedMs: number; getPeersAtOurNodes: number; firstAtMs: number | null; announcesAtOurNodes: number };
  /** What Transmission sent to our seeds (as they counted it). */
  queriesFromTransmission: Record<string, number>;
  packets: PacketRow[];
  /** Datagrams our guard refused (addresses outside the two namespaces): must be 0. */
  blocked: PacketRow[];
  destinations: string[];
}

export interface TransmissionNetnsResult extends InnerResult {
  version: string;
  namespaces: string[];
  subnet: string;
  transmissionAddress: string;
  ourAddress: string;
  /** What Transmission's own DHT debug log (TR_DHT_VERBOSE) says it received and did. */
  transmissionLog: { received: Record<string, number>; unparseable: Record<string, number>; sent: Record<string, number>; lines: number };
  /** Whether any Transmission log line mentions an address outside the namespaces. */
  foreignAddressesInLog: string[];
  magnet: string;
  timings: { setupMs: number; innerStartMs: number; runMs: number; cleanupMs: number; totalMs: number };
  verdict: Array<{ check: string; ok: boolean }>;
}

export interface TransmissionNetnsOptions {
  /** dhtscope nodes that Transmission gets as its saved contacts (default 8). */
  seeds?: number;
  /** After the crawl, wait up to this long for Transmission's get_peers for the magnet (default 0). */
  lookupWaitS?: number;
  /** Give up (and clean up) after this long (default 120 s plus the lookup wait). */
  timeoutMs?: number;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}


/** One line of the inner process's stdout. */
export type InnerMessage = { type: 'ready' } | { type: 'probes-done' } | { type: 'result'; result: InnerResult } | { type: 'error'; message: string } | { type: 'log'; line: string };

/** What the outer process passes the inner one (JSON on its command line). */
export interface InnerConfig {
  ourHost: string;
  trHost: string;
  trPort: number;
  trId: string;
  seedPorts: number[];
  lookupWaitMs: number;
}
