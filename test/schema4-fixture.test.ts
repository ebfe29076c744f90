import test from 'ava';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { IndexKeys } from '../indexer/keys.js';
import { metadataState } from '../indexer/metadata-fetch-state.js';
import { getMetadata } from '../indexer/metadata-store.js';
import { getInfohash, infohashCount, nodeCensus } from '../indexer/queries.js';
import { searchMetadata } from '../indexer/search.js';
import { MigrationRunner } from '../migrations/runner.js';
import { dumpIndex, type IndexDump, restoreIndex } from '../testkit/index-dump.js';
import { ROOT } from './helpers/cli.js';
import { randomPrefix, useRedisServer } from './helpers/redis.js';

/**
 * test/fixtures/schema-4-index.json is an index written by the schema-4 writer
 * (scripts/make-schema4-fixture.ts), kept for migration 005 (issue 14). These tests pin what
 * it holds, read through the code that wrote it: a restored copy must be a schema-4 index
 * that the readers of that schema read completely.
 */
const redis = useRedisServer(test);

async function fixture(): Promise<IndexDump> {
  return JSON.parse(await readFile(join(ROOT, 'test', 'fixtures', 'schema-4-index.json'), 'utf8')) as IndexDump;
}

const IH = (n: number): string => `e${n.toString(16).padStart(39, '0')}`;

test('the fixture restores under any prefix, byte for byte', async (t) => {
  const c = redis.client(t);
  const dump = await fixture();
  const prefix = randomPrefix();
  t.is(await restoreIndex(c, dump, prefix), dump.keys.length);
  const again = await dumpIndex(c, prefix, dump.note);
  const strip = (d: IndexDump, p: string): unknown[] => d.keys.map(({ key, type, value, pttl }) => ({ key: key.replace(`{${p}}`, '{}'), type, value, ttl: pttl !== null }));
  t.deepEqual(strip(again, prefix), strip(dump, dump.prefix));
  await t.throwsAsync(restoreIndex(c, dump, prefix), { message: /not empty/ }, 'a second restore into the same index is refused');
});

test('it is a schema-4 index that the schema-4 readers read completely', async (t) => {
  const c = redis.client(t);
  const dump = await fixture();
  const keys = new IndexKeys(randomPrefix());
  await restoreIndex(c, dump, keys.prefix);
  t.is(await new MigrationRunner(c, keys).currentVersion(), 4);
  t.is(await infohashCount(c, keys), 120);

  const busy = await getInfohash(c, keys, IH(0), { now: Date.now(), peerTtlMs: 365 * 86_400_000 });
  t.truthy(busy);
  t.true(busy!.peerCount > 0 && busy!.peerCount < 260, `${busy!.peerCount} peers kept (capped) for the infohash announced with 260`);
  t.is((await getInfohash(c, keys, IH(3)))?.sources, 4, 'seen by four nodes');
  t.is((await getInfohash(c, keys, IH(3)))?.seen, 4);

  // Metadata for i < 30 is stored under IH(2 i); i = 7 is the multi-file torrent.
  const multi = await getMetadata(c, keys, IH(14));
  t.is(multi?.name.display, 'season server 2007');
  t.is(multi?.fileCount, 2);
  t.false(multi?.singleFile);
  const found = await searchMetadata(c, keys, ['ubuntu'], { limit: 50, offset: 0 });
  t.is(found.total, 6, 'the six names with "ubuntu" (i = 0, 3, 10, 13, 20, 23)');

  const failed = await metadataState(c, keys, IH(101));
  t.false(failed.hasMetadata);
  t.is(failed.attempts, 1);
  const census = await nodeCensus(c, keys);
  t.true(census.nodes >= 55 && census.nodes <= 65, `${census.nodes} nodes (HyperLogLog of 60)`);
});
