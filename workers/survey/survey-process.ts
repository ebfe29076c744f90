import { hostname } from 'node:os';
import { Queue, Worker, type Job } from 'bullmq';
import { type PeerAddress } from '../../bep5/compact.js';
import { type DhtNode } from '../../bep5/node.js';
import { CrawlLearning, type Crawler } from '../../crawler/crawler.js';
import { type CrawlerOptions } from '../../crawler/crawler-types.js';
import { closeRedisClient } from '../../redis/client.js';
import { type RedisConnection } from '../../redis/connection.js';
import { type IndexKeys } from '../../indexer/keys.js';
import { recordSurvey } from '../../indexer/survey-series.js';
import { crawlPartition } from './partition-crawl.js';
import { previousSurveySketch } from './survey-churn.js';
import { readSurveyStatus, surveyEntryOf } from './survey-status.js';
import { joinPlan, surveyTargets, type SurveyPlan } from './survey-plan.js';
import { type SurveyKeys } from './survey-keys.js';
import { type PartitionResult, type ProcessStatus } from './survey-records.js';

/** Partitions a process crawls at once (each with its own Crawler on the process's node). */
export const SURVEY_DEFAULT_CONCURRENCY = 2;
/**
 * How long a partition's lock lasts without renewal: a process silent that long (killed, frozen)
 * loses its partitions to the others, through BullMQ's stalled-job check.
 */
export const SURVEY_DEFAULT_LOCK_MS = 30_000;
/** A partition whose crawl throws (Redis gone mid-way) is tried this many times in all. */
const SURVEY_ATTEMPTS = 3;
/** How often a process writes its status and checks whether the survey is finished. */
const SURVEY_HEARTBEAT_MS = 1_000;

export interface SurveyProcessOptions {
  connection: RedisConnection;
  keys: SurveyKeys;
  node: DhtNode;
  bootstrap: PeerAddress[];
  /** Partition bits for a new survey; joining an existing one checks it matches. */
  bits?: number;
  concurrency?: number;
  lockMs?: number;
  /** Rate, in-flight cap and the rest, for the whole process: shared by its partitions' crawls. */
  crawler: Omit<CrawlerOptions, 'node' | 'bootstrap' | 'partition' | 'onForeignContact'>;
  signal?: AbortSignal;
  /** The index whose survey series gets the finished survey (by whichever process completes the last partition). */
  indexKeys?: IndexKeys;
  log?: (line: string) => void;
  /** The crawls running now, for a progress display. */
  onCrawlers?: (crawlers: ReadonlySet<Crawler>) => void;
}

export interface SurveyProcessSummary {
  plan: SurveyPlan;
  process: string;
  /** Partitions this process completed. */
  partitions: PartitionResult[];
  /** True when no partition is left waiting or active (the survey is finished). */
  finished: boolean;
  /** Partitions that failed for good (their crawl threw SURVEY_ATTEMPTS times). */
  failed: number;
}

interface PartitionJob {
  partition: number;
}

/**
 * One process's part in a shared survey (`dhtscope crawl --survey NAME`): join the plan, make
 * sure every partition has its job (a job id per partition, so that N processes adding them
 * make one each), then take partitions from the queue and crawl them until none is waiting or
 * active. A process that dies mid-partition loses nothing: its lock lapses and another takes
 * the partition again, from the same inbox.
 */
export async function runSurveyProcess(o: SurveyProcessOptions): Promise<SurveyProcessSummary> {
  const redis = o.connection.client;
  const log = o.log ?? (() => undefined);
  const plan = await joinPlan(redis, o.keys, o.bits);
  const processId = `${hostname()}:${process.pid}:${(o.node.address(4) ?? o.node.address(6))?.port ?? 0}`;
  const concurrency = o.concurrency ?? SURVEY_DEFAULT_CONCURRENCY;
  const lockMs = o.lockMs ?? SURVEY_DEFAULT_LOCK_MS;
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError(`concurrency must be a positive integer, got ${concurrency}`);
  if (!(lockMs >= 1000)) throw new RangeError(`the partition lock must be at least 1 s, got ${lockMs} ms`);
  const targets = surveyTargets(o.keys.name);
  // BullMQ wants connections of its own with maxRetriesPerRequest: null (toolchain notes).
  const queueClient = o.connection.newClient({ maxRetriesPerRequest: null });
  const workerClient = o.connection.newClient({ maxRetriesPerRequest: null });
  const queue = new Queue<PartitionJob>(o.keys.queueName, { connection: queueClient, prefix: o.keys.bullPrefix });
  queue.on('error', (err: Error) => log(`survey queue: ${err.message}`));
  await queue.addBulk(
    Array.from({ length: plan.partitions }, (_, partition) => ({
      name: 'partition',
      data: { partition },
      opts: { jobId: `p${partition}`, attempts: SURVEY_ATTEMPTS, backoff: { type: 'fixed', delay: 1000 }, removeOnComplete: false, removeOnFail: false },
    })),
  );

  // The process's rate is shared: each running crawl gets its share.
  // One lesson for all of the process's partitions (first contacts, client versions, RTTs).
  const crawlerOptions = { ...o.crawler, learning: o.crawler.learning ?? new CrawlLearning() };
  if (crawlerOptions.rate !== undefined) crawlerOptions.rate = crawlerOptions.rate / concurrency;
  if (crawlerOptions.maxInflight !== undefined) crawlerOptions.maxInflight = Math.max(1, Math.floor(crawlerOptions.maxInflight / concurrency));
  const crawlers = new Set<Crawler>();
  const active = new Set<number>();
  const completed: PartitionResult[] = [];
  const stop = new AbortController();
  const signal = o.signal === undefined ? stop.signal : AbortSignal.any([o.signal, stop.signal]);
  const startedAt = Date.now();
  let queriesBefore = 0;

  const processor = async (job: Job<PartitionJob>): Promise<{ answered: number }> => {
    const partition = job.data?.partition;
    if (!Number.isInteger(partition) || partition < 0 || partition >= plan.partitions) throw new Error(`bad partition job ${job.id}: ${JSON.stringify(job.data)}`);
    active.add(partition);
    await redis.rpush(o.keys.attempts, `${partition} ${processId}`);
    let crawler: Crawler | undefined;
    try {
      const result = await crawlPartition({
        node: o.node,
        redis,
        keys: o.keys,
        bits: plan.bits,
        partition,
        process: processId,
        bootstrap: o.bootstrap,
        targets,
        crawler: crawlerOptions,
        signal,
        onCrawler: (c) => {
          crawler = c;
          crawlers.add(c);
          o.onCrawlers?.(crawlers);
        },
      });
      if (signal.aborted) throw new Error('stopped before the partition was done');
      await redis.multi().hset(o.keys.results, String(partition), JSON.stringify(result)).hincrby(o.keys.completions, String(partition), 1).sadd(o.keys.done, String(partition)).exec();
      completed.push(result);
      if (o.indexKeys !== undefined) await recordIfFinished(o.indexKeys, plan.partitions);
      log(`partition ${partition}/${plan.partitions} done: ${result.answered} of ${result.known} nodes answered, ${result.queries} queries in ${(result.ms / 1000).toFixed(1)} s`);
      return { answered: result.answered };
    } finally {
      active.delete(partition);
      if (crawler !== undefined) {
        queriesBefore += crawler.progress().queriesSent;
        crawlers.delete(crawler);
        o.onCrawlers?.(crawlers);
      }
    }
  };

  /** After the last partition: one process (SET NX) records the survey in the index's series. */
  const recordIfFinished = async (indexKeys: IndexKeys, partitions: number): Promise<void> => {
    if ((await redis.scard(o.keys.done)) < partitions) return;
    if ((await redis.set(o.keys.recorded, processId, 'NX')) !== 'OK') return;
    try {
      const status = await readSurveyStatus(o.connection, o.keys);
      if (status === null) return;
      const at = Date.now();
      const previous = await previousSurveySketch(redis, indexKeys, o.keys, at);
      const entry = surveyEntryOf(status, at, previous);
      await recordSurvey(redis, indexKeys, entry);
      const churn = entry.churn === null ? 'no churn: no earlier shared survey in Redis to compare with' : `churn since ${entry.churn.since}: ${entry.churn.left} left, ${entry.churn.joined} joined`;
      log(`survey ${o.keys.name} finished: recorded in the survey series of ${indexKeys.prefix} (size ${entry.size === null ? 'n/a' : Math.round(entry.size.estimate)}; ${churn})`);
    } catch (err) {
      log(`survey ${o.keys.name} finished, but could not be recorded in the survey series: ${err instanceof Error ? err.message : String(err)}`);
    }
  };

  const worker = new Worker<PartitionJob>(o.keys.queueName, processor, {
    connection: workerClient,
    prefix: o.keys.bullPrefix,
    name: processId,
    concurrency,
    lockDuration: lockMs,
    stalledInterval: lockMs,
    maxStalledCount: SURVEY_ATTEMPTS,
  });
  worker.on('error', (err: Error) => log(`survey worker: ${err.message}`));
  worker.on('failed', (job, err) => log(`partition ${job?.data?.partition ?? '?'} failed (attempt ${job?.attemptsMade ?? '?'}): ${err.message}`));

  const status = (): ProcessStatus => {
    let queries = queriesBefore;
    let answered = completed.reduce((a, r) => a + r.answered, 0);
    for (const c of crawlers) {
      const p = c.progress();
      queries += p.queriesSent;
      answered += p.answered;
    }
    const seconds = (Date.now() - startedAt) / 1000;
    return { process: processId, host: hostname(), pid: process.pid, startedAt, lastSeen: Date.now(), partitionsDone: completed.length, active: [...active], queries, answered, rps: seconds > 0 ? queries / seconds : 0 };
  };

  let finished = false;
  let failed = 0;
  try {
    while (!signal.aborted) {
      await new Promise((resolve) => setTimeout(resolve, SURVEY_HEARTBEAT_MS).unref());
      await redis.hset(o.keys.processes, processId, JSON.stringify(status()));
      const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'waiting-children', 'failed');
      const left = (counts['waiting'] ?? 0) + (counts['active'] ?? 0) + (counts['delayed'] ?? 0) + (counts['prioritized'] ?? 0) + (counts['waiting-children'] ?? 0);
      failed = counts['failed'] ?? 0;
      if (left === 0 && active.size === 0) {
        finished = true;
        break;
      }
    }
  } finally {
    stop.abort();
    await worker.close();
    await queue.close();
    await redis.hset(o.keys.processes, processId, JSON.stringify(status())).catch(() => undefined);
    await Promise.all([queueClient, workerClient].map((c) => closeRedisClient(c)));
  }
  return { plan, process: processId, partitions: completed, finished, failed };
}
