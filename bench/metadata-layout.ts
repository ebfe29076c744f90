/**
 * Redis memory per torrent with metadata, schema 4 (metadata-store.ts) against schema 5
 * (sharded-metadata.ts), and the time of schema 5's searches and candidates, on a
 * redis-server this script starts (no persistence). Run from the repository root:
 *
 *   node --import ./scripts/ts-node-register.mjs bench/metadata-layout.ts [torrents]   # default 20,000
 *
 * The torrents have SCHEMA.md's shape for schema 4's figure: names of about 40 characters
 * (title words from a Zipf-distributed vocabulary, then year, resolution, source, codec and
 * release group tags, as release names are), 1 to 10 files of about 45 bytes of path each.
 * Each schema indexes the same infohashes first (its own writer: 0-3 live peers, 1-3
 * sightings), then stores every torrent's metadata; the figure is the growth of `used_memory`
 * across the stores divided by the torrents: the blob or hash, the postings, the registry or
 * count. Then half as many other indexed infohashes get one failed fetch each: the growth per
 * failed infohash is the fetch state and the wait entry. Both indexes live side by side in one
 * server, so the timings run on the same data.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { type Discovery } from '../crawler/discovery.js';
import { applyBatch } from '../indexer/apply-batch.js';
import { newBatchId } from '../indexer/batch-id.js';
import { IndexKeys, SCHEMA_4_VERSION } from '../indexer/keys.js';
import { encodeMetadataBlob, metadataContent } from '../indexer/metadata-blob.js';
import { type MetadataInput, metadataCandidates, recordMetadataFailure, storeMetadata } from '../indexer/metadata-store.js';
import { searchMetadata } from '../indexer/search.js';
import { tokenizeName } from '../indexer/search-tokens.js';
import { applyShardedBatch, SHARDED_SCHEMA_VERSION } from '../indexer/sharded-apply.js';
import { recordShardedMetadataFailure, shardedMetadataCandidates } from '../indexer/sharded-fetch-state.js';
import { ShardedIndexKeys } from '../indexer/sharded-keys.js';
import { readFields, storeShardedMetadata } from '../indexer/sharded-metadata.js';
import { setShardedSchemaVersion } from '../indexer/sharded-queries.js';
import { searchSharded } from '../indexer/sharded-search.js';
import { MigrationRunner } from '../migrations/runner.js';
import { startRedisServer } from '../testkit/redis-server.js';
import { torrentSummary } from './torrent-mix.js';

const N = Number(process.argv[2] ?? 20_000);
const BATCH = 4_000;
const IN_FLIGHT = 16;
const NOW = Date.now();

// ---- the torrents ------------------------------------------------------------------------------

interface Torrent {
  hex: string;
  summary: MetadataInput;
}

const torrent = (): Torrent => ({ hex: randomBytes(20).toString('hex'), summary: torrentSummary() });

function discoveries(torrents: readonly Torrent[]): Discovery[] {
  const events: Discovery[] = [];
  for (const [i, t] of torrents.entries()) {
    for (let s = 0; s <= i % 3; s++) events.push({ type: 'infohash', infohash: t.hex, node: `10.1.${i % 250}.${s + 1}:6881`, source: 'sample', at: NOW - 60_000 + s });
    const peers = i % 4;
    if (peers > 0) events.push({ type: 'peers', infohash: t.hex, peers: Array.from({ length: peers }, (_, p) => `203.0.${(i >> 8) % 250}.${(i + p) % 250}:${1024 + p}`), node: '10.2.0.1:6881', at: NOW - 30_000 });
  }
  return events;
}

// ---- measuring ---------------------------------------------------------------------------------

async function usedMemory(redis: Redis): Promise<number> {
  return Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]);
}

async function pool<X>(items: readonly X[], run: (x: X) => Promise<unknown>): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
    while (next < items.length) await run(items[next++]!);
  }));
  return performance.now() - started;
}

async function median(runs: number, f: () => Promise<unknown>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await f();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(runs / 2)]!;
}

const server = await startRedisServer();
const redis = new Redis(server.url);
try {
  const torrents = Array.from({ length: N }, torrent);
  const nameChars = torrents.reduce((n, t) => n + t.summary.name.raw.length, 0) / N;
  const pathBytes = torrents.reduce((n, t) => n + t.summary.files.reduce((m, f) => m + f.path.reduce((k, e) => k + e.raw.length, 0), 0), 0) / torrents.reduce((n, t) => n + t.summary.files.length, 0);
  const tokens = new Map<string, number>();
  for (const t of torrents) for (const tk of tokenizeName(t.summary.name.raw, 32)) tokens.set(tk, (tokens.get(tk) ?? 0) + 1);
  console.log(`# Torrent metadata: Redis memory per torrent, ${N.toLocaleString('en')} torrents\n`);
  console.log(`redis-server ${(await redis.info('server')).match(/redis_version:(\S+)/)![1]}, Node ${process.version}, ${new Date().toISOString()}`);
  console.log(`names ${nameChars.toFixed(1)} characters on average, files ${(torrents.reduce((n, t) => n + t.summary.files.length, 0) / N).toFixed(1)} per torrent of ${pathBytes.toFixed(1)} path bytes, ${tokens.size.toLocaleString('en')} distinct tokens (${[...tokens.values()].filter((c) => c === 1).length.toLocaleString('en')} in one name only), ${([...tokens.values()].reduce((a, b) => a + b, 0) / N).toFixed(1)} tokens per name\n`);

  const failing = Array.from({ length: Math.floor(N / 2) }, torrent);
  const blobBytes = torrents.reduce((n, t) => n + encodeMetadataBlob(metadataContent(t.summary, { fetchedAt: NOW, peer: '198.51.100.7:6881' })).length, 0) / N;
  console.log(`schema 5 blobs: ${blobBytes.toFixed(0)} bytes on average\n`);

  const k4 = new IndexKeys('meta4');
  await new MigrationRunner(redis, k4).migrate({ to: SCHEMA_4_VERSION }); // schema 4's writer
  const k5 = new ShardedIndexKeys('meta5');
  await setShardedSchemaVersion(redis, k5, SHARDED_SCHEMA_VERSION);
  const opts = { fetchedAt: NOW, peer: '198.51.100.7:6881' };
  const failure = { code: 'ERR_PEER_TIMEOUT', at: NOW - 10_000 };
  const sides: Array<[string, (events: Discovery[]) => Promise<unknown>, (t: Torrent) => Promise<unknown>, (t: Torrent) => Promise<unknown>]> = [
    [
      'schema 4',
      (events) => applyBatch(redis, events, { keys: k4, batchId: newBatchId(), now: NOW, config: { maxBatchEvents: 20_000 } }),
      (t) => storeMetadata(redis, k4, t.hex, t.summary, opts),
      (t) => recordMetadataFailure(redis, k4, t.hex, failure),
    ],
    [
      'schema 5',
      (events) => applyShardedBatch(redis, events, { keys: k5, batchId: newBatchId(), now: NOW, config: { maxBatchEvents: 20_000 } }),
      (t) => storeShardedMetadata(redis, k5, t.hex, t.summary, opts),
      (t) => recordShardedMetadataFailure(redis, k5, t.hex, failure),
    ],
  ];
  console.log('| layout | bytes per torrent with metadata | stores/s | bytes per infohash with a failed fetch | failures/s |');
  console.log('|---|---:|---:|---:|---:|');
  const perTorrent: number[] = [];
  for (const [label, apply, store, fail] of sides) {
    const all = [...torrents, ...failing];
    for (let b = 0; b < all.length; b += BATCH) await apply(discoveries(all.slice(b, b + BATCH)));
    const before = await usedMemory(redis);
    const ms = await pool(torrents, store);
    const stored = await usedMemory(redis);
    const failMs = await pool(failing, fail);
    const failed = await usedMemory(redis);
    perTorrent.push((stored - before) / N);
    console.log(`| ${label} | ${((stored - before) / N).toFixed(0)} | ${((N / ms) * 1000).toFixed(0)} | ${((failed - stored) / failing.length).toFixed(0)} | ${((failing.length / failMs) * 1000).toFixed(0)} |`);
  }
  console.log(`\nratio schema 5 / schema 4 (with metadata): ${(perTorrent[1]! / perTorrent[0]!).toFixed(3)}\n`);

  // Searches: the most common token, one of middling frequency, a rare one, and two tokens.
  const byCount = [...tokens].sort((a, b) => b[1] - a[1]);
  const middling = byCount.find(([, n]) => n <= 200)!;
  const queries: Array<[string, string[]]> = [
    [`most common (${byCount[0]![1]} names)`, [byCount[0]![0]]],
    [`middling (${middling[1]} names)`, [middling[0]]],
    [`rare (${byCount.at(-1)![1]} name)`, [byCount.at(-1)![0]]],
    ['two common tokens', [byCount[0]![0], byCount[1]![0]]],
  ];
  console.log('| query | schema 4, ms | schema 5, one call, ms | schema 5, 64 calls, ms | total 4 / 5 |');
  console.log('|---|---:|---:|---:|---|');
  for (const [label, q] of queries) {
    const page = { limit: 20, offset: 0 };
    const a = await searchMetadata(redis, k4, q, page);
    const b = await searchSharded(redis, k5, q, page);
    const t4 = await median(31, () => searchMetadata(redis, k4, q, page));
    const t5 = await median(31, () => searchSharded(redis, k5, q, page, { oneCall: true }));
    const t5s = await median(31, () => searchSharded(redis, k5, q, page, { oneCall: false }));
    console.log(`| ${label} | ${t4.toFixed(2)} | ${t5.toFixed(2)} | ${t5s.toFixed(2)} | ${a.total} / ${b.total} |`);
  }
  const c4 = await median(11, () => metadataCandidates(redis, k4, { limit: 200, now: NOW }));
  const c5 = await median(11, () => shardedMetadataCandidates(redis, k5, { limit: 200, now: NOW }));
  const popular5 = (await Promise.all(k5.shards.map((s) => redis.zcard(s.popular)))).reduce((a, b) => a + b, 0);
  console.log(`\ncandidates (limit 200; popular holds ${await redis.zcard(k4.popular)} in schema 4, ${popular5} over schema 5's shards): schema 4 ${c4.toFixed(2)} ms, schema 5 ${c5.toFixed(2)} ms`);

  // A search's second step: the window's 1,000 records, in one script or as 1,000 HGETs.
  const reads = torrents.slice(0, 1_000).map((t) => {
    const { shard, bucket } = k5.locate(t.hex);
    return { shard: shard.shard, key: shard.records(bucket), field: Buffer.from(t.hex, 'hex') };
  });
  const viaScript = await median(31, () => readFields(redis, reads));
  const viaCommands = await median(31, () => Promise.all(reads.map((r) => redis.hgetBuffer(r.key, r.field))));
  console.log(`1,000 records: readFields (one script) ${viaScript.toFixed(2)} ms, 1,000 HGETs sent at once ${viaCommands.toFixed(2)} ms`);
  const { shard, bucket } = k5.locate(torrents[0]!.hex);
  console.log(`encodings: metadata bucket ${String(await redis.object('ENCODING', shard.meta(bucket)))}, posting list of the most common token in one shard ${String(await redis.object('ENCODING', shard.postings(byCount[0]![0])))}`);
} finally {
  redis.disconnect();
  await server.stop();
}
