import { type ExecutionContext } from 'ava';
import { Cluster } from 'ioredis';
import { type RedisClusterHandle, startRedisCluster } from '../../testkit/redis-cluster.js';

/**
 * A fresh 3-master cluster (testkit/redis-cluster.ts) and a Cluster client on it, with a
 * schema-5 index of its own; both go away when the test ends. Starting one takes a few seconds.
 */
export async function useRedisCluster(t: ExecutionContext): Promise<{ cluster: RedisClusterHandle; client: Cluster }> {
  t.timeout(120_000);
  const cluster = await startRedisCluster();
  t.teardown(() => cluster.stop());
  const client = new Cluster(cluster.masters().map((m) => ({ host: '127.0.0.1', port: m.port })));
  t.teardown(() => void client.disconnect());
  return { cluster, client };
}
