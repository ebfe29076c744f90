import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { newBatchId } from '../indexer/batch-id.js';
import { createApiServer } from '../server/api/server.js';
import { IndexKeys } from '../indexer/keys.js';
import { connectRedis } from '../redis/connection.js';
import { ensureSchema } from '../migrations/runner.js';
import { startWorkers } from '../workers/worker-set.js';
import { startLibtorrentSeeder, type LibtorrentSeeder } from '../testkit/libtorrent-seeder.js';
import { randomPrefix, useRedisServer } from './helpers/redis.js';
import { loopbackHost } from './helpers/udp.js';
import { pollValue } from './helpers/wait.js';
import { applyIndexed, metadataIndexed, stateIndexed } from './helpers/index-writes.js';

/**
 * The metadata queue end to end: an infohash with a peer in the index is picked up by the
 * workers' sweep, its info dictionary fetched from a real, independent BitTorrent client
 * (Debian's python3-libtorrent, seeding on loopback files this test writes), verified, stored,
 * and found by name through the HTTP API's search. A peer that refuses connections leaves a
 * recorded failure and nothing stored.
 */

const redis = useRedisServer(test);
const NAME = 'Debian Netinst Mirror 12.5';
const FILES: Array<[string, number]> = [
  ['debian-12.5.0-amd64-netinst.iso', 300_000],
  ['SHA256SUMS', 1_234],
  ['docs/README.txt', 4_567],
];

let dir = '';
let seeder: LibtorrentSeeder;

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dhtscope-metadata-worker-'));
  const root = join(dir, NAME);
  for (const [path, size] of FILES) {
    await mkdir(join(root, path, '..'), { recursive: true });
    await writeFile(join(root, path), Buffer.alloc(size, path.length));
  }
  seeder = await startLibtorrentSeeder([{ path: root, piece_size: 16_384 }], loopbackHost());
});

test.after.always(async () => {
  await seeder?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function closedPort(host: string): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, host, r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

test('workers fetch metadata from a libtorrent seeder, store it, and search finds it by name', async (t) => {
  t.timeout(120_000);
  const keys = new IndexKeys(randomPrefix());
  const connection = await connectRedis({ url: redis.server.url, dataDir: dir });
  t.teardown(() => connection.close());
  await ensureSchema(connection.client, keys, { migrate: true });

  const good = seeder.torrents[0]!.infohash;
  const bad = 'ab'.repeat(20);
  const host = loopbackHost();
  const now = Date.now();
  await applyIndexed(
    connection.client,
    [
      { type: 'infohash', infohash: good, node: '127.9.9.9:6881', source: 'sample', at: now },
      { type: 'peers', infohash: good, peers: [`${seeder.address.host}:${seeder.address.port}`], node: '127.9.9.9:6881', at: now },
      { type: 'infohash', infohash: bad, node: '127.9.9.9:6881', source: 'sample', at: now },
      { type: 'peers', infohash: bad, peers: [`${host}:${await closedPort(host)}`], node: '127.9.9.9:6881', at: now },
    ],
    { keys, batchId: newBatchId() },
  );

  const workers = await startWorkers({
    connection,
    keys,
    metadata: { allowPrivate: true, sweepMs: 200, fetchOptions: { limits: { connectTimeoutMs: 3_000, totalTimeoutMs: 15_000 } } },
  });
  t.teardown(() => workers.close());

  const { stored, badState } = await pollValue(
    'the good torrent stored and the bad one tried',
    async () => ({ stored: await metadataIndexed(connection.client, keys, good), badState: await stateIndexed(connection.client, keys, bad) }),
    (v) => v.stored !== null && v.badState.attempts > 0,
    90_000,
  );
  t.not(stored, null, 'the metadata of the seeded torrent was stored');
  const api = await createApiServer({ redis: connection.client, keys });
  t.teardown(() => api.close());

  const record = (await api.inject({ method: 'GET', url: `/api/infohashes/${good}` })).json<{ metadata: { name: { display: string }; fileCount: number; totalSize: number; files: Array<{ path: string; size: number }> } }>();
  t.is(record.metadata.name.display, NAME);
  t.is(record.metadata.fileCount, FILES.length);
  t.is(record.metadata.totalSize, FILES.reduce((sum, [, size]) => sum + size, 0));
  t.deepEqual(
    record.metadata.files.map((f) => [f.path, f.size]).sort(),
    FILES.map(([path, size]) => [path, size]).sort(),
  );

  const search = await api.inject({ method: 'GET', url: '/api/search?q=netinst%20mirror' });
  t.is(search.statusCode, 200, search.body);
  t.deepEqual(
    search.json<{ items: Array<{ infohash: string }> }>().items.map((i) => i.infohash),
    [good],
  );
  t.is((await api.inject({ method: 'GET', url: '/api/search?q=ubuntu' })).json<{ items: unknown[] }>().items.length, 0);

  // The refusing peer: a failure recorded with its code, a retry scheduled, nothing stored.
  t.true(badState.attempts >= 1, 'the failed fetch was recorded');
  t.false(badState.hasMetadata);
  t.truthy(badState.lastError);
  t.false(badState.needsMetadata, 'not fetched again before its retry is due');
  t.true(workers.stats().metadataStored >= 1);
  t.true(workers.stats().metadataFailed >= 1);
});
