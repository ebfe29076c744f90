import { randomBytes } from 'node:crypto';
import { type Discovery } from '../../crawler/discovery.js';
import { applyBatch } from '../../indexer/apply-batch.js';
import { newBatchId } from '../../indexer/batch-id.js';
import { type IndexKeys, SCHEMA_4_VERSION } from '../../indexer/keys.js';
import { MigrationRunner } from '../../migrations/runner.js';
import { type RedisClient } from '../../redis/client.js';

/** Schema-4 data for migration 005's tests (test/schema4-mover.test.ts, test/indexed-reads.test.ts). */

export const node = (n: number): string => `198.51.100.${n % 250}:${6881 + n}`;

export interface Expected {
  first: number;
  last: number;
  seen: number;
  peers: Map<string, number>;
}

/** Schema-4 data written now by the schema-4 writer; what each infohash holds. */
export async function writeLegacy(c: RedisClient, legacy: IndexKeys, count: number, now: number): Promise<Map<string, Expected>> {
  const truth = new Map<string, Expected>();
  const events: Discovery[] = [];
  for (let i = 0; i < count; i++) {
    const hex = randomBytes(20).toString('hex');
    const e: Expected = { first: Infinity, last: 0, seen: 0, peers: new Map() };
    for (let s = 0; s <= i % 3; s++) {
      const at = now - 3_600_000 + i * 100 + s * 10_000;
      events.push({ type: 'infohash', infohash: hex, node: node(i + s), source: 'sample', at });
      e.first = Math.min(e.first, at);
      e.last = Math.max(e.last, at);
      e.seen++;
    }
    if (i % 2 === 0) {
      const at = now - 2 * 3_600_000 - i * 1000;
      const peers = [`203.0.113.${i % 250}:${1000 + (i % 40)}`, `[2001:db8::${(i + 1).toString(16)}]:6881`];
      events.push({ type: 'peers', infohash: hex, peers, node: node(i), at });
      for (const p of peers) e.peers.set(p, Math.floor(at / 1000) * 1000);
      e.first = Math.min(e.first, at);
    }
    truth.set(hex, e);
  }
  await new MigrationRunner(c, legacy).migrate({ to: SCHEMA_4_VERSION });
  await applyBatch(c, events, { keys: legacy, batchId: newBatchId(), now });
  return truth;
}

export async function lockFor(c: RedisClient, legacy: IndexKeys): Promise<{ key: string; token: string }> {
  const lock = { key: legacy.schemaLock, token: randomBytes(8).toString('hex') };
  await c.set(lock.key, lock.token);
  return lock;
}

