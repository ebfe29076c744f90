import { Queue } from 'bullmq';
import { type RedisConnection } from '../../redis/connection.js';
import { closeRedisClient } from '../../redis/client.js';
import { SurveyBusyError } from '../errors.js';
import { type SurveyKeys } from './survey-keys.js';
import { readPlan } from './survey-plan.js';
import { parseProcessStatus } from './survey-records.js';

/** A process that reported within this long is taken to be at work (they report every second). */
export const SURVEY_PROCESS_ALIVE_MS = 10_000;

/**
 * Removes a shared survey's keys: its plan, results, process statuses, inboxes and the rest
 * (workers/survey/survey-keys.ts), and its BullMQ queue. What the survey recorded in the index's
 * survey series stays: that is the measurement, and it no longer needs the survey.
 *
 * Every survey key is named from the plan (the inboxes from its partition count), so nothing
 * is scanned for: on a Redis Cluster they share one slot, and one DEL per chunk removes them.
 * While a process is at work (an active partition, or a status younger than
 * SURVEY_PROCESS_ALIVE_MS) it refuses with SurveyBusyError unless `force`.
 *
 * Returns the number of survey keys removed, or null when there is no survey of that name.
 */
export async function deleteSurvey(connection: RedisConnection, keys: SurveyKeys, options: { force?: boolean; now?: number } = {}): Promise<number | null> {
  const redis = connection.client;
  const plan = await readPlan(redis, keys);
  if (plan === null) return null;
  const client = connection.newClient({ maxRetriesPerRequest: null });
  const queue = new Queue(keys.queueName, { connection: client, prefix: keys.bullPrefix });
  try {
    if (options.force !== true) {
      const now = options.now ?? Date.now();
      const { active = 0 } = await queue.getJobCounts('active');
      if (active > 0) throw new SurveyBusyError(keys.name, `${active} partition${active === 1 ? '' : 's'} active`);
      const working = Object.values(await redis.hgetall(keys.processes))
        .map((text) => parseProcessStatus(text))
        .filter((p) => p !== null && now - p.lastSeen < SURVEY_PROCESS_ALIVE_MS);
      if (working.length > 0) throw new SurveyBusyError(keys.name, `process ${working[0]!.process} reported ${Math.max(0, now - working[0]!.lastSeen)} ms ago`);
    }
    await queue.obliterate({ force: true });
  } finally {
    await queue.close();
    await closeRedisClient(client);
  }
  // The plan goes last: a delete cut short is finished by running it again.
  const names = [keys.results, keys.completions, keys.done, keys.attempts, keys.processes, keys.late, keys.recorded];
  for (let p = 0; p < plan.partitions; p++) names.push(keys.inbox(p));
  names.push(keys.meta);
  let removed = 0;
  for (let i = 0; i < names.length; i += 1_000) removed += await redis.del(...names.slice(i, i + 1_000));
  return removed;
}
