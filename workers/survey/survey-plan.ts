import { createHash } from 'node:crypto';
import { randomId } from '../../bep5/node-id.js';
import { seededRandom } from '../../bep5/random.js';
import { type RedisClient } from '../../redis/client.js';
import { MAX_PARTITION_BITS } from '../../crawler/id-partition.js';
import { type SurveyKeys } from './survey-keys.js';

/**
 * How a shared survey is cut up, fixed by the first process that joins it.
 *
 * - Partitions: 2^bits prefixes of the ID space (default 64). More than a few per process, so
 *   work spreads evenly and a killed process loses little; few enough that each holds
 *   thousands of nodes on the real DHT (a partition's crawl has a fixed cost: finding its way
 *   in, and its last timeouts).
 * - Targets: SURVEY_TARGETS random IDs drawn from the survey's name, the same in every process.
 *   The partition holding a target reports the K answered IDs closest to it; the status joins
 *   them into a size estimate (crawler/estimate.ts) without any process seeing every node.
 */
export const SURVEY_DEFAULT_PARTITION_BITS = 6;
export const SURVEY_TARGETS = 256;
export const SURVEY_K = 8;

export interface SurveyPlan {
  bits: number;
  partitions: number;
  createdAt: number;
}

export class SurveyPlanMismatchError extends Error {
  readonly code = 'ERR_SURVEY_PLAN_MISMATCH';
  override readonly name = 'SurveyPlanMismatchError';
}

/** Creates the survey's plan, or reads the one another process created (which wins). */
export async function joinPlan(redis: RedisClient, keys: SurveyKeys, bits: number | undefined, now = Date.now()): Promise<SurveyPlan> {
  const wanted = bits ?? SURVEY_DEFAULT_PARTITION_BITS;
  if (!Number.isInteger(wanted) || wanted < 0 || wanted > MAX_PARTITION_BITS) throw new RangeError(`partition bits must be 0..${MAX_PARTITION_BITS}, got ${wanted}`);
  await redis.hsetnx(keys.meta, 'bits', String(wanted));
  await redis.hsetnx(keys.meta, 'createdAt', String(now));
  const plan = await readPlan(redis, keys);
  if (plan === null) throw new SurveyPlanMismatchError(`survey ${keys.name}: its plan in Redis is unreadable`);
  if (bits !== undefined && plan.bits !== bits) {
    throw new SurveyPlanMismatchError(`survey ${keys.name} has ${plan.partitions} partitions, not ${2 ** bits}: join it without --partitions, or use another name`);
  }
  return plan;
}

/** The survey's plan, or null when there is none (or it is not readable). */
export async function readPlan(redis: RedisClient, keys: SurveyKeys): Promise<SurveyPlan | null> {
  const meta = await redis.hgetall(keys.meta);
  const bits = Number(meta['bits']);
  const createdAt = Number(meta['createdAt']);
  if (!Number.isInteger(bits) || bits < 0 || bits > MAX_PARTITION_BITS || !Number.isSafeInteger(createdAt)) return null;
  return { bits, partitions: 2 ** bits, createdAt };
}

/** The survey's fixed targets, drawn from its name. */
export function surveyTargets(name: string): Buffer[] {
  const seed = createHash('sha256').update(`dhtscope survey ${name}`).digest().readUInt32BE(0);
  const random = seededRandom(seed);
  return Array.from({ length: SURVEY_TARGETS }, () => randomId(random));
}
