import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Job, Queue } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import { type IndexKeys } from '../../indexer/keys.js';
import { type DiscoveryBatchJob, queueNames } from '../../workers/queues.js';

/** What these helpers need of a test: teardown only (ava's ExecutionContext fits). */
interface Teardown {
  teardown(fn: () => void | Promise<void>): void;
}

/**
 * A `{ newClient }` connection to a test server, like RedisConnection's, that remembers its
 * clients so a test can look inside them (ioredis's queues) and disconnects them at teardown.
 */
export function testConnection(t: Teardown, server: { host: string; port: number }): { newClient(o?: RedisOptions): Redis; clients: Redis[] } {
  const clients: Redis[] = [];
  t.teardown(() => {
    for (const c of clients) c.disconnect();
  });
  return {
    clients,
    newClient(overrides: RedisOptions = {}) {
      const c = new Redis({ host: server.host, port: server.port, ...overrides });
      c.on('error', () => {});
      clients.push(c);
      return c;
    },
  };
}

/** Reads the discovery queue of `keys` (with its own client). */
export function discoveryQueue(t: Teardown, server: { host: string; port: number }, keys: IndexKeys): Queue<DiscoveryBatchJob> {
  const names = queueNames(keys);
  const client = new Redis({ host: server.host, port: server.port, maxRetriesPerRequest: null });
  client.on('error', () => {});
  const queue = new Queue<DiscoveryBatchJob>(names.discoveries, { connection: client, prefix: names.bullPrefix });
  queue.on('error', () => {});
  t.teardown(async () => {
    await queue.close().catch(() => {});
    client.disconnect();
  });
  return queue;
}

/** Every waiting job, oldest first. */
export async function waitingJobs(queue: Queue<DiscoveryBatchJob>): Promise<Array<Job<DiscoveryBatchJob>>> {
  return queue.getJobs(['waiting'], 0, -1, true);
}

/** A fresh directory removed at teardown (a producer's spool, say). */
export async function tempDir(t: Teardown, name = 'dhtscope-spool-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), name));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** The spool files in `dir` (not the lock). */
export async function spoolFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => n.startsWith('spool-')).sort();
}
