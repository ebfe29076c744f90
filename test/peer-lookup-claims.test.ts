import test from 'ava';
import { randomBytes } from 'node:crypto';
import { type Discovery } from '../crawler/discovery.js';
import { newBatchId } from '../indexer/batch-id.js';
import { SchemaMismatchError } from '../indexer/errors.js';
import { claimPeerLookups } from '../indexer/peer-lookup-claims.js';
import { applyShardedBatch, SHARDED_SCHEMA_VERSION } from '../indexer/sharded-apply.js';
import { ShardedIndexKeys } from '../indexer/sharded-keys.js';
import { getShardedInfohash, setShardedSchemaVersion } from '../indexer/sharded-queries.js';
import { useRedisCluster } from './helpers/redis-cluster.js';
import { randomPrefix, useRedisServer } from './helpers/redis.js';

/** One peer lookup per infohash per window, claimed in the record (indexer/peer-lookup-claims.ts). */
const redis = useRedisServer(test);

const HOUR = 3_600_000;
const T = Date.UTC(2026, 11, 6, 12, 10);

function sightings(n: number): { events: Discovery[]; hexes: string[] } {
  const hexes = Array.from({ length: n }, () => randomBytes(20).toString('hex'));
  return { hexes, events: hexes.map((h, i) => ({ type: 'infohash', infohash: h, node: `198.51.100.${i % 250}:6881`, source: 'sample', at: T - 1000 })) };
}

test('claimed once per window, by one of two schedulers racing; again in the next window; never without a record', async (t) => {
  const c = redis.client(t);
  const keys = new ShardedIndexKeys(randomPrefix());
  await setShardedSchemaVersion(c, keys, SHARDED_SCHEMA_VERSION);
  const { events, hexes } = sightings(500);
  await applyShardedBatch(c, events, { keys, batchId: newBatchId(), now: T });
  const unknown = randomBytes(20).toString('hex');

  const [a, b] = await Promise.all([
    claimPeerLookups(c, keys, [...hexes, unknown], { now: T, windowMs: HOUR }),
    claimPeerLookups(c, keys, [...hexes].reverse(), { now: T, windowMs: HOUR }),
  ]);
  t.is(a.length + b.length, 500, 'every infohash claimed once between the two');
  t.deepEqual([...a, ...b].sort(), [...hexes].sort());
  t.deepEqual(await claimPeerLookups(c, keys, hexes, { now: T + 40 * 60_000, windowMs: HOUR }), [], 'later in the same window: none');
  t.is((await claimPeerLookups(c, keys, hexes, { now: T + HOUR, windowMs: HOUR })).length, 500, 'the next window: all again');

  // The claim lives in the record and survives later writes to it.
  await applyShardedBatch(c, events, { keys, batchId: newBatchId(), now: T + HOUR });
  t.deepEqual(await claimPeerLookups(c, keys, hexes.slice(0, 10), { now: T + HOUR + 1, windowMs: HOUR }), []);
  t.like(await getShardedInfohash(c, keys, hexes[0]!), { seen: 2 }, 'the record is otherwise intact');

  await t.throwsAsync(claimPeerLookups(c, keys, hexes, { now: T, windowMs: 1_000 }), { instanceOf: RangeError });
  const other = new ShardedIndexKeys(randomPrefix());
  await setShardedSchemaVersion(c, other, 4);
  await t.throwsAsync(claimPeerLookups(c, other, hexes.slice(0, 3), { now: T, windowMs: HOUR }), { instanceOf: SchemaMismatchError });
});

test('on a real 3-master cluster: claims run per shard, in their slots', async (t) => {
  const { client: c } = await useRedisCluster(t);
  const keys = new ShardedIndexKeys(randomPrefix());
  await setShardedSchemaVersion(c, keys, SHARDED_SCHEMA_VERSION);
  const { events, hexes } = sightings(300);
  await applyShardedBatch(c, events, { keys, batchId: newBatchId(), now: T });
  t.deepEqual((await claimPeerLookups(c, keys, hexes, { now: T, windowMs: HOUR })).sort(), [...hexes].sort());
  t.deepEqual(await claimPeerLookups(c, keys, hexes, { now: T + 1, windowMs: HOUR }), []);
});
