import { type Cluster, type Redis } from 'ioredis';

/** Standalone or cluster: everything in indexer/ and migrations/ takes either. */
export type RedisClient = Redis | Cluster;

/** How long a QUIT may take before the connection is simply dropped. */
export const REDIS_QUIT_GRACE_MS = 2_000;

/**
 * Closes an ioredis client without ever waiting on a dead server: QUIT when connected, so
 * replies still pending arrive first, then the connection's end, each bounded by `graceMs`;
 * a plain disconnect when not connected, or once that time is up. ioredis holds a QUIT in its
 * offline queue for good while Redis is down, and a client between reconnect attempts may
 * never emit 'end', so nothing here waits unbounded.
 */
export async function closeRedisClient(client: RedisClient, graceMs = REDIS_QUIT_GRACE_MS): Promise<void> {
  if (client.status === 'end') return;
  if (client.status !== 'ready') {
    client.disconnect();
    return;
  }
  const ended = new Promise<void>((resolve) => client.once('end', () => resolve()));
  const giveUp = new Promise<void>((resolve) => setTimeout(resolve, graceMs).unref());
  client.quit().catch(() => client.disconnect());
  await Promise.race([ended, giveUp]);
  client.disconnect(); // a no-op once QUIT has ended it
}
