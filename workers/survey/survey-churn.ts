import { CHURN_SKETCH_K, decodeSketch, estimateChurn, type Sketch, storedSketch, unionOfDisjoint } from '../../crawler/churn-sketch.js';
import { roundShare } from '../../crawler/survey-summary.js';
import { type IndexKeys } from '../../indexer/keys.js';
import { MAX_SURVEY_READ, readSurveys, type SurveyChurn } from '../../indexer/survey-series.js';
import { type RedisClient } from '../../redis/client.js';
import { readPlan } from './survey-plan.js';
import { SurveyKeys } from './survey-keys.js';
import { parsePartitionResult, type PartitionResult } from './survey-records.js';

/**
 * A shared survey's churn (issue 15, item 4): who left and who joined since the shared survey
 * recorded before it in the same index. No process saw either survey whole, so each partition
 * leaves a bottom-k sketch of the node keys that answered in it (crawler/churn-sketch.ts) and
 * the two surveys' sketches are compared here, when the later one is recorded.
 *
 * "Before it" is the newest shared-survey entry of the series that is older than this one and
 * of another name, among the last MAX_SURVEY_READ entries. Its sketch is read from its own
 * partition results, so churn is measured only while that survey is kept in Redis (`survey
 * NAME --delete` removes it): an older one is not taken instead, as its churn would cover a
 * longer time under the same label.
 */

/** What churn needs of a survey: who answered, as a sketch, and how many. */
export interface AnsweredSketch {
  name: string;
  sketch: Sketch;
  answered: number;
}

/** The survey's sketch from its partition results; null unless every partition left one. */
export function surveySketch(name: string, results: readonly PartitionResult[], partitions: number): AnsweredSketch | null {
  const byPartition = new Map(results.map((r) => [r.partition, r]));
  if (byPartition.size !== partitions) return null;
  const sketches: Sketch[] = [];
  let answered = 0;
  for (const r of byPartition.values()) {
    const hashes = decodeSketch(r.answeredSketch, CHURN_SKETCH_K);
    if (hashes === null) return null;
    sketches.push(storedSketch(hashes, CHURN_SKETCH_K));
    answered += r.answered;
  }
  return { name, sketch: unionOfDisjoint(sketches), answered };
}

/** A finished survey's sketch as Redis holds it; null when it is gone, unfinished or has no sketches. */
export async function readSurveySketch(redis: RedisClient, keys: SurveyKeys): Promise<AnsweredSketch | null> {
  const plan = await readPlan(redis, keys);
  if (plan === null) return null;
  const results = Object.values(await redis.hgetall(keys.results))
    .map((text) => parsePartitionResult(text, plan.partitions))
    .filter((r): r is PartitionResult => r !== null);
  return surveySketch(keys.name, results, plan.partitions);
}

/** The sketch of the shared survey recorded before `at` in the index's series (see the module comment). */
export async function previousSurveySketch(redis: RedisClient, indexKeys: IndexKeys, current: SurveyKeys, at: number): Promise<AnsweredSketch | null> {
  const { entries } = await readSurveys(redis, indexKeys, { limit: MAX_SURVEY_READ, to: at });
  const previous = entries.find((e) => e.source.kind === 'survey' && e.source.name !== current.name);
  if (previous === undefined || previous.source.kind !== 'survey') return null;
  return readSurveySketch(redis, new SurveyKeys(current.indexPrefix, previous.source.name));
}

/** The churn of `current` against `previous`, as the survey series keeps it. */
export function surveyChurn(previous: AnsweredSketch, current: AnsweredSketch): SurveyChurn {
  const c = estimateChurn(previous, current);
  const share = (part: number, whole: number): number => roundShare(whole > 0 ? part / whole : 0);
  return {
    before: c.before,
    after: c.after,
    left: c.left,
    joined: c.joined,
    leftShare: share(c.left, c.before),
    joinedShare: share(c.joined, c.after),
    since: previous.name,
    sample: c.sample,
  };
}
