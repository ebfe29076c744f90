import { Worker } from 'bullmq';

/**
 * A BullMQ Worker that can be given up on. `close()` waits for the worker's blocking Redis
 * connection to end; when Redis is unreachable at that moment, ioredis never ends a connection
 * that is between reconnect attempts, so `close()` never returns and the lock-renewal timer
 * keeps the process alive. `abandon()` stops that timer: the jobs it held stall, and once
 * their locks expire any worker's stalled check queues them again.
 */
export class AbandonableWorker<DataType, ResultType> extends Worker<DataType, ResultType> {
  abandon(): Promise<void> {
    return this.lockManager.close();
  }
}
