/**
 * CPU of the batch plans alone (no Redis): schema 4's planBatch against schema 5's
 * planShardedBatch on bench:ingest's mix, batches of 500. What the workers spend in JS per batch.
 * `node --import ./scripts/ts-node-register.mjs bench/plan-cpu.ts [events]`
 */
import { randomBytes } from 'node:crypto';
import { type Discovery } from '../crawler/discovery.js';
import { newBatchId } from '../indexer/batch-id.js';
import { planBatch } from '../indexer/batch-plan.js';
import { IndexKeys } from '../indexer/keys.js';
import { planShardedBatch } from '../indexer/sharded-apply.js';
import { ShardedIndexKeys } from '../indexer/sharded-keys.js';

const EVENTS = Number(process.argv[2] ?? 200_000);
const BATCH = 500;
const address = (): string => `${10 + (randomBytes(1)[0]! % 200)}.${randomBytes(1)[0]}.${randomBytes(1)[0]}.${1 + (randomBytes(1)[0]! % 254)}:${1024 + (randomBytes(2).readUInt16BE(0) % 60_000)}`;
const pool = Array.from({ length: Math.floor(EVENTS / 3) }, () => randomBytes(20).toString('hex'));
const nodes = Array.from({ length: 2_000 }, () => ({ id: randomBytes(20).toString('hex'), address: address() }));
const at = Date.now();
const events = Array.from({ length: EVENTS }, (_, i): Discovery => {
  const r = Math.random();
  const node = nodes[i % nodes.length]!;
  const infohash = pool[Math.floor(Math.random() * pool.length)]!;
  if (r < 0.7) return { type: 'infohash', infohash, node: node.address, source: 'sample', at: at + i };
  if (r < 0.9) return { type: 'node', id: node.id, address: node.address, version: '4c540200', rttMs: 50, bep51: true, bep42: false, at: at + i };
  return { type: 'peers', infohash, peers: [address(), address()], node: node.address, at: at + i };
});
const batches: Discovery[][] = [];
for (let i = 0; i < events.length; i += BATCH) batches.push(events.slice(i, i + BATCH));
const v4 = new IndexKeys('plan4');
const v5 = new ShardedIndexKeys('plan5');
const time = (f: (b: Discovery[]) => unknown): number => {
  const t0 = performance.now();
  for (const b of batches) f(b);
  return performance.now() - t0;
};
for (let round = 0; round < 3; round++) {
  const s4 = time((b) => planBatch(b, { keys: v4, batchId: newBatchId(), now: at }));
  const s5 = time((b) => planShardedBatch(b, { keys: v5, batchId: newBatchId(), now: at }));
  console.log(`round ${round}: schema 4 plan ${s4.toFixed(0)} ms, schema 5 plan ${s5.toFixed(0)} ms for ${EVENTS.toLocaleString('en')} events (ratio ${(s5 / s4).toFixed(2)})`);
}
