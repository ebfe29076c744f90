import { decodeSketch } from '../../crawler/churn-sketch.js';
import { type SybilRegionSummary } from '../../crawler/survey-summary.js';

/**
 * What a shared survey keeps per partition and per process, and the checks applied when it is
 * read back: Redis content is not trusted blindly (another version, a hand edit, a bug).
 */

/** The k closest answered IDs to one of the survey's fixed targets (for the size estimate). */
export interface TargetSample {
  /** Index of the target in the survey's target list (surveyTargets). */
  target: number;
  /** Hex IDs, closest first. */
  closest: string[];
}

export interface PartitionResult {
  partition: number;
  /** The process that completed it. */
  process: string;
  startedAt: number;
  ms: number;
  /** Nodes of the partition heard of, and those that answered. */
  known: number;
  answered: number;
  bep51: number;
  noBep51: number;
  /** Queries this partition's crawl sent (to its own nodes, and its descent's hops). */
  queries: number;
  descentQueries: number;
  samplesAsked: number;
  infohashes: number;
  /** Contacts of other partitions passed on. */
  forwarded: number;
  /** Contacts received from other partitions. */
  received: number;
  timeoutsDuringDrops: number;
  targets: TargetSample[];
  /** The partition's part of the census, summed with the others' when the survey is done. */
  census?: PartitionCensus;
  /**
   * The bottom-k sketch of the node keys that answered in it (crawler/churn-sketch.ts,
   * encodeSketch): what a later survey's churn is measured against. Absent in records from
   * before churn was measured, and dropped on read when it is not a sketch.
   */
  answeredSketch?: string;
  /** Its Sybil regions (crawler/sybil.ts over its own IDs), most significant first, at most 16. */
  sybilRegions?: SybilRegionSummary[];
}

export interface PartitionCensus {
  /** Nodes queried, and of them those that answered; nodes with a `v`. */
  nodes: number;
  answered: number;
  withVersion: number;
  /** Nodes per `v` (hex), the most common PARTITION_TOP_VERSIONS. */
  versions: Record<string, number>;
  bep51: { supported: number; unsupported: number; unknown: number };
  /** Nodes with a BEP 42-compliant (or exempt) ID. */
  bep42: number;
  /** Nodes with a BEP 32 / BEP 33 verdict (crawler/census.ts); absent in records from before they were measured. */
  bep32?: { supported: number; unsupported: number };
  bep33?: { supported: number; unsupported: number };
  /** Round-trip times (ms) of up to PARTITION_RTT_SAMPLES answered nodes, evenly picked, and how many there were. */
  rttSample: number[];
  rttSamples: number;
}

/** Bounds on what one partition keeps of its census. */
export const PARTITION_TOP_VERSIONS = 64;
export const PARTITION_RTT_SAMPLES = 512;

export interface ProcessStatus {
  process: string;
  host: string;
  pid: number;
  startedAt: number;
  lastSeen: number;
  partitionsDone: number;
  active: number[];
  queries: number;
  answered: number;
  /** Queries per second over the process's life so far. */
  rps: number;
}

/** `text` as a JSON object, or null (not a string, longer than `maxLength`, not JSON, not an object). */
function jsonObject(text: string | null | undefined, maxLength: number): Record<string, unknown> | null {
  if (typeof text !== 'string' || text.length > maxLength) return null;
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isHexId = (v: unknown): v is string => typeof v === 'string' && /^[0-9a-f]{40}$/.test(v);

/** A stored partition result, or null when it is not one. */
export function parsePartitionResult(text: string | null | undefined, partitions: number): PartitionResult | null {
  const r = jsonObject(text, 1_000_000);
  if (r === null) return null;
  const counts = ['partition', 'startedAt', 'ms', 'known', 'answered', 'bep51', 'noBep51', 'queries', 'descentQueries', 'samplesAsked', 'infohashes', 'forwarded', 'received', 'timeoutsDuringDrops'];
  if (!counts.every((k) => isCount(r[k]))) return null;
  if ((r['partition'] as number) >= partitions || typeof r['process'] !== 'string' || r['process'].length > 200) return null;
  if (!Array.isArray(r['targets']) || r['targets'].length > 4096) return null;
  const targets: TargetSample[] = [];
  for (const t of r['targets'] as unknown[]) {
    if (typeof t !== 'object' || t === null) return null;
    const { target, closest } = t as Record<string, unknown>;
    if (!isCount(target) || !Array.isArray(closest) || closest.length > 64 || !closest.every(isHexId)) return null;
    targets.push({ target, closest: closest as string[] });
  }
  const result: PartitionResult = { ...(r as unknown as PartitionResult), targets };
  // The census and the regions are kept only when whole: a bad one is dropped, not trusted.
  if (r['census'] !== undefined && !isPartitionCensus(r['census'])) delete result.census;
  if (r['sybilRegions'] !== undefined && !isSybilRegions(r['sybilRegions'])) delete result.sybilRegions;
  if (r['answeredSketch'] !== undefined && decodeSketch(r['answeredSketch']) === null) delete result.answeredSketch;
  return result;
}

function isPartitionCensus(v: unknown): v is PartitionCensus {
  if (typeof v !== 'object' || v === null) return false;
  const c = v as Record<string, unknown>;
  if (!['nodes', 'answered', 'withVersion', 'bep42', 'rttSamples'].every((k) => isCount(c[k]))) return false;
  const versions = c['versions'];
  if (typeof versions !== 'object' || versions === null || Array.isArray(versions)) return false;
  const entries = Object.entries(versions);
  if (entries.length > PARTITION_TOP_VERSIONS || !entries.every(([k, n]) => /^[0-9a-f]{0,16}$/.test(k) && isCount(n))) return false;
  const b = c['bep51'] as Record<string, unknown> | null;
  if (typeof b !== 'object' || b === null || !['supported', 'unsupported', 'unknown'].every((k) => isCount(b[k]))) return false;
  for (const key of ['bep32', 'bep33']) {
    const e = c[key] as Record<string, unknown> | null | undefined;
    if (e === undefined) continue;
    if (typeof e !== 'object' || e === null || !['supported', 'unsupported'].every((k) => isCount(e[k]))) return false;
  }
  const rtts = c['rttSample'];
  return Array.isArray(rtts) && rtts.length <= PARTITION_RTT_SAMPLES && rtts.every(isCount);
}

function isSybilRegions(v: unknown): v is SybilRegionSummary[] {
  if (!Array.isArray(v) || v.length > 16) return false;
  return v.every((r: unknown) => {
    if (typeof r !== 'object' || r === null) return false;
    const x = r as Record<string, unknown>;
    return (
      typeof x['prefix'] === 'string' && /^[0-9a-f]{0,40}$/.test(x['prefix']) && isCount(x['prefixBits']) && isHexId(x['startId']) && isHexId(x['endId']) && isCount(x['nodes']) &&
      typeof x['expected'] === 'number' && Number.isFinite(x['expected']) && typeof x['log10PValue'] === 'number' && Number.isFinite(x['log10PValue']) &&
      (x['distinctSlash24'] === null || isCount(x['distinctSlash24']))
    );
  });
}

/** A stored process status, or null when it is not one. */
export function parseProcessStatus(text: string | null | undefined): ProcessStatus | null {
  const r = jsonObject(text, 100_000);
  if (r === null) return null;
  if (typeof r['process'] !== 'string' || typeof r['host'] !== 'string') return null;
  if (!['pid', 'startedAt', 'lastSeen', 'partitionsDone', 'queries', 'answered'].every((k) => isCount(r[k]))) return null;
  if (typeof r['rps'] !== 'number' || !Number.isFinite(r['rps']) || !Array.isArray(r['active']) || !r['active'].every(isCount)) return null;
  return r as unknown as ProcessStatus;
}
