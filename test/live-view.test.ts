import test from 'ava';
import { randomBytes } from 'node:crypto';
import { seededRandom } from '../bep5/random.js';
import { estimateFromIds } from '../crawler/estimate.js';
import { liveSizeEstimate, prefixCoverage } from '../crawler/live-view.js';
import { NODE_FLAG, NodeIndex } from '../crawler/node-index.js';

/**
 * liveSizeEstimate reads the NodeIndex in place (sorted 32-bit prefixes); estimateFromIds is
 * the reference over Buffers. Both draw their targets, then the bootstrap, from the same
 * seeded source, so on the same answered IDs they must agree exactly.
 */
function indexOf(count: number, answeredShare: number, ids: Buffer): { index: NodeIndex; answered: Buffer[] } {
  const index = new NodeIndex();
  const answered: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const id = ids.subarray(i * 20, i * 20 + 20);
    const at = index.add(id, 0x0b000000 + i, 6881).index;
    if (i % 100 < answeredShare * 100) {
      index.setFlag(at, NODE_FLAG.ANSWERED);
      answered.push(id);
    }
  }
  return { index, answered };
}

test('liveSizeEstimate equals estimateFromIds over the answered nodes (same seed)', (t) => {
  for (const [count, share] of [[20, 1], [5_000, 0.5], [200_000, 0.6]] as const) {
    const { index, answered } = indexOf(count, share, randomBytes(20 * count));
    const live = liveSizeEstimate(index, seededRandom(7));
    const reference = estimateFromIds(answered, 128, 8, seededRandom(7), { replicates: 300 });
    t.deepEqual(live, reference, `${count} nodes`);
  }
});

test('liveSizeEstimate: IDs sharing 32-bit prefixes, repeated IDs at two addresses, too few answered nodes', (t) => {
  // IDs that agree in their first 4 bytes (a dense cluster) and the same ID at two addresses.
  const ids = randomBytes(20 * 3_000);
  for (let i = 0; i < 1_000; i++) ids.writeUInt32BE(0xabcd0000, i * 20);
  ids.copy(ids, 20 * 2_999, 0, 20);
  const { index, answered } = indexOf(3_000, 1, ids);
  t.deepEqual(liveSizeEstimate(index, seededRandom(3)), estimateFromIds(answered, 128, 8, seededRandom(3), { replicates: 300 }));
  t.is(liveSizeEstimate(indexOf(15, 1, randomBytes(300)).index), null);
});

test('prefixCoverage counts known and answered nodes per prefix', (t) => {
  const index = new NodeIndex();
  const id = (first: number): Buffer => Buffer.concat([Buffer.from([first]), Buffer.alloc(19)]);
  index.add(id(0x00), 1, 1);
  index.setFlag(index.add(id(0x80), 2, 1).index, NODE_FLAG.ANSWERED);
  index.add(id(0xff), 3, 1);
  const c = prefixCoverage(index, 1);
  t.deepEqual(c, { bits: 1, known: [1, 2], answered: [0, 1] });
});
