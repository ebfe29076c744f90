import { type Clock, type TimerHandle } from '../bep5/clock.js';
import { type Discovery } from '../crawler/discovery.js';
import { newBatchId } from '../indexer/batch-id.js';
import { shardGroupOf, shardOf } from '../indexer/shard.js';
import { type DiscoveryBatchJob } from './queues.js';

/**
 * Events into sealed batches: a batch is sealed at `batchMaxEvents` events, or `batchMaxDelayMs` after
 * its first event, or when the caller asks (flush, drain, close). Sealing fixes the batch's id
 * and its sequence number; from then on the batch is delivered as it is (workers/delivery-backlog.ts).
 *
 * With `shardGroups` above 1 (on Redis Cluster), events are batched per group of index shards
 * (indexer/shard.ts shardGroupOf): an infohash or peers event by its infohash's shard, a node
 * event by its node ID's, so that a batch is a few shard scripts instead of one per shard
 * (indexer/sharded-apply.ts runs one script per shard a batch touches). A `sample` event
 * names no ID: it joins the group that got the previous event. Each group has its own batch
 * and timer; the limits hold per group.
 */

/** A sealed batch: its job (the id fixed at sealing) and its sealing order, from 1. */
export interface SealedBatch {
  readonly job: DiscoveryBatchJob;
  readonly seq: number;
}

export interface DiscoveryBatcherOptions {
  batchMaxEvents: number;
  batchMaxDelayMs: number;
  clock: Clock;
  /** Called with every batch as it is sealed. */
  onSeal: (batch: SealedBatch) => void;
  /** Batches kept apart by shard group (default 1: one batch for everything). */
  shardGroups?: number;
}

interface OpenBatch {
  events: Discovery[];
  timer: TimerHandle | null;
}

/** The shard whose group an event belongs to, or null for an event that names no ID. */
function shardOfEvent(event: Discovery): number | null {
  if (event.type === 'infohash' || event.type === 'peers') return shardOf(event.infohash.toLowerCase());
  if (event.type === 'node') return shardOf(event.id.toLowerCase());
  return null;
}

export class DiscoveryBatcher {
  private readonly open = new Map<number, OpenBatch>();
  private readonly groups: number;
  private lastGroup = 0;
  private events = 0;
  private seq = 0;

  constructor(private readonly o: DiscoveryBatcherOptions) {
    this.groups = o.shardGroups ?? 1;
    shardGroupOf(0, this.groups); // validates
  }

  /** Events in batches not sealed yet. */
  get openEvents(): number {
    return this.events;
  }

  /** Batches sealed so far, which is also the seq of the last one (0 before the first). */
  get sealed(): number {
    return this.seq;
  }

  add(event: Discovery): void {
    let group = 0;
    if (this.groups > 1) {
      const shard = shardOfEvent(event);
      group = shard === null ? this.lastGroup : shardGroupOf(shard, this.groups);
      this.lastGroup = group;
    }
    let batch = this.open.get(group);
    if (batch === undefined) {
      batch = { events: [], timer: null };
      this.open.set(group, batch);
    }
    batch.events.push(event);
    this.events++;
    if (batch.events.length >= this.o.batchMaxEvents) this.sealGroup(group);
    else if (batch.events.length === 1) batch.timer = this.o.clock.setTimeout(() => this.sealGroup(group), this.o.batchMaxDelayMs);
  }

  /** Seals every open batch that holds an event. */
  seal(): void {
    for (const group of [...this.open.keys()]) this.sealGroup(group);
  }

  private sealGroup(group: number): void {
    const batch = this.open.get(group);
    if (batch === undefined) return;
    this.open.delete(group);
    if (batch.timer !== null) this.o.clock.clearTimeout(batch.timer);
    if (batch.events.length === 0) return;
    this.events -= batch.events.length;
    // A random id, not a hash of the content: that would merge two batches that happen to
    // hold equal events, and every event must be counted. Fixed here, it names the batch for good.
    const job: DiscoveryBatchJob = { id: newBatchId(), events: batch.events };
    this.o.onSeal({ job, seq: ++this.seq });
  }
}
