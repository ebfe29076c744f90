import { commonPrefixBits, compareDistance } from '../../bep5/node-id.js';
import { randomInt, type RandomSource } from '../../bep5/random.js';

/**
 * IDs sorted as 160-bit numbers, so that every set of IDs sharing a prefix is a contiguous
 * range. That answers "the K closest by XOR" exactly without scanning everything: the K
 * closest to a target all share the longest prefix that still has K members.
 */
export class SortedIds {
  /** Indexes into the caller's array, ordered by ID. */
  readonly order: number[];

  constructor(private readonly ids: readonly Buffer[]) {
    this.order = ids.map((_, i) => i).sort((a, b) => Buffer.compare(ids[a]!, ids[b]!));
  }

  /** First position in `order` whose ID is >= target. */
  private lowerBound(target: Uint8Array): number {
    let lo = 0;
    let hi = this.order.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (Buffer.compare(this.ids[this.order[mid]!]!, target) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** [start, end) of the positions whose IDs share at least `bits` leading bits with `target`. */
  prefixRange(target: Uint8Array, bits: number): [number, number] {
    const at = this.lowerBound(target);
    let start = at;
    let end = at;
    // Galloping would be faster; ranges are small for the bit counts we ask about.
    while (start > 0 && commonPrefixBits(this.ids[this.order[start - 1]!]!, target) >= bits) start--;
    while (end < this.order.length && commonPrefixBits(this.ids[this.order[end]!]!, target) >= bits) end++;
    return [start, end];
  }

  /** Indexes of the k IDs closest to target by XOR, closest first, among those passing `keep`. */
  closest(target: Uint8Array, k: number, keep: (index: number) => boolean = () => true): number[] {
    let bits = 160;
    let range: [number, number] = [0, 0];
    // Widen the shared prefix until the range holds k kept IDs (or everything).
    for (; bits >= 0; bits--) {
      range = this.prefixRange(target, bits);
      let kept = 0;
      for (let p = range[0]; p < range[1] && kept < k; p++) if (keep(this.order[p]!)) kept++;
      if (kept >= k || (range[0] === 0 && range[1] === this.order.length)) break;
    }
    const candidates: number[] = [];
    for (let p = range[0]; p < range[1]; p++) if (keep(this.order[p]!)) candidates.push(this.order[p]!);
    candidates.sort((a, b) => compareDistance(target, this.ids[a]!, this.ids[b]!));
    return candidates.slice(0, k);
  }

  /**
   * Indexes of the IDs sharing exactly `bits` leading bits with `id` (bit `bits` differs):
   * the members of `id`'s routing-table bucket number `bits`.
   */
  bucketMembers(id: Uint8Array, bits: number): number[] {
    const flipped = Buffer.from(id);
    flipped[bits >>> 3] = flipped[bits >>> 3]! ^ (0x80 >>> (bits & 7));
    const [start, end] = this.prefixRange(flipped, bits + 1);
    return this.order.slice(start, end);
  }
}

/**
 * What a node's table holds after a long life in a Kademlia network: for each bucket (each
 * shared-prefix length with `id`), up to `k` random members of that bucket's range, dead ones
 * included, as in real tables. Indexes into the SortedIds' array.
 */
export function kademliaContacts(sorted: SortedIds, id: Uint8Array, k: number, random: RandomSource): number[] {
  const out: number[] = [];
  for (let bits = 0; bits < 160; bits++) {
    const [start, end] = sorted.prefixRange(id, bits);
    if (end - start <= 1) break; // only this node shares the prefix: deeper buckets are empty
    const members = sorted.bucketMembers(id, bits);
    for (let n = 0; n < k && members.length > 0; n++) out.push(members.splice(randomInt(random, members.length), 1)[0]!);
  }
  return out;
}
