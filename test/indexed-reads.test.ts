import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import { type Discovery } from '../crawler/discovery.js';
import { newBatchId } from '../indexer/batch-id.js';
import { type CursorPosition } from '../indexer/cursor.js';
import { getIndexedInfohash, indexedInfohashCount, indexedSummaries, pageIndexedPopular, pageIndexedRecent, searchInfohashPrefix } from '../indexer/indexed-reads.js';
import { IndexKeys } from '../indexer/keys.js';
import { type SortedSetPage } from '../indexer/queries.js';
import { applyShardedBatch, SHARDED_SCHEMA_VERSION } from '../indexer/sharded-apply.js';
import { ShardedIndexKeys } from '../indexer/sharded-keys.js';
import { setShardedSchemaVersion } from '../indexer/sharded-queries.js';
import { moveSchema4 } from '../migrations/schema4-mover.js';
import { type RedisClient } from '../redis/client.js';
import { randomPrefix, useRedisServer } from './helpers/redis.js';
import { type Expected, lockFor, node, writeLegacy } from './helpers/schema4.js';

/**
 * Schema 5's readers in schema 4's shapes (indexer/indexed-reads.ts), before, during and after
 * migration 005 moves the data: every infohash answered completely, listed once.
 */
const redis = useRedisServer(test);

async function pages(page: (after: CursorPosition | null) => Promise<SortedSetPage>): Promise<SortedSetPage['items']> {
  const items: SortedSetPage['items'] = [];
  let after: CursorPosition | null = null;
  do {
    const p = await page(after);
    items.push(...p.items);
    after = p.next;
  } while (after !== null && items.length < 100_000);
  return items;
}

async function expectComplete(t: ExecutionContext, c: RedisClient, keys: ShardedIndexKeys, truth: Map<string, Expected>, now: number, when: string): Promise<void> {
  for (const [hex, want] of truth) {
    const got = await getIndexedInfohash(c, keys, hex, { now, peersLimit: 200 });
    const peers = new Map(got?.peers.map((p) => [p.address, p.lastSeen]));
    if (got === null || got.firstSeen !== want.first || got.lastSeen !== want.last || got.seen !== want.seen || got.peerCount !== want.peers.size || JSON.stringify([...peers].sort()) !== JSON.stringify([...want.peers].sort())) {
      t.fail(`${when}, ${hex}: ${JSON.stringify(got)} vs ${JSON.stringify({ ...want, peers: [...want.peers] })}`);
      return;
    }
  }
  const recent = await pages((after) => pageIndexedRecent(c, keys, { limit: 37, after }));
  t.deepEqual(recent.map((x) => x.member).sort(), [...truth.keys()].sort(), `${when}: recent lists every infohash once`);
  t.true(recent.every((x, i) => i === 0 || recent[i - 1]!.score >= x.score), `${when}: recent in order`);
  const popular = await pages((after) => pageIndexedPopular(c, keys, { limit: 25, after }));
  t.deepEqual(popular.map((x) => x.member).sort(), [...truth].filter(([, e]) => e.peers.size > 0).map(([h]) => h).sort(), `${when}: popular lists each one with peers once`);
  const some = [...truth.keys()].slice(0, 40);
  t.deepEqual((await indexedSummaries(c, keys, some)).map((s) => [s.infohash, s.firstSeen, s.lastSeen]), some.map((h) => [h, truth.get(h)!.first, truth.get(h)!.last]).map(([h, f, l]) => [h, f, l]), `${when}: summaries`);
}

test('before, during and after the move, every infohash is answered completely and listed once', async (t) => {
  const c = redis.client(t);
  const legacy = new IndexKeys(randomPrefix());
  const keys = new ShardedIndexKeys(legacy.prefix);
  const now = Date.now();
  const truth = await writeLegacy(c, legacy, 500, now);
  await setShardedSchemaVersion(c, keys, SHARDED_SCHEMA_VERSION);
  // Seen again after the switch, before being moved: only the old sightings of those not yet moved stay in schema 4.
  const during: Discovery[] = [];
  for (const [i, hex] of [...truth.keys()].entries()) {
    if (i % 4 !== 0) continue;
    during.push({ type: 'infohash', infohash: hex, node: node(7), source: 'get_peers', at: now });
    during.push({ type: 'peers', infohash: hex, peers: ['192.0.2.7:7000'], node: node(7), at: now });
    const e = truth.get(hex)!;
    e.last = now;
    e.seen++;
    e.peers.set('192.0.2.7:7000', Math.floor(now / 1000) * 1000);
  }
  for (let i = 0; i < 60; i++) {
    const hex = randomBytes(20).toString('hex');
    during.push({ type: 'infohash', infohash: hex, node: node(i), source: 'sample', at: now - i });
    truth.set(hex, { first: now - i, last: now - i, seen: 1, peers: new Map() });
  }
  await applyShardedBatch(c, during, { keys, batchId: newBatchId(), now });
  await expectComplete(t, c, keys, truth, now, 'before the move');
  const overlap = [...truth.keys()].filter((_, i) => i < 500 && i % 4 === 0).length;
  const count = await indexedInfohashCount(c, keys);
  t.true(count >= truth.size && count <= truth.size + overlap, `count ${count} for ${truth.size} (at most ${overlap} counted twice)`);

  const stop = new AbortController();
  const lock = await lockFor(c, legacy);
  await moveSchema4(c, { legacy, keys, lock, now: () => now, signal: stop.signal, onChunk: () => stop.abort() });
  t.is(await c.zcard(legacy.infohashes), 300, 'one chunk of 200 moved');
  await expectComplete(t, c, keys, truth, now, 'during the move');

  await moveSchema4(c, { legacy, keys, lock, now: () => now });
  await expectComplete(t, c, keys, truth, now, 'after the move');
  t.is(await indexedInfohashCount(c, keys), truth.size, 'after the move the count is exact');
});

test('a hex prefix finds every infohash that starts with it, in the whole index, most recent first', async (t) => {
  const c = redis.client(t);
  const keys = new ShardedIndexKeys(randomPrefix());
  await setShardedSchemaVersion(c, keys, SHARDED_SCHEMA_VERSION);
  const now = Date.now();
  // 300 infohashes under one 4-digit prefix (two buckets), 300 elsewhere.
  const events: Discovery[] = Array.from({ length: 600 }, (_, i) => ({
    type: 'infohash',
    infohash: (i < 300 ? 'abcd' : 'dcba') + randomBytes(18).toString('hex').slice(0, 36),
    node: node(i),
    source: 'sample',
    at: now - i * 1000,
  }));
  await applyShardedBatch(c, events, { keys, batchId: newBatchId(), now });
  const under = events.slice(0, 300).map((e) => (e as { infohash: string }).infohash);
  const all = await searchInfohashPrefix(c, keys, 'abcd', 1_000);
  t.deepEqual(all, { scanned: 300, more: false, infohashes: under }, 'all 300, newest first, nothing else read');
  const five = under[17]!.slice(0, 5);
  const narrower = await searchInfohashPrefix(c, keys, five, 1_000);
  t.deepEqual(narrower.infohashes, under.filter((h) => h.startsWith(five)));
  t.like(await searchInfohashPrefix(c, keys, 'abcd', 10), { more: true, infohashes: under.slice(0, 10) });
  t.deepEqual((await searchInfohashPrefix(c, keys, under[5]!, 10)).infohashes, [under[5]], 'a whole infohash is a prefix of itself');
});
