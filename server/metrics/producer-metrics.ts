import { Gauge, type Registry } from 'prom-client';
import { METRICS_PREFIX as P } from './constants.js';
import { SnapshotCounter } from './snapshot-counter.js';
import { type ProducerSnapshot } from './sources.js';

/** The discovery producer: events and batches on their way into the queue, its spool and Redis health. */
export class ProducerMetrics {
  private readonly counters: Array<[SnapshotCounter, (s: ProducerSnapshot) => number]>;
  private readonly memoryBatches: Gauge;
  private readonly spoolBytes: Gauge;
  private readonly redisUp: Gauge;

  constructor(registry: Registry) {
    const registers = [registry];
    const counter = (name: string, help: string, read: (s: ProducerSnapshot) => number): [SnapshotCounter, (s: ProducerSnapshot) => number] => [
      new SnapshotCounter(registry, `${P}producer_${name}`, help),
      read,
    ];
    this.counters = [
      counter('events_written_total', 'Discovery events handed to the producer by the crawler.', (s) => s.eventsWritten),
      counter('events_delivered_total', 'Discovery events the queue in Redis acknowledged.', (s) => s.eventsDelivered),
      counter('events_dropped_total', 'Discovery events lost: the spool was full or failed.', (s) => s.droppedEvents),
      counter('batches_sealed_total', 'Batches of discovery events sealed for the queue.', (s) => s.batchesSealed),
      counter('batches_delivered_total', 'Batches the queue in Redis acknowledged.', (s) => s.batchesDelivered),
      counter('batches_spooled_total', 'Batches written to the disk spool while Redis was slow or down.', (s) => s.spooledBatches),
      counter('batches_replayed_total', 'Batches delivered from the disk spool.', (s) => s.replayedBatches),
      counter('spooled_bytes_total', 'Bytes written to the disk spool.', (s) => s.spooledBytes),
      counter('redis_outages_total', 'Times the producer lost Redis.', (s) => s.outages),
    ];
    this.memoryBatches = new Gauge({ name: `${P}producer_memory_batches`, help: 'Sealed batches held in memory, waiting for or being added to the queue.', registers });
    this.spoolBytes = new Gauge({ name: `${P}producer_spool_bytes`, help: 'Size of the disk spool now.', registers });
    this.redisUp = new Gauge({ name: `${P}producer_redis_up`, help: '1 while the producer reaches Redis, else 0.', registers });
  }

  update(s: ProducerSnapshot): void {
    for (const [counter, read] of this.counters) counter.set(read(s));
    this.memoryBatches.set(s.memoryBatches);
    this.spoolBytes.set(s.spoolBytes);
    this.redisUp.set(s.redisUp ? 1 : 0);
  }
}
