import { randomBytes } from 'node:crypto';

/**
 * MurmurHash3's 32-bit finalizer: every input bit flips each output bit with probability near
 * 1/2. Shared by the simulator's per-node randomness (simnet/population.ts), the node-key hash
 * of churn sketches (churn-sketch.ts) and the crawler's keyed table hashes (below).
 */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * A secret 32-bit key for a hash table whose keys come off the wire (node addresses, infohash
 * fingerprints). Linear probing degrades to a scan when many keys share a home slot, and with an
 * unkeyed hash anyone can make them do so: the mixing steps are bijections, so a hostile node
 * computes thousands of addresses or samples with one home slot and every later lookup walks
 * them all (hash flooding). Keyed, the slot of a key depends on a number the sender never sees.
 */
export function tableKey(): number {
  return randomBytes(4).readUInt32LE(0);
}

/**
 * The keyed hash of two 32-bit halves: the key enters before the first half is mixed, so two
 * inputs collide only through a relation that involves the key. Not a MAC: it only has to keep
 * a sender from aiming at slots it cannot see.
 */
export function keyedHash2(a: number, b: number, key: number): number {
  return fmix32(fmix32(a ^ key) ^ b);
}

/** A hash of 32 bits scaled to a slot of a table of n (multiply-shift: any n works, so tables grow by half). */
export function slotOf(hash: number, n: number): number {
  return Math.floor((hash * n) / 4_294_967_296);
}
