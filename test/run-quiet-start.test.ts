import test from 'ava';
import { Queue } from 'bullmq';
import { mkdtemp, rm } from 'node:fs/promises';
import { createSocket } from 'node:dgram';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomId } from '../bep5/node-id.js';
import { IndexKeys } from '../indexer/keys.js';
import { type PeerLookupJob, queueNames } from '../workers/queues.js';
import { startCli } from './helpers/cli.js';
import { randomPrefix, useRedisServer } from './helpers/redis.js';
import { pollUntil } from './helpers/wait.js';

/**
 * Issue 17, item 1: `dhtscope run` with no network to join and peer lookups queued. It used to
 * print a failed-attempt line per job (281 in 30 s) and spend every job's attempts. Now the
 * status says it is joining and when it retries, the jobs wait untouched, and stderr stays
 * quiet. The "network" is one UDP socket on 127.0.0.1 that reads and never answers.
 */
const redis = useRedisServer(test);

test('no DHT to join: the status line says so and when it retries, no job is taken or failed, stderr stays empty', async (t) => {
  t.timeout(120_000);
  const silent = createSocket('udp4');
  await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', resolve));
  t.teardown(() => silent.close());
  let asked = 0;
  silent.on('message', () => asked++);

  const prefix = randomPrefix();
  const names = queueNames(new IndexKeys(prefix));
  const queue = new Queue<PeerLookupJob>(names.peerLookups, { connection: redis.client(t, { maxRetriesPerRequest: null }), prefix: names.bullPrefix });
  t.teardown(() => queue.close());
  const ids = Array.from({ length: 20 }, () => randomId().toString('hex'));
  for (const ih of ids) await queue.add('lookup', { infohash: ih }, { jobId: ih, attempts: 3 });

  const dir = await mkdtemp(join(tmpdir(), 'dhtscope-quiet-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const run = startCli(t, [
    'run', '--redis-url', redis.server.url, '--prefix', prefix, '--data-dir', dir,
    '--host', '127.0.0.1', '--port', '0', '--ipv4-only', '--allow-loopback', '--api-port', '0', '--no-metadata',
    '--bootstrap', `127.0.0.1:${silent.address().port}`,
  ]);
  // A non-terminal gets the status as plain lines (every 10 s): wait for the joining one.
  await pollUntil(() => /joining the DHT \(0 contacts, retrying bootstrap in \d+ s\)/.test(run.stdout), 'the status line to say the node is joining and when it retries', 60_000, 100);
  t.true(asked > 0, 'the node asked the bootstrap address');

  const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed');
  t.like(counts, { waiting: ids.length, active: 0, delayed: 0, failed: 0, completed: 0 }, JSON.stringify(counts));
  for (const job of await queue.getJobs(['waiting'])) t.is(job.attemptsMade, 0, job.id);
  t.is(run.stderr, '', 'nothing routine on stderr');

  run.child.kill('SIGINT');
  const end = await run.exit(60_000);
  t.is(end.code, 0, end.stderr);
  t.notRegex(end.stderr, /failed \(attempt/);
});
