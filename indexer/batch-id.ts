import { randomBytes } from 'node:crypto';

/**
 * A new batch id: 40 lowercase hex digits (it names the batch's applied marker, `keys.applied`).
 * Random, not derived from the events: two batches that happen to hold equal events are two
 * batches and both are counted. Fix it once, when the batch is sealed, and keep it with the
 * batch, so that every redelivery of that batch carries the same id and is applied once.
 */
export function newBatchId(): string {
  return randomBytes(20).toString('hex');
}
