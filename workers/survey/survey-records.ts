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
}

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
  return { ...(r as unknown as PartitionResult), targets };
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
