/**
 * MurmurHash3's 32-bit finalizer: every input bit flips each output bit with probability near
 * 1/2. Shared by the simulator's per-node randomness (simnet/population.ts) and the node-key
 * hash of churn sketches (churn-sketch.ts).
 */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
