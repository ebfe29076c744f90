import { type IndexKeys } from '../../indexer/keys.js';
import { type RedisClient } from '../../redis/client.js';
import { guardRedis } from './redis-guard.js';
import { type LiveStats, type ViewContext } from './views.js';

/** Supplies the `live` part of /api/stats: figures only the serving process knows. */
export type LiveStatsProvider = () => LiveStats | Promise<LiveStats>;

/** What the route handlers share: where the index is, the clock, and the limits. */
export interface ApiContext {
  readonly redis: RedisClient;
  readonly keys: IndexKeys;
  readonly now: () => number;
  readonly peerTtlMs: number | undefined;
  readonly redisTimeoutMs: number;
  readonly liveStats: LiveStatsProvider | null;
}

/** Runs a view (views.ts) at the current time, under the Redis deadline and availability check. */
export function readIndex<T>(ctx: ApiContext, view: (vc: ViewContext) => Promise<T>): Promise<T> {
  const vc: ViewContext = { redis: ctx.redis, keys: ctx.keys, now: ctx.now() };
  if (ctx.peerTtlMs !== undefined) vc.peerTtlMs = ctx.peerTtlMs;
  return guardRedis(ctx.redis, ctx.redisTimeoutMs, () => view(vc));
}
