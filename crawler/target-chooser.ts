import { randomIdInRange } from '../bep5/node-id.js';
import { type RandomSource, randomInt } from '../bep5/random.js';
import { CRAWL_NEIGHBOURHOOD_SHARE } from './constants.js';
import { type IdPartition } from './id-partition.js';
import { type NodeIndex } from './node-index.js';

/**
 * The target of each visit. A node's table knows its own neighbourhood best, so most visits
 * ask for that (the reply is the node's nearest neighbours); the rest ask for a random ID in
 * the thinnest of two random prefixes, which carries discovery across regions that
 * neighbourhood queries alone never connect. `random` strategy: uniform targets (a baseline
 * for benchmarks).
 */
export class TargetChooser {
  /** Known nodes per prefix of `depth` bits: where the map of the ID space is still thin. */
  private depth = 4;
  private prefixCounts = new Uint32Array(1 << 4);

  constructor(
    private readonly nodes: NodeIndex,
    private readonly rng: RandomSource,
    private readonly strategy: 'coverage' | 'random',
    /** A crawl of one partition asks only for targets inside it: its nodes are the ones it visits. */
    private readonly partition?: IdPartition,
  ) {}

  /** A uniformly random ID (inside the partition, if the crawl has one). */
  random(): Buffer {
    const id = this.rng.bytes(20);
    return this.partition === undefined ? id : this.partition.place(id);
  }

  /** The target for a visit to the node at `index`. */
  forVisit(index: number): Buffer {
    if (this.strategy === 'random') return this.random();
    const id = this.nodes.id(index);
    if (randomInt(this.rng, 1000) < CRAWL_NEIGHBOURHOOD_SHARE * 1000) {
      const near = randomIdInRange(id, Math.min(159, this.depth + 4), this.rng);
      return this.partition === undefined ? near : this.partition.place(near);
    }
    const a = randomInt(this.rng, this.prefixCounts.length);
    const b = randomInt(this.rng, this.prefixCounts.length);
    const thin = this.prefixCounts[a]! <= this.prefixCounts[b]! ? a : b;
    const prefix = Buffer.alloc(20);
    prefix.writeUInt32BE((thin << (32 - this.depth)) >>> 0, 0);
    const target = randomIdInRange(prefix, this.depth, this.rng);
    return this.partition === undefined ? target : this.partition.place(target);
  }

  /** Counts the index's nodes again, after it forgot some (NodeIndex.compact). */
  recount(): void {
    this.prefixCounts.fill(0);
    for (let i = 0; i < this.nodes.size; i++) this.prefixCounts[this.nodes.idPrefix32(i) >>> (32 - this.depth)]!++;
  }

  /** Counts a node just added to the index. */
  noteNode(id: Buffer): void {
    // Grow the depth with the network, so a prefix holds a handful of nodes.
    const wanted = Math.max(4, Math.min(16, Math.floor(Math.log2(Math.max(1, this.nodes.size / 8)))));
    if (wanted > this.depth) {
      this.depth = wanted;
      this.prefixCounts = new Uint32Array(1 << wanted);
      for (let i = 0; i < this.nodes.size; i++) this.prefixCounts[this.nodes.idPrefix32(i) >>> (32 - wanted)]!++;
      return;
    }
    this.prefixCounts[id.readUInt32BE(0) >>> (32 - this.depth)]!++;
  }
}
