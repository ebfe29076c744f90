import { Queue } from 'bullmq';
import { cryptoRandom, type RandomSource } from '../../bep5/random.js';
import { estimateNetworkSize, type DistanceSample, type SizeEstimate } from '../../crawler/estimate.js';
import { type RedisConnection } from '../../redis/connection.js';
import { closeRedisClient } from '../../redis/client.js';
import { readPlan, SURVEY_K, surveyTargets, type SurveyPlan } from './survey-plan.js';
import { type SurveyKeys } from './survey-keys.js';
import { VersionCounts } from '../../crawler/census.js';
import { extensionShares, roundShare, summarizeSize, summarizeVersions, type SybilRegionSummary } from '../../crawler/survey-summary.js';
import { MAX_SURVEY_SYBIL_REGIONS, type SurveyChurn, type SurveyEntry } from '../../indexer/survey-series.js';
import { type AnsweredSketch, surveyChurn, surveySketch } from './survey-churn.js';
import { parsePartitionResult, parseProcessStatus, type PartitionResult, type ProcessStatus } from './survey-records.js';

export interface SurveyStatus {
  name: string;
  plan: SurveyPlan;
  partitions: { total: number; done: number; active: number; waiting: number; failed: number };
  /** Share of the partitions done (0-1). */
  coverage: number;
  /** Over the partitions done: nodes heard of and answered, queries sent. */
  known: number;
  answered: number;
  queries: number;
  infohashes: number;
  /** queries / answered: the crawl's own count of packets per live node found. */
  packetsPerLiveNode: number | null;
  /** Contacts passed on to partitions already done (never visited). */
  late: number;
  /** Partitions started more than once (a process died holding them), with the processes. */
  restarted: Array<{ partition: number; processes: string[] }>;
  processes: Array<ProcessStatus & { partitionsDone: number; silentMs: number }>;
  size: SizeEstimate | null;
  results: PartitionResult[];
}

/** Reads a survey's state from Redis; null when no survey of that name exists. */
export async function readSurveyStatus(connection: RedisConnection, keys: SurveyKeys, random: RandomSource = cryptoRandom, now = Date.now()): Promise<SurveyStatus | null> {
  const redis = connection.client;
  const plan = await readPlan(redis, keys);
  if (plan === null) return null;
  const [rawResults, rawProcesses, late, attempts] = await Promise.all([
    redis.hgetall(keys.results),
    redis.hgetall(keys.processes),
    redis.get(keys.late),
    redis.lrange(keys.attempts, 0, -1),
  ]);
  const results = Object.values(rawResults)
    .map((text) => parsePartitionResult(text, plan.partitions))
    .filter((r): r is PartitionResult => r !== null)
    .sort((a, b) => a.partition - b.partition);

  const client = connection.newClient({ maxRetriesPerRequest: null });
  const queue = new Queue(keys.queueName, { connection: client, prefix: keys.bullPrefix });
  let counts: Record<string, number>;
  try {
    counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'waiting-children', 'failed');
  } finally {
    await queue.close();
    await closeRedisClient(client);
  }

  const starts = new Map<number, string[]>();
  for (const line of attempts) {
    const [p, who] = line.split(' ');
    const partition = Number(p);
    if (!Number.isInteger(partition) || who === undefined) continue;
    starts.set(partition, [...(starts.get(partition) ?? []), who]);
  }
  const doneBy = new Map<string, number>();
  for (const r of results) doneBy.set(r.process, (doneBy.get(r.process) ?? 0) + 1);
  const processes = Object.values(rawProcesses)
    .map(parseProcessStatus)
    .filter((p): p is ProcessStatus => p !== null)
    .map((p) => ({ ...p, partitionsDone: doneBy.get(p.process) ?? 0, silentMs: Math.max(0, now - p.lastSeen) }))
    .sort((a, b) => a.startedAt - b.startedAt);

  const sum = (f: (r: PartitionResult) => number): number => results.reduce((a, r) => a + f(r), 0);
  const answered = sum((r) => r.answered);
  const queries = sum((r) => r.queries);
  return {
    name: keys.name,
    plan,
    partitions: {
      total: plan.partitions,
      done: results.length,
      active: counts['active'] ?? 0,
      waiting: (counts['waiting'] ?? 0) + (counts['delayed'] ?? 0) + (counts['prioritized'] ?? 0) + (counts['waiting-children'] ?? 0),
      failed: counts['failed'] ?? 0,
    },
    coverage: results.length / plan.partitions,
    known: sum((r) => r.known),
    answered,
    queries,
    infohashes: sum((r) => r.infohashes),
    packetsPerLiveNode: answered > 0 ? queries / answered : null,
    late: Number(late ?? 0) || 0,
    restarted: [...starts].filter(([, who]) => who.length > 1).map(([partition, who]) => ({ partition, processes: who })).sort((a, b) => a.partition - b.partition),
    processes,
    size: sizeOf(keys.name, results, random),
    results,
  };
}

/** The size estimate from the partitions' target samples (null until enough are in). */
function sizeOf(name: string, results: readonly PartitionResult[], random: RandomSource): SizeEstimate | null {
  const targets = surveyTargets(name);
  const samples: DistanceSample[] = [];
  for (const r of results) {
    for (const t of r.targets) {
      const target = targets[t.target];
      if (target === undefined || t.closest.length < SURVEY_K) continue;
      samples.push({ target, closest: t.closest.map((hex) => Buffer.from(hex, 'hex')) });
    }
  }
  if (samples.length < 2) return null;
  return estimateNetworkSize(samples, SURVEY_K, random);
}


/**
 * The finished survey as one entry of the index's survey series (indexer/survey-series.ts):
 * its size estimate, the partitions' censuses summed (RTT percentiles from each partition's
 * evenly picked sample, weighted by its answered nodes), and their Sybil regions. Its churn is
 * against `previous`, the shared survey recorded before it (workers/survey/survey-churn.ts);
 * null without one, or when either has no sketch of who answered.
 */
export function surveyEntryOf(status: SurveyStatus, at = Date.now(), previous: AnsweredSketch | null = null): SurveyEntry {
  const versionCounts = new VersionCounts();
  const c = { nodes: 0, answered: 0, withVersion: 0, bep42: 0, supported: 0, unsupported: 0, unknown: 0, rttSamples: 0 };
  const bep32 = { supported: 0, unsupported: 0 };
  const bep33 = { supported: 0, unsupported: 0 };
  const weighted: Array<[rtt: number, weight: number]> = [];
  const regions: SybilRegionSummary[] = [];
  let regionsFound = 0;
  for (const r of status.results) {
    regions.push(...(r.sybilRegions ?? []));
    regionsFound += r.sybilRegions?.length ?? 0;
    const p = r.census;
    if (p === undefined) continue;
    c.nodes += p.nodes;
    c.answered += p.answered;
    c.withVersion += p.withVersion;
    c.bep42 += p.bep42;
    c.supported += p.bep51.supported;
    c.unsupported += p.bep51.unsupported;
    c.unknown += p.bep51.unknown;
    bep32.supported += p.bep32?.supported ?? 0;
    bep32.unsupported += p.bep32?.unsupported ?? 0;
    bep33.supported += p.bep33?.supported ?? 0;
    bep33.unsupported += p.bep33?.unsupported ?? 0;
    c.rttSamples += p.rttSamples;
    for (const rtt of p.rttSample) weighted.push([rtt, p.rttSamples / p.rttSample.length]);
    for (const [hex, n] of Object.entries(p.versions)) versionCounts.add(hex, n);
  }
  const versions = versionCounts.sorted();
  weighted.sort((a, b) => a[0] - b[0]);
  const total = weighted.reduce((sum, [, w]) => sum + w, 0);
  const percentile = (p: number): number | null => {
    if (weighted.length === 0) return null;
    let seen = 0;
    for (const [rtt, w] of weighted) {
      seen += w;
      if (seen >= (p / 100) * total - 1e-9) return rtt;
    }
    return weighted.at(-1)![0];
  };
  const share = (part: number, whole: number): number => roundShare(whole > 0 ? part / whole : 0);
  const census: SurveyEntry['census'] = {
    nodes: c.nodes,
    answered: c.answered,
    responseRate: share(c.answered, c.nodes),
    withVersion: c.withVersion,
    ...summarizeVersions(versions, c.withVersion),
    bep51: { supported: c.supported, unsupported: c.unsupported, unknown: c.unknown, share: share(c.supported, c.supported + c.unsupported) },
    bep42Share: share(c.bep42, c.nodes),
    ...extensionShares(bep32, bep33),
    rtt: { samples: c.rttSamples, p50: percentile(50), p90: percentile(90) },
  };
  regions.sort((a, b) => a.log10PValue - b.log10PValue);
  return {
    at,
    source: { kind: 'survey', name: status.name },
    size: summarizeSize(status.size),
    census,
    churn: churnOf(status, previous),
    sybilRegions: regions.slice(0, MAX_SURVEY_SYBIL_REGIONS),
    sybilRegionsFound: regionsFound,
  };
}

function churnOf(status: SurveyStatus, previous: AnsweredSketch | null): SurveyChurn | null {
  if (previous === null) return null;
  const current = surveySketch(status.name, status.results, status.plan.partitions);
  return current === null ? null : surveyChurn(previous, current);
}
