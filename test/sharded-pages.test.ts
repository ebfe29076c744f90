import test from 'ava';
import { randomBytes } from 'node:crypto';
import { type Discovery } from '../crawler/discovery.js';
import { applyBatch } from '../indexer/apply-batch.js';
import { newBatchId } from '../indexer/batch-id.js';
import { type CursorPosition } from '../indexer/cursor.js';
import { type SortedSetPage, pagePeers, pagePopular, pageRecent } from '../indexer/queries.js';
import { applyShardedBatch, SHARDED_SCHEMA_VERSION } from '../indexer/sharded-apply.js';
import { ShardedIndexKeys } from '../indexer/sharded-keys.js';
import { pageShardedPeers, pageShardedPopular, pageShardedRecent } from '../indexer/sharded-pages.js';
import { setShardedSchemaVersion } from '../indexer/sharded-queries.js';
import { useRedisCluster } from './helpers/redis-cluster.js';
import { randomPrefix, useRedisServer } from './helpers/redis.js';

/**
 * Schema 5's pages (indexer/sharded-pages.ts) against schema 4's for the same batches: the same
 * items in the same order, page after page, with the same cursors.
 */
const redis = useRedisServer(test);

// Now, not a fixed date: schema 5's peer keys expire in Redis's real time, so a fixed date
// more than the peer TTL in the past makes every peer count 0 (this failed from 18:00 on the
// day the date was written). Whole seconds, as schema 5 keeps them.
const NOW = Math.floor(Date.now() / 1000) * 1000;
const node = (n: number): string => `198.51.100.${n % 250}:${6881 + n}`;

/** Infohashes with few distinct peer counts (ties for popular's order), peer reports on whole seconds (schema 5 keeps seconds). */
function events(count: number, at0: number): Discovery[] {
  const out: Discovery[] = [];
  for (let i = 0; i < count; i++) {
    const hex = randomBytes(20).toString('hex');
    const at = at0 - (i % 700) * 1000; // ties in recent too
    out.push({ type: 'infohash', infohash: hex, node: node(i), source: 'sample', at });
    const peers = Array.from({ length: i % 4 }, (_, j) => `203.0.${i % 250}.${j + 1}:${1000 + (i % 50)}`);
    if (peers.length > 0) out.push({ type: 'peers', infohash: hex, peers, node: node(i), at });
  }
  return out;
}

async function all(page: (after: CursorPosition | null) => Promise<SortedSetPage | null>): Promise<SortedSetPage[]> {
  const pages: SortedSetPage[] = [];
  let after: CursorPosition | null = null;
  do {
    const p = await page(after);
    if (p === null) return pages;
    pages.push(p);
    after = p.next;
  } while (after !== null && pages.length < 1_000);
  return pages;
}

test('recent, popular and peers page exactly as schema 4 pages the same data, cursor for cursor', async (t) => {
  const { c, keys: old } = await redis.freshSchema4Index(t);
  const keys = new ShardedIndexKeys(randomPrefix());
  await setShardedSchemaVersion(c, keys, SHARDED_SCHEMA_VERSION);
  const batch = events(3_000, NOW - 10_000);
  const batchId = newBatchId();
  await applyBatch(c, batch, { keys: old, batchId, now: NOW });
  await applyShardedBatch(c, batch, { keys, batchId, now: NOW });
  for (const limit of [1, 7, 100, 1_000]) {
    if (limit === 1) {
      // Page by one through the first 300 only (3,000 single pages would be slow and show nothing more).
      const first4 = await pageRecent(c, old, { limit: 300 });
      let after: CursorPosition | null = null;
      for (const want of first4.items) {
        const p: SortedSetPage = await pageShardedRecent(c, keys, { limit: 1, after });
        t.deepEqual(p.items, [want]);
        after = p.next;
      }
      continue;
    }
    t.deepEqual(await all((after) => pageShardedRecent(c, keys, { limit, after })), await all((after) => pageRecent(c, old, { limit, after })), `recent by ${limit}`);
    t.deepEqual(await all((after) => pageShardedPopular(c, keys, { limit, after })), await all((after) => pagePopular(c, old, { limit, after })), `popular by ${limit}`);
  }
  const withPeers = batch.filter((e): e is Extract<Discovery, { type: 'peers' }> => e.type === 'peers' && e.peers.length === 3).slice(0, 20);
  for (const e of withPeers) {
    t.deepEqual(await all((after) => pageShardedPeers(c, keys, e.infohash, { limit: 2, after, now: NOW })), await all((after) => pagePeers(c, old, e.infohash, { limit: 2, after, now: NOW })));
  }
  t.is(await pageShardedPeers(c, keys, randomBytes(20).toString('hex'), { limit: 5, now: NOW }), null, 'an unknown infohash has no page');
});

test('a client paging while new infohashes arrive never sees one twice, and sees none that arrived above its cursor', async (t) => {
  const c = redis.client(t);
  const keys = new ShardedIndexKeys(randomPrefix());
  await setShardedSchemaVersion(c, keys, SHARDED_SCHEMA_VERSION);
  await applyShardedBatch(c, events(1_000, NOW - 10_000), { keys, batchId: newBatchId(), now: NOW });
  const seen = new Set<string>();
  const first = await pageShardedRecent(c, keys, { limit: 250 });
  for (const i of first.items) seen.add(i.member);
  const newer = events(500, NOW + 1_000_000); // all newer than any of the first 1,000
  await applyShardedBatch(c, newer, { keys, batchId: newBatchId(), now: NOW });
  const rest = await all((after) => pageShardedRecent(c, keys, { limit: 100, after: after ?? first.next }));
  for (const p of rest) for (const i of p.items) {
    t.false(seen.has(i.member), `${i.member} twice`);
    seen.add(i.member);
  }
  t.is(seen.size, 1_000, 'every item below the cursor, none of the newer ones');
});

test('on a real 3-master cluster: a page merges the shards of every master', async (t) => {
  const { client: c } = await useRedisCluster(t);
  const keys = new ShardedIndexKeys(randomPrefix());
  await setShardedSchemaVersion(c, keys, SHARDED_SCHEMA_VERSION);
  const batch = events(2_000, NOW - 10_000);
  await applyShardedBatch(c, batch, { keys, batchId: newBatchId(), now: NOW });
  const pages = await all((after) => pageShardedRecent(c, keys, { limit: 300, after }));
  const items = pages.flatMap((p) => p.items);
  t.is(items.length, 2_000);
  t.true(items.every((x, i) => i === 0 || items[i - 1]!.score > x.score || (items[i - 1]!.score === x.score && items[i - 1]!.member > x.member)), 'score descending, then member descending');
});
