/**
 * Writes test/fixtures/schema-4-index.json: an index written by the schema-4 writer (this
 * commit's applyBatch, storeMetadata and recordMetadataFailure), dumped key by key. Issue 14
 * replaces that writer; migration 005 is tested on this file, so it is generated once, before
 * the change, and committed. Run from the repository root:
 *
 *   node --import ./scripts/ts-node-register.mjs scripts/make-schema4-fixture.ts
 *
 * What it holds (deterministic apart from times, which are relative to when it ran): 120
 * infohashes seen by one to four nodes each, 40 of them with peers (one with more than the
 * per-infohash cap would allow at once), 30 with torrent metadata (names for search, one
 * multi-file), 8 with recorded fetch failures; 60 nodes of 5 client versions with BEP 51 and
 * BEP 42 flags; the per-minute statistics, totals and applied-batch markers those writes made.
 */
import { writeFile } from 'node:fs/promises';
import { Redis } from 'ioredis';
import { encode } from '../bep5/bencode.js';
import { seededRandom, randomInt } from '../bep5/random.js';
import { parseInfoDictionary } from '../bep9/index.js';
import { type Discovery } from '../crawler/discovery.js';
import { applyBatch } from '../indexer/apply-batch.js';
import { IndexKeys, SCHEMA_4_VERSION } from '../indexer/keys.js';
import { recordMetadataFailure } from '../indexer/metadata-fetch-state.js';
import { storeMetadata } from '../indexer/metadata-store.js';
import { MigrationRunner } from '../migrations/runner.js';
import { dumpIndex } from '../testkit/index-dump.js';
import { startRedisServer } from '../testkit/redis-server.js';

const OUT = new URL('../test/fixtures/schema-4-index.json', import.meta.url);
const PREFIX = 'schema4';
const WORDS = ['ubuntu', 'debian', 'server', 'live', 'amd64', 'music', 'album', 'season', 'complete', 'lecture'];
const VERSIONS = ['4c540102', '5554b500', '6c740d80', null, '4c540110'];


const rng = seededRandom(20261206);
const hex = (n: number, tag: string): string => `${tag}${n.toString(16).padStart(40 - tag.length, '0')}`;
const nodeAddr = (n: number): string => `198.51.100.${1 + n}:${6881 + n}`;
const peerAddr = (i: number, j: number): string => `203.0.113.${1 + (i % 250)}:${10_000 + j}`;

const server = await startRedisServer();
const redis = new Redis(server.url);
try {
  const keys = new IndexKeys(PREFIX);
  // Schema 4's writers, on an index migrated up to version 4 only.
  await new MigrationRunner(redis, keys).migrate({ to: SCHEMA_4_VERSION });
  const now = Date.now();
  const start = now - 3 * 3_600_000; // three hours of "crawl", so stats span several minutes and hours

  const nodes: Discovery[] = [];
  for (let n = 0; n < 60; n++) {
    nodes.push({
      type: 'node',
      id: hex(n, 'a'),
      address: nodeAddr(n),
      version: VERSIONS[n % VERSIONS.length]!,
      rttMs: 20 + randomInt(rng, 300),
      bep51: n % 3 === 0 ? null : n % 3 === 1,
      bep42: n % 4 === 0,
      at: start + n * 1000,
    });
  }
  await applyBatch(redis, nodes, { keys, batchId: hex(1, 'b0'), now: start + 60_000 });

  for (let batch = 0; batch < 4; batch++) {
    const events: Discovery[] = [];
    for (let i = batch * 30; i < (batch + 1) * 30; i++) {
      const at = start + i * 60_000;
      for (let s = 0; s <= i % 4; s++) events.push({ type: 'infohash', infohash: hex(i, 'e'), node: nodeAddr((i + s * 7) % 60), source: s === 0 ? 'sample' : 'get_peers', at: at + s });
      if (i % 3 === 0) {
        const count = i === 0 ? 260 : 1 + (i % 5);
        events.push({ type: 'peers', infohash: hex(i, 'e'), peers: Array.from({ length: count }, (_, j) => peerAddr(i, j)), node: nodeAddr(i % 60), at: at + 10 });
      }
      events.push({ type: 'sample', node: nodeAddr(i % 60), num: 20 + i, interval: 21_600, samples: 20, at });
    }
    await applyBatch(redis, events, { keys, batchId: hex(2 + batch, 'b0'), now: start + (batch + 1) * 30 * 60_000 });
  }

  for (let i = 0; i < 30; i++) {
    const name = `${WORDS[i % 10]} ${WORDS[(i * 3 + 1) % 10]} ${2000 + i}`;
    const dict =
      i === 7
        ? { name: Buffer.from(name), 'piece length': 16_384, pieces: Buffer.alloc(20), files: [{ length: 1000, path: [Buffer.from('disc 1'), Buffer.from('a.flac')] }, { length: 2000, path: [Buffer.from('b.flac')] }] }
        : { name: Buffer.from(name), 'piece length': 16_384, pieces: Buffer.alloc(20), length: 1000 + i };
    await storeMetadata(redis, keys, hex(i * 2, 'e'), parseInfoDictionary(encode(dict)), { fetchedAt: start + i * 120_000, peer: peerAddr(i, 0) });
  }
  for (let i = 0; i < 8; i++) {
    await recordMetadataFailure(redis, keys, hex(101 + i * 2, 'e'), { code: i % 2 === 0 ? 'ERR_METADATA_FETCH_FAILED' : 'ERR_METADATA_NO_PEERS', at: start + i * 300_000 });
  }

  const dump = await dumpIndex(redis, PREFIX, `schema ${SCHEMA_4_VERSION}, written by scripts/make-schema4-fixture.ts on ${new Date(now).toISOString()}`);
  await writeFile(OUT, JSON.stringify(dump, null, 1) + '\n');
  console.log(`${dump.keys.length} keys written to ${OUT.pathname}`);
} finally {
  redis.disconnect();
  await server.stop();
}
