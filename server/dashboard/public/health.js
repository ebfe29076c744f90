import { formatInt } from './format.js';
import { num } from './live-history.js';

/**
 * What is wrong, if anything, and what retention removed, from /api/stats's `live`: text that
 * follows the crawl summary (empty when all is well and nothing was pruned).
 */
export function healthText(live) {
  const parts = [];
  if (live?.producer?.redisUp === false) parts.push('Redis is unreachable: discoveries wait in memory and the spool on disk.');
  if (live?.crawl?.pausedForSink === true) parts.push('The crawl is paused until the spool has room again.');
  const pruned = num(live?.retention?.pruned);
  if (pruned !== null && pruned > 0) parts.push(`Retention pruned ${formatInt(pruned)} infohashes not seen for a long time.`);
  return parts.length === 0 ? '' : ` ${parts.join(' ')}`;
}
