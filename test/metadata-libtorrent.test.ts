/**
 * The metadata fetcher against a real, independent BitTorrent client: libtorrent 2.0 (Debian's
 * python3-libtorrent) seeding torrents made from files this test writes, on loopback only.
 * Checks the fetched info dict byte for byte against libtorrent's, and the summary against
 * what was written to disk.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { ConnectionGate } from '../bep9/connection-gate.js';
import { fetchFromPeer } from '../bep9/fetch-from-peer.js';
import { fetchMetadata } from '../bep9/fetch-metadata.js';
import { type MetadataLimits } from '../bep9/limits.js';
import { startLibtorrentSeeder, type LibtorrentSeeder } from '../testkit/libtorrent-seeder.js';
import { ScriptedPeer, makeInfoDict, serveMetadata, sha1 } from '../testkit/metadata-peer.js';
import { loopbackHost } from './helpers/udp.js';

const LIMITS: Partial<MetadataLimits> = { connectTimeoutMs: 5_000, handshakeTimeoutMs: 10_000, totalTimeoutMs: 20_000, maxListedFiles: 1_000 };

/** A directory name with non-ASCII text and a control character: must come back byte-exact and display escaped. */
const MULTI_NAME = 'näme-☃\u0001dir';
const SINGLE_NAME = 'single-ünï.bin';
const MULTI_FILES = 300;
const MULTI_PIECE = 16_384;
const SINGLE_PIECE = 32_768;

interface Fixture {
  dir: string;
  /** path relative to the torrent root ('/'-joined) → size */
  written: Map<string, number>;
  seeder: LibtorrentSeeder;
}

async function writeTree(dir: string): Promise<Map<string, number>> {
  const written = new Map<string, number>();
  const root = join(dir, MULTI_NAME);
  for (let i = 0; i < MULTI_FILES; i++) {
    const sub = `sub-${i % 7}`;
    const name = `файл-${String(i).padStart(3, '0')}.txt`;
    const size = 1 + i * 37;
    await mkdir(join(root, sub), { recursive: true });
    await writeFile(join(root, sub, name), Buffer.alloc(size, i & 0xff));
    written.set(`${sub}/${name}`, size);
  }
  await writeFile(join(dir, SINGLE_NAME), Buffer.alloc(100_000, 7));
  return written;
}

let fixture: Fixture | undefined;

test.before(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'dhtscope-metadata-'));
  const written = await writeTree(dir);
  const seeder = await startLibtorrentSeeder(
    [
      { path: join(dir, MULTI_NAME), piece_size: MULTI_PIECE },
      { path: join(dir, SINGLE_NAME), piece_size: SINGLE_PIECE, v1_only: true },
    ],
    loopbackHost(),
  );
  fixture = { dir, written, seeder };
});

test.after.always(async () => {
  await fixture?.seeder.stop();
  if (fixture !== undefined) await rm(fixture.dir, { recursive: true, force: true });
});

function need(): Fixture {
  if (fixture === undefined) throw new Error('fixture not set up');
  return fixture;
}

test('multi-file hybrid torrent: byte-exact info dict, names, files, sizes, piece length', async (t) => {
  const { seeder, written } = need();
  const seeded = seeder.torrents[0]!;
  const infohash = Buffer.from(seeded.infohash, 'hex');
  const result = await fetchMetadata(infohash, [seeder.address], { allowPrivate: true, gate: new ConnectionGate(), limits: LIMITS });

  t.true(sha1(result.info).equals(infohash), 'SHA-1 of the info dict is the infohash');
  t.is(result.info.toString('hex'), seeded.info_hex, 'the bytes libtorrent holds');
  t.true(result.info.length > 2 * 16_384, `metadata of ${result.info.length} bytes spans several pieces`);
  t.regex(result.client ?? '', /^libtorrent\//);

  const p = result.parsed;
  t.true(p.name.raw.equals(Buffer.from(MULTI_NAME, 'utf8')));
  t.is(p.name.display, 'näme-☃\\x01dir');
  t.false(p.singleFile);
  t.is(p.metaVersion, 2);
  t.is(p.pieceLength, MULTI_PIECE);
  t.is(p.pieceLength, seeded.piece_length);
  t.is(p.pieceCount, seeded.num_pieces);
  t.is(p.fileCount, MULTI_FILES, 'pad files are not counted');
  t.is(p.totalSize, [...written.values()].reduce((a, b) => a + b, 0));
  const listed = p.files.map((f) => [f.path.map((e) => e.raw.toString('utf8')).join('/'), f.size]);
  t.deepEqual(listed.sort(), [...written].sort(), 'the files written, each with its size (libtorrent orders them its own way)');
  const first = p.files[0]!;
  t.is(first.displayPath, first.path.map((e) => e.display).join('/'));
});

test('single-file v1 torrent', async (t) => {
  const { seeder } = need();
  const seeded = seeder.torrents[1]!;
  const infohash = Buffer.from(seeded.infohash, 'hex');
  const result = await fetchFromPeer(infohash, seeder.address, { limits: LIMITS });
  t.is(result.info.toString('hex'), seeded.info_hex);
  const p = result.parsed;
  t.true(p.singleFile);
  t.is(p.metaVersion, 1);
  t.is(p.name.display, SINGLE_NAME);
  t.is(p.fileCount, 1);
  t.is(p.totalSize, 100_000);
  t.is(p.pieceLength, SINGLE_PIECE);
  t.is(p.pieceCount, Math.ceil(100_000 / SINGLE_PIECE));
  t.deepEqual(
    p.files.map((f) => [f.displayPath, f.size]),
    [[SINGLE_NAME, 100_000]],
  );
});

test('a hostile peer listed first, then the libtorrent seeder: the fetch succeeds from the seeder', async (t) => {
  const { seeder } = need();
  const seeded = seeder.torrents[0]!;
  const infohash = Buffer.from(seeded.infohash, 'hex');
  // Serves valid metadata of another torrent under this infohash.
  const liar = await ScriptedPeer.start(loopbackHost(), serveMetadata(makeInfoDict('decoy', 50), { infohash }));
  t.teardown(() => liar.close());
  const result = await fetchMetadata(infohash, [liar.address, seeder.address], {
    allowPrivate: true,
    peersAtOnce: 1,
    gate: new ConnectionGate(),
    limits: LIMITS,
  });
  t.is(result.info.toString('hex'), seeded.info_hex);
  t.is(result.peer, `${seeder.address.host}:${seeder.address.port}`);
  t.deepEqual(
    result.attempts.map((a) => a.code),
    ['ERR_METADATA_HASH_MISMATCH', 'OK'],
  );
});

test('several fetches from libtorrent at once (one connection each)', async (t) => {
  const { seeder } = need();
  const gate = new ConnectionGate({ maxConnectionsPerIp: 4, ipAttemptBurst: 10 });
  const results = await Promise.all(
    seeder.torrents.flatMap((s) =>
      [0, 1].map(() => fetchMetadata(Buffer.from(s.infohash, 'hex'), [seeder.address], { allowPrivate: true, gate, limits: LIMITS })),
    ),
  );
  t.deepEqual(
    results.map((r) => r.info.toString('hex')),
    seeder.torrents.flatMap((s) => [s.info_hex, s.info_hex]),
  );
  t.is(gate.active, 0, 'every connection released');
});
