/**
 * Schema 5's name search (indexer/sharded-search.ts) on a real redis-server: the ranked window
 * over 64 shards is schema 4's for the same torrents past SEARCH_RANK_WINDOW matches, posting
 * lists are capped per shard keeping the most-peered, and hostile names are found by their words
 * and shown escaped. (test/sharded-metadata.test.ts compares every answer with schema 4's over a
 * random history, on one Redis and on a cluster.)
 */
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { type Discovery } from '../crawler/discovery.js';
import { displayText } from '../bep5/display-text.js';
import { applyBatch } from '../indexer/apply-batch.js';
import { newBatchId } from '../indexer/batch-id.js';
import { SEARCH_RANK_WINDOW } from '../indexer/metadata-constants.js';
import { type MetadataInput, storeMetadata } from '../indexer/metadata-store.js';
import { searchMetadata } from '../indexer/search.js';
import { tokenizeName } from '../indexer/search-tokens.js';
import { applyShardedBatch, SHARDED_SCHEMA_VERSION } from '../indexer/sharded-apply.js';
import { ShardedIndexKeys } from '../indexer/sharded-keys.js';
import { storeShardedMetadata } from '../indexer/sharded-metadata.js';
import { setShardedSchemaVersion } from '../indexer/sharded-queries.js';
import { searchSharded } from '../indexer/sharded-search.js';
import { infohashes, peerIn } from './helpers/generators.js';
import { randomPrefix, useRedisServer } from './helpers/redis.js';

const redis = useRedisServer(test);
const NOW = Date.now();
const PEER = peerIn('203.0.113', 4000);
/** IH(n) for small n share one shard. */
const IH = infohashes('d');

function input(name: string | Buffer, files = 1): MetadataInput {
  return {
    name: { raw: Buffer.from(name) },
    totalSize: files * 1000,
    pieceLength: 16_384,
    pieceCount: 1,
    fileCount: files,
    files: [{ path: [{ raw: Buffer.from('f.bin') }], size: 1000 }],
    singleFile: false,
    private: false,
    metaVersion: 1,
  };
}

/** Peers, sightings and last-seen spread so every ranking key and the infohash tie-break matter. */
function events(hexes: readonly string[]): Discovery[] {
  return hexes.flatMap((hex, i): Discovery[] => [
    ...Array.from({ length: 1 + (i % 3) }, (_, s): Discovery => ({ type: 'infohash', infohash: hex, node: `10.0.5.${s}:1`, source: 'sample', at: NOW - 60_000 - (i % 5) * 1000 })),
    ...(i % 4 === 0 ? [] : [{ type: 'peers', infohash: hex, peers: Array.from({ length: i % 4 }, (_, p) => PEER(p)), node: '10.0.5.9:1', at: NOW - 30_000 } as Discovery]),
  ]);
}

test('past SEARCH_RANK_WINDOW matches over 64 shards: the same total, window, ranking and pages as schema 4', async (t) => {
  t.timeout(120_000);
  const { c, keys: k4 } = await redis.freshSchema4Index(t);
  const k5 = new ShardedIndexKeys(randomPrefix());
  await setShardedSchemaVersion(c, k5, SHARDED_SCHEMA_VERSION);
  const hexes = Array.from({ length: SEARCH_RANK_WINDOW + 150 }, () => randomBytes(20).toString('hex'));
  const batch = events(hexes);
  const batchId = newBatchId();
  await applyBatch(c, batch, { keys: k4, batchId, now: NOW, config: { maxBatchEvents: 20_000 } });
  await applyShardedBatch(c, batch, { keys: k5, batchId, now: NOW, config: { maxBatchEvents: 20_000 } });
  for (const [i, hex] of hexes.entries()) {
    const s = input(`common title ${i % 2 === 0 ? 'even' : 'odd'} ${i}`, 1 + (i % 9));
    await storeMetadata(c, k4, hex, s, { fetchedAt: NOW, peer: PEER(1) });
    await storeShardedMetadata(c, k5, hex, s, { fetchedAt: NOW, peer: PEER(1) });
  }
  for (const tokens of [['common'], ['title', 'common'], ['common', 'even'], ['title', 'odd', 'common']]) {
    for (const [limit, offset] of [[100, 0], [100, 950], [20, 990], [10, SEARCH_RANK_WINDOW]] as const) {
      const want = await searchMetadata(c, k4, tokens, { limit, offset });
      t.deepEqual(await searchSharded(c, k5, tokens, { limit, offset }), want, `${tokens.join(' ')} ${limit}@${offset}`);
      t.deepEqual(await searchSharded(c, k5, tokens, { limit, offset }, { oneCall: false }), want, `per-shard calls: ${tokens.join(' ')} ${limit}@${offset}`);
    }
  }
  const broad = await searchSharded(c, k5, ['common'], { limit: 5, offset: 0 });
  t.deepEqual([broad.total, broad.ranked, broad.items.length], [hexes.length, SEARCH_RANK_WINDOW, 5]);
});

test('a shard keeps shardCap(postingsCap) postings per token, the most-peered ones', async (t) => {
  const c = redis.client(t);
  const keys = new ShardedIndexKeys(randomPrefix());
  await setShardedSchemaVersion(c, keys, SHARDED_SCHEMA_VERSION);
  const peers = [1, 6, 3, 5, 2, 4];
  const batch = peers.map((p, i): Discovery => ({ type: 'peers', infohash: IH(i + 1), peers: Array.from({ length: p }, (_, k) => PEER(k)), node: '10.0.5.1:1', at: NOW - 1000 }));
  await applyShardedBatch(c, batch, { keys, batchId: newBatchId(), now: NOW });
  for (let n = 1; n <= peers.length; n++) await storeShardedMetadata(c, keys, IH(n), input(`shared ${n}`), { fetchedAt: NOW, peer: PEER(1), postingsCap: 3 });
  const { shard } = keys.locate(IH(1));
  // ceil(3 / 64) × 4 = 4 in this shard: peers 6, 5, 4, 3.
  t.deepEqual((await c.zrangeBuffer(shard.postings('shared'), 0, '-1', 'REV')).map((b) => b.toString('hex')), [2, 4, 6, 3].map((n) => IH(n)));
  const found = await searchSharded(c, keys, ['shared'], { limit: 10, offset: 0 });
  t.deepEqual([found.total, found.items.map((x) => x.peers)], [4, [6, 5, 4, 3]]);
});

test('hostile names: found by their words, shown escaped from the raw bytes, stored once as raw bytes', async (t) => {
  const c = redis.client(t);
  const keys = new ShardedIndexKeys(randomPrefix());
  await setShardedSchemaVersion(c, keys, SHARDED_SCHEMA_VERSION);
  const names = [
    Buffer.from('evil\x1b[2J\x1b]0;pwned\x07 name\r\nsecond line\x00'),
    Buffer.from('invoice\u202Efdp.exe'),
    Buffer.from('<script>alert("x")</script><img src=x onerror=alert(1)> & co'),
    Buffer.from([0x41, 0x42, 0xff, 0xfe, 0xc0, 0xaf, 0xed, 0xa0, 0x80, 0x43, 0x44]),
    Buffer.from('🎬 Popcorn 🍿 Night'),
  ];
  await applyShardedBatch(
    c,
    names.map((_, i): Discovery => ({ type: 'infohash', infohash: IH(i + 1), node: '10.0.5.1:1', source: 'sample', at: NOW - 1000 })),
    { keys, batchId: newBatchId(), now: NOW },
  );
  for (const [i, raw] of names.entries()) {
    t.deepEqual((await storeShardedMetadata(c, keys, IH(i + 1), input(raw), { fetchedAt: NOW, peer: PEER(1) })).tokens, tokenizeName(raw, 32));
    const tokens = tokenizeName(raw, 32).slice(0, 2);
    const found = await searchSharded(c, keys, tokens, { limit: 5, offset: 0 });
    t.deepEqual(found.items.map((x) => [x.infohash, x.name]), [[IH(i + 1), displayText(raw)]], raw.toString('latin1'));
    t.notRegex(found.items[0]!.name, /[\x00-\x1f\x7f\u202e]/);
    const { shard, bucket } = keys.locate(IH(i + 1));
    const blob = (await c.hgetBuffer(shard.meta(bucket), Buffer.from(IH(i + 1), 'hex')))!;
    t.true(blob.includes(raw) && blob.length < raw.length + 80, `the raw bytes once, no display form or base64 beside them: ${blob.length} bytes`);
  }
});
