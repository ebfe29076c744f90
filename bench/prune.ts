/**
 * Retention benchmark: pruning quiet infohashes from the index (indexer/prune.ts), against a
 * raw ioredis pipeline of the same deletions, on a real redis-server this script starts on a
 * free loopback port (no persistence). Run from the repository root:
 *
 *   node --import ./scripts/ts-node-register.mjs bench/prune.ts [infohashes]   # or: npm run bench:prune
 *
 * Each side gets its own index of the same shape: INFOHASHES infohashes seen 40 days ago with
 * two peers each, a quarter with torrent metadata (a name of ~6 search tokens), then prunes
 * everything older than 30 days. Ours: pruneIndex (chunks of 200: pick, read tokens, one
 * checking script). The reference: the same keys and index entries removed by pipelines of
 * 200 infohashes (ZRANGE, HGET tokens, then DEL/ZREM), with no re-check, so a write landing
 * in between would be lost. Prints wall time, infohashes per second, the scripts' time inside
 * Redis (SLOWLOG), the ratio, and memory before and after.
 */
import { Redis } from 'ioredis';
import { encode } from '../bep5/bencode.js';
import { type Discovery } from '../crawler/discovery.js';
import { applyBatch } from '../indexer/apply-batch.js';
import { newBatchId } from '../indexer/batch-id.js';
import { IndexKeys, SCHEMA_4_VERSION } from '../indexer/keys.js';
import { storeMetadata } from '../indexer/metadata-store.js';
import { pruneIndex } from '../indexer/prune.js';
import { PRUNE_CHUNK } from '../indexer/retention-constants.js';
import { MigrationRunner } from '../migrations/runner.js';
import { startRedisServer } from '../testkit/redis-server.js';
import { parseInfoDictionary } from '../bep9/index.js';

const INFOHASHES = Number(process.argv[2] ?? 20_000);
const DAY = 86_400_000;
const WORDS = ['ubuntu', 'debian', 'linux', 'movie', 'music', 'album', 'season', 'episode', 'complete', 'collection'];

const server = await startRedisServer();
const redis = new Redis(server.url);

async function seed(keys: IndexKeys, tag: string): Promise<void> {
  await new MigrationRunner(redis, keys).migrate({ to: SCHEMA_4_VERSION }); // schema 4's writer
  const old = Date.now() - 40 * DAY;
  const ih = (n: number): string => `${tag}${n.toString(16).padStart(39, '0')}`;
  for (let b = 0; b < INFOHASHES; b += 1000) {
    const events: Discovery[] = [];
    for (let i = b; i < Math.min(b + 1000, INFOHASHES); i++) {
      events.push({ type: 'infohash', infohash: ih(i), node: `10.0.${i & 255}.1:6881`, source: 'sample', at: old + i });
      events.push({ type: 'peers', infohash: ih(i), peers: [`198.51.100.${i & 255}:${1000 + (i % 5000)}`, `198.51.101.${i & 255}:2000`], node: '10.0.0.1:6881', at: old + i });
    }
    await applyBatch(redis, events, { keys, batchId: newBatchId(), now: old + INFOHASHES });
  }
  for (let i = 0; i < INFOHASHES; i += 4) {
    const name = `${WORDS[i % 10]} ${WORDS[(i >> 3) % 10]} ${WORDS[(i >> 6) % 10]} part ${i}`;
    const info = parseInfoDictionary(encode({ name: Buffer.from(name), 'piece length': 16_384, pieces: Buffer.alloc(20), length: 1000 }));
    await storeMetadata(redis, keys, ih(i), info, { fetchedAt: old + i, peer: '198.51.100.1:1000' });
  }
}

/** The reference: the same removals, pipelined, unchecked. */
async function rawPrune(keys: IndexKeys, seenBefore: number): Promise<number> {
  let pruned = 0;
  for (;;) {
    const hexes = await redis.zrangebyscore(keys.infohashes, '-inf', `(${seenBefore}`, 'LIMIT', 0, PRUNE_CHUNK);
    if (hexes.length === 0) return pruned;
    const tokens = await Promise.all(hexes.map((h) => redis.hget(keys.infohashMetadata(h), 'tokens')));
    const p = redis.pipeline();
    hexes.forEach((h, i) => {
      p.del(keys.infohash(h), keys.infohashSources(h), keys.infohashPeers(h), keys.infohashMetadata(h), keys.infohashFetch(h));
      for (const z of [keys.infohashes, keys.recent, keys.popular, keys.metadataFetched, keys.metadataWait]) p.zrem(z, h);
      for (const t of tokens[i] ? tokens[i]!.split(' ') : []) p.zrem(keys.searchToken(t), h);
    });
    p.hincrby(keys.totals, 'infohashes:pruned', hexes.length);
    await p.exec();
    pruned += hexes.length;
  }
}

async function usedMemory(): Promise<number> {
  return Number((await redis.info('memory')).match(/used_memory:(\d+)/)![1]);
}

/** Runs `fn` with SLOWLOG recording every command; returns its wall ms and the EVALSHA/EVAL times inside Redis. */
async function timed(fn: () => Promise<number>): Promise<{ ms: number; pruned: number; scriptMs: number[] }> {
  await redis.config('SET', 'slowlog-log-slower-than', '0');
  await redis.config('SET', 'slowlog-max-len', '100000');
  await redis.slowlog('RESET');
  const t0 = performance.now();
  const pruned = await fn();
  const ms = performance.now() - t0;
  const log = (await redis.slowlog('GET', 100_000)) as Array<[number, number, number, string[]]>;
  await redis.config('SET', 'slowlog-log-slower-than', '10000');
  await redis.slowlog('RESET'); // its entries hold memory too
  const scriptMs = log.filter((e) => /^eval/i.test(String(e[3][0]))).map((e) => e[2] / 1000).sort((a, b) => a - b);
  return { ms, pruned, scriptMs };
}

const base = await usedMemory();
const oursKeys = new IndexKeys('bench-prune-ours');
const rawKeys = new IndexKeys('bench-prune-raw');
await seed(oursKeys, 'a');
await seed(rawKeys, 'b');
const seeded = await usedMemory();
const seenBefore = Date.now() - 30 * DAY;

const ours = await timed(async () => (await pruneIndex(redis, { keys: oursKeys, seenBefore })).pruned);
const raw = await timed(() => rawPrune(rawKeys, seenBefore));
const after = await usedMemory();

const rate = (r: { ms: number; pruned: number }): string => Math.round((r.pruned * 1000) / r.ms).toLocaleString('en');
const median = (xs: number[]): string => (xs.length === 0 ? '-' : xs[xs.length >> 1]!.toFixed(2));
console.log(`# Prune benchmark: ${INFOHASHES.toLocaleString('en')} infohashes 40 days old per side (2 peers each, a quarter with metadata)`);
console.log(`Node ${process.version}, redis-server on 127.0.0.1 (no persistence), ${new Date().toISOString()}\n`);
console.log('| pruner | infohashes | wall ms | infohashes/s | script ms inside Redis, median / max |');
console.log('| --- | ---: | ---: | ---: | ---: |');
console.log(`| ours: pruneIndex (checked script per ${PRUNE_CHUNK}) | ${ours.pruned} | ${ours.ms.toFixed(0)} | ${rate(ours)} | ${median(ours.scriptMs)} / ${(ours.scriptMs.at(-1) ?? 0).toFixed(2)} |`);
console.log(`| raw ioredis pipelines, unchecked | ${raw.pruned} | ${raw.ms.toFixed(0)} | ${rate(raw)} | - |`);
console.log(`\nratio ours / raw (infohashes/s): ${(raw.ms / ours.ms).toFixed(2)}`);
console.log(`Redis used_memory: ${(base / 1e6).toFixed(1)} MB empty, ${(seeded / 1e6).toFixed(1)} MB with both indexes, ${(after / 1e6).toFixed(1)} MB after both prunes`);
redis.disconnect();
await server.stop();
