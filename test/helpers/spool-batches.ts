import { createHash } from 'node:crypto';
import { type Discovery } from '../../crawler/discovery.js';
import { type DiscoveryBatchJob } from '../../workers/queues.js';

/** A valid sample event whose `num` carries `n`: order and identity survive any round trip. */
export function numberedEvent(n: number): Discovery {
  return { type: 'sample', node: '192.0.2.1:6881', num: n, interval: 60, samples: 1, at: 1_700_000_000_000 + n };
}

/** Batch `n`: id derived from n (40 hex), `size` numbered events starting at n * size. */
export function spoolTestBatch(n: number, size = 1): DiscoveryBatchJob {
  const id = createHash('sha1').update(`batch ${n}`).digest('hex');
  return { id, events: Array.from({ length: size }, (_, i) => numberedEvent(n * size + i)) };
}
