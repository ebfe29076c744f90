/**
 * CPU of the batch plans alone (no Redis): schema 4's planBatch against schema 5's
 * planShardedBatch on bench:ingest's mix, batches of 500. What the workers spend in JS per batch.
 * `node --import ./scripts/ts-node-register.mjs bench/plan-cpu.ts [events]`
 */
import { type Discovery } from '../crawler/discovery.js';
import { newBatchId } from '../indexer/batch-id.js';
import { planBatch } from '../indexer/batch-plan.js';
import { IndexKeys } from '../indexer/keys.js';
import { planShardedBatch } from '../indexer/sharded-apply.js';
import { ShardedIndexKeys } from '../indexer/sharded-keys.js';
import { ingestMix } from './ingest-mix.js';

const EVENTS = Number(process.argv[2] ?? 200_000);
const BATCH = 500;
const events = ingestMix(EVENTS);
const at = Date.now();
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
