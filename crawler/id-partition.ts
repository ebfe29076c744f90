import { randomId } from '../bep5/node-id.js';
import { type RandomSource } from '../bep5/random.js';

/** Partitions are prefixes of at most this many bits (65,536 partitions). */
export const MAX_PARTITION_BITS = 16;

/**
 * A share of the ID space: the node IDs whose first `bits` bits equal `index`. A shared survey
 * (workers/survey/) hands these out as units of work; the crawler of one visits only the nodes
 * inside it and passes the others on to their partitions.
 */
export class IdPartition {
  constructor(
    readonly bits: number,
    readonly index: number,
  ) {
    if (!Number.isInteger(bits) || bits < 0 || bits > MAX_PARTITION_BITS) throw new RangeError(`partition bits must be an integer 0..${MAX_PARTITION_BITS}, got ${bits}`);
    if (!Number.isInteger(index) || index < 0 || index >= 2 ** bits) throw new RangeError(`partition index must be an integer 0..${2 ** bits - 1}, got ${index}`);
  }

  /** The partition of `bits` bits that holds `id`. */
  static indexOf(id: Uint8Array, bits: number): number {
    if (bits === 0) return 0;
    return (((id[0]! << 24) | (id[1]! << 16) | (id[2]! << 8) | id[3]!) >>> 0) >>> (32 - bits);
  }

  contains(id: Uint8Array): boolean {
    return IdPartition.indexOf(id, this.bits) === this.index;
  }

  /** `id` with its first `bits` bits replaced by this partition's (in place; returned). */
  place(id: Buffer): Buffer {
    if (this.bits === 0) return id;
    const keep = this.bits === 32 ? 0 : 0xffff_ffff >>> this.bits;
    const head = ((this.index << (32 - this.bits)) | (id.readUInt32BE(0) & keep)) >>> 0;
    id.writeUInt32BE(head, 0);
    return id;
  }

  /** A uniformly random ID inside the partition. */
  randomId(random: RandomSource): Buffer {
    return this.place(randomId(random));
  }

  toString(): string {
    return `${this.index}/${2 ** this.bits}`;
  }
}
