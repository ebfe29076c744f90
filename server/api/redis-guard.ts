import { type RedisClient } from '../../redis/client.js';
import { ApiError } from './errors.js';

/**
 * Turns "Redis is not there" into a prompt 503 instead of a request that hangs while ioredis
 * retries (its default is 20 reconnect attempts per command) or a 500 with a socket error.
 */

/** Client states in which a command would only wait in the offline queue. */
const DISCONNECTED = new Set(['reconnecting', 'close', 'end']);

/** Reply errors and client errors that mean "unavailable now", not "this request is wrong". */
const UNAVAILABLE_MESSAGE = /^(?:LOADING|BUSY|CLUSTERDOWN|MASTERDOWN|TRYAGAIN)\b|Connection is closed|Stream isn't writeable|max retries|Failed to refresh slots cache/i;
const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTCONN']);

export function isRedisUnavailableError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err.name === 'MaxRetriesPerRequestError' || err.name === 'ClusterAllFailedError') return true;
  const code = (err as NodeJS.ErrnoException).code;
  return (code !== undefined && UNAVAILABLE_CODES.has(code)) || UNAVAILABLE_MESSAGE.test(err.message);
}

/** `promise`, or `onTimeout()` thrown after `ms`. A late rejection of `promise` is swallowed. */
export async function withDeadline<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  promise.catch(() => {});
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Runs `work` (Redis reads) with a deadline. Refuses at once while the client is
 * disconnected, and maps connection failures and the deadline to ERR_REDIS_UNAVAILABLE.
 */
export async function guardRedis<T>(redis: RedisClient, timeoutMs: number, work: () => Promise<T>): Promise<T> {
  if (DISCONNECTED.has(redis.status)) throw new ApiError('ERR_REDIS_UNAVAILABLE', `Redis is unavailable (connection ${redis.status}): try again shortly`);
  try {
    return await withDeadline(work(), timeoutMs, () => new ApiError('ERR_REDIS_UNAVAILABLE', `Redis did not answer within ${timeoutMs} ms: try again shortly`));
  } catch (err) {
    if (err instanceof ApiError || !isRedisUnavailableError(err)) throw err;
    throw new ApiError('ERR_REDIS_UNAVAILABLE', `Redis is unavailable (${(err as Error).message.split('\n')[0]!.slice(0, 200)}): try again shortly`);
  }
}
