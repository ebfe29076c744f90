import test from 'ava';
import { Queue } from 'bullmq';
import { randomBytes } from 'node:crypto';
import { type Discovery } from '../crawler/discovery.js';
import { newBatchId } from '../indexer/batch-id.js';
import { ShardedIndexKeys } from '../indexer/sharded-keys.js';
import { writeSwarmEstimates } from '../indexer/swarm-estimates.js';
import { PeerLookupScheduler } from '../workers/peer-lookup-scheduler.js';
import { type PeerLookupJob, queueNames } from '../workers/queues.js';
import { applyIndexed } from './helpers/index-writes.js';
import { useRedisServer } from './helpers/redis.js';

/**
 * Which infohashes get a peer lookup (workers/peer-lookup-scheduler.ts), on a real Redis and a
 * real BullMQ queue: those without live peers, and those whose BEP 33 estimate is missing or a
 * day old (the lookup takes the scrape); one per window either way.
 */
const redis = useRedisServer(test);

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

test('lookups go to infohashes without live peers or without a recent scrape; one with peers and a fresh scrape gets none', async (t) => {
  const { c, keys } = await redis.freshIndex(t);
  const now = Math.floor(Date.now() / 60_000) * 60_000;
  const [noPeers, peersNoScrape, peersFresh, peersOld] = [0, 1, 2, 3].map(() => randomBytes(20).toString('hex')) as [string, string, string, string];
  const seen = (ih: string): Discovery => ({ type: 'infohash', infohash: ih, node: '198.51.100.1:6881', source: 'sample', at: now - 1000 });
  const peers = (ih: string): Discovery => ({ type: 'peers', infohash: ih, peers: ['203.0.113.9:51413'], node: '198.51.100.1:6881', at: now - 1000 });
  await applyIndexed(c, [seen(noPeers), ...[peersNoScrape, peersFresh, peersOld].flatMap((ih) => [seen(ih), peers(ih)])], { keys, batchId: newBatchId(), now });
  await writeSwarmEstimates(c, ShardedIndexKeys.of(keys.prefix), [
    { infohash: peersFresh, seeders: 4, leechers: 2, at: now - HOUR },
    { infohash: peersOld, seeders: 4, leechers: 2, at: now - DAY - HOUR },
  ]);

  const names = queueNames(keys);
  const queue = new Queue<PeerLookupJob>(names.peerLookups, { connection: redis.client(t, { maxRetriesPerRequest: null }), prefix: names.bullPrefix });
  t.teardown(() => queue.close());
  const scheduler = new PeerLookupScheduler({ client: c, keys, queue, now: () => now, refreshMs: HOUR });
  const all = [noPeers, peersNoScrape, peersFresh, peersOld];
  t.deepEqual(await scheduler.schedule(all), { queued: 3, skipped: 0, fresh: 1 });
  const queued = (await queue.getJobs(['waiting'])).map((j) => j.data.infohash).sort();
  t.deepEqual(queued, [noPeers, peersNoScrape, peersOld].sort());
  // The same window: claimed already, nothing more.
  t.deepEqual(await scheduler.schedule(all), { queued: 0, skipped: 0, fresh: 4 });

  // Finding peers comes first: with the queue half full, a scrape-only lookup waits for a later
  // window, and one for a torrent without peers is still queued.
  const later = new PeerLookupScheduler({ client: c, keys, queue, now: () => now + HOUR, refreshMs: HOUR, queueMax: 6 });
  t.is(await queue.getWaitingCount(), 3);
  t.deepEqual(await later.schedule([peersNoScrape, noPeers]), { queued: 1, skipped: 1, fresh: 0 });
  t.deepEqual((await queue.getJobs(['waiting'])).map((j) => j.id).filter((id) => id!.endsWith(String(Math.floor((now + HOUR) / HOUR)))), [later.jobId(noPeers, now + HOUR)]);
});
