import { type DhtNode } from '../bep5/node.js';
import { type RandomSource, cryptoRandom } from '../bep5/random.js';
import { type DistanceSample } from './estimate.js';

/**
 * Distance samples for the size estimator from real lookups: for each random target, the
 * IDs of the k closest nodes that answered. Unlike a crawl's node set, this does not depend
 * on how much of the network a crawl has seen, only on lookups converging.
 */
export async function lookupSamples(
  node: DhtNode,
  options: { targets: number; k?: number; concurrency?: number; random?: RandomSource; signal?: AbortSignal },
): Promise<DistanceSample[]> {
  const random = options.random ?? cryptoRandom;
  const k = options.k ?? 8;
  const targets = Array.from({ length: options.targets }, () => random.bytes(20));
  const samples: DistanceSample[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < targets.length && !options.signal?.aborted) {
      const target = targets[next++]!;
      let closest: Buffer[] = [];
      for await (const event of node.lookup(target, { signal: options.signal })) {
        if (event.type === 'done') closest = event.result.closest.map((c) => c.node.id).slice(0, k);
      }
      if (closest.length === k) samples.push({ target, closest });
    }
  };
  await Promise.all(Array.from({ length: options.concurrency ?? 8 }, worker));
  return samples;
}
