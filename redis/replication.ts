import { Cluster, type Redis } from 'ioredis';
import { type RedisClient } from './client.js';

/**
 * Waiting for a master's replica before a job counts as done (issue 14: a failover must keep
 * batches exactly once). A Redis Cluster master acknowledges a script before its replica has it;
 * if the master is killed in between and the replica is promoted, the write is gone while the
 * job that made it is completed, and nothing would redeliver it. WAIT after the write closes
 * that window: a job completes only once a replica holds what it wrote, and a job whose WAIT
 * fails is retried (its applied markers make the retry exact, as after any crash).
 *
 * WAIT covers the writes made on the connection it is sent on, which is the Cluster client's own
 * connection to that master (nodes('master') returns those connections).
 */

/** How long a master may take to hear back from a replica (default of awaitReplicas). */
export const REPLICA_WAIT_MS = 2_000;

export type ReplicationErrorCode = 'ERR_REPLICA_TIMEOUT';

/** A write is not known to be on a replica (none confirmed in time, or its slot moved): the job should be retried. */
export class ReplicaTimeoutError extends Error {
  override readonly name = 'ReplicaTimeoutError';
  readonly code: ReplicationErrorCode = 'ERR_REPLICA_TIMEOUT';
  constructor(
    readonly node: string,
    readonly timeoutMs: number,
    reason?: string,
  ) {
    super(reason ?? `no replica of ${node} confirmed the write within ${timeoutMs} ms`);
  }
}

export interface ReplicaWaitResult {
  /** Masters that a replica confirmed. */
  confirmed: number;
  /** Masters with no replica connected: nothing to wait for (the write is on the master only). */
  unreplicated: number;
}

/** Which master serves each slot, as the client sees it now (null on one Redis). */
export function slotMasters(redis: RedisClient, slots: Iterable<number>): ReadonlyMap<number, string> | null {
  if (!(redis instanceof Cluster)) return null;
  const out = new Map<number, string>();
  for (const slot of slots) {
    const name = redis.slots[slot]?.[0];
    if (name !== undefined) out.set(slot, name);
  }
  return out;
}

/**
 * Waits until one replica of each master in `writtenOn` (slotMasters() taken before the write,
 * narrowed to the slots written) has this client's writes. On one Redis (null) it returns at
 * once: there is no replica there to fail over to. A slot that moved to another master since
 * then (a failover, a resharding) is an error too: the write may be on a master that is gone,
 * and a retry is exact.
 */
export async function awaitReplicas(redis: RedisClient, writtenOn: ReadonlyMap<number, string> | null, timeoutMs: number = REPLICA_WAIT_MS): Promise<ReplicaWaitResult> {
  const result: ReplicaWaitResult = { confirmed: 0, unreplicated: 0 };
  if (!(redis instanceof Cluster) || writtenOn === null) return result;
  const byName = new Map(redis.nodes('master').map((n) => [`${n.options.host}:${n.options.port}`, n]));
  const masters = new Map<string, Redis>();
  for (const [slot, name] of writtenOn) {
    const node = byName.get(name);
    if (redis.slots[slot]?.[0] !== name || node === undefined) throw new ReplicaTimeoutError(name, timeoutMs, `slot ${slot} is no longer served by ${name}`);
    masters.set(name, node);
  }
  await Promise.all(
    [...masters].map(async ([name, node]) => {
      if (Number(await node.call('WAIT', 1, timeoutMs)) >= 1) {
        result.confirmed++;
        return;
      }
      // No confirmation: a master whose replicas are all gone has nobody to wait for; one with
      // a replica that is slow or stopped must not count the write as safe.
      const info = await node.info('replication');
      const connected = Number(/^connected_slaves:(\d+)/m.exec(info)?.[1] ?? 0);
      if (connected > 0) throw new ReplicaTimeoutError(name, timeoutMs);
      result.unreplicated++;
    }),
  );
  return result;
}
