/**
 * The parts under `dhtscope export` and `import` (indexer/export-stream.ts, import-lines.ts,
 * export-format.ts, import-merge.ts) on their own: the walk lists every infohash once and in
 * order across chunks and shards, on buckets big enough to be read in several HSCAN steps, and
 * during migration 005's move; the line readers give the same records however the input is cut
 * into chunks; display forms turn back into their bytes; exported source counts read back.
 */
import test from 'ava';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { Cluster, Redis } from 'ioredis';
import { displayText } from '../bep5/display-text.js';
import { type Discovery } from '../crawler/discovery.js';
import { newBatchId } from '../indexer/batch-id.js';
import { type ExportRow, displayBytes, ndjsonLine } from '../indexer/export-format.js';
import { exportIndex } from '../indexer/export-stream.js';
import { type Piece, csvRecords, ndjsonLines } from '../indexer/import-lines.js';
import { emptyCounts, mergeImport, sourceBitCount } from '../indexer/import-merge.js';
import { rowFromJson } from '../indexer/import-parse.js';
import { indexedSummaries } from '../indexer/indexed-reads.js';
import { estimateSources } from '../indexer/infohash-record.js';
import { IndexKeys } from '../indexer/keys.js';
import { storeMetadata } from '../indexer/metadata-store.js';
import { storeShardedMetadata } from '../indexer/sharded-metadata.js';
import { MigrationRunner } from '../migrations/runner.js';
import { type RedisClient } from '../redis/client.js';
import { applyShardedBatch, SHARDED_SCHEMA_VERSION } from '../indexer/sharded-apply.js';
import { ShardedIndexKeys } from '../indexer/sharded-keys.js';
import { setShardedSchemaVersion } from '../indexer/sharded-queries.js';
import { parseInfoDictionary } from '../bep9/index.js';
import { encode } from '../bep5/bencode.js';
import { moveSchema4 } from '../migrations/schema4-mover.js';
import { params } from './helpers/fast-check.js';
import { randomPrefix, startRedisServer, useRedisServer } from './helpers/redis.js';
import { lockFor, node, writeLegacy } from './helpers/schema4.js';

const redis = useRedisServer(test);

async function walk(c: RedisClient, keys: ShardedIndexKeys, opts: Parameters<typeof exportIndex>[2] = {}, during?: (chunk: number) => Promise<void>) {
  const rows: ExportRow[] = [];
  let chunks = 0;
  const stats = await exportIndex(c, keys, opts, async (chunk) => {
    rows.push(...chunk);
    const n = chunks++;
    await during?.(n);
  });
  return { rows, chunks, stats };
}

function sightings(hexes: readonly string[], at: number): Discovery[] {
  return hexes.map((infohash, i) => ({ type: 'infohash', infohash, node: node(i), source: 'sample', at: at + (i % 1000) }));
}

test('every infohash once, sorted by infohash across chunks and shards, with the summaries the API lists', async (t) => {
  const c = redis.client(t);
  const keys = new ShardedIndexKeys(randomPrefix());
  await setShardedSchemaVersion(c, keys, SHARDED_SCHEMA_VERSION);
  const now = Date.now();
  const hexes = Array.from({ length: 3000 }, () => randomBytes(20).toString('hex'));
  await applyShardedBatch(c, sightings(hexes, now - 60_000), { keys, batchId: newBatchId(), now });
  const { rows, chunks, stats } = await walk(c, keys, { targetRows: 100 });
  t.deepEqual(rows.map((r) => r.infohash), [...hexes].sort());
  t.true(chunks > 20, `${chunks} chunks`);
  t.like(stats, { rows: 3000, damaged: 0, moving: false, movedDuring: 0 });
  const some = rows.slice(0, 50);
  t.deepEqual(
    some.map(({ metadata, peers, ...r }) => ({ ...r, peerCount: peers })),
    (await indexedSummaries(c, keys, some.map((r) => r.infohash))).map((s) => ({ ...s })),
  );
  // --since: filtered before anything else is read, the same rows as filtering afterwards.
  const since = now - 60_000 + 500;
  t.deepEqual((await walk(c, keys, { since })).rows, rows.filter((r) => r.lastSeen >= since));
});

test('buckets too large for a listpack are read in HSCAN steps, each record once', async (t) => {
  // A server of its own, where 4 fields already make a hash table (HSCAN then returns it in steps).
  const server = await startRedisServer({ args: ['--hash-max-listpack-entries', '4'] });
  t.teardown(() => server.stop());
  const c = new Redis(server.url);
  t.teardown(() => c.disconnect());
  const keys = new ShardedIndexKeys(randomPrefix());
  await setShardedSchemaVersion(c, keys, SHARDED_SCHEMA_VERSION);
  // 3,000 infohashes in 2 buckets (a bucket is the first 17 bits): 1,500 each.
  const hexes = Array.from({ length: 3000 }, (_, i) => `abcd${i % 2 === 0 ? '0' : '8'}${randomBytes(18).toString('hex').slice(1)}`);
  await applyShardedBatch(c, sightings(hexes, Date.now() - 1000), { keys, batchId: newBatchId() });
  const { shard, bucket } = keys.locate(hexes[0]!);
  t.is(await c.object('ENCODING', shard.records(bucket)), 'hashtable');
  const { rows } = await walk(c, keys);
  t.deepEqual(rows.map((r) => r.infohash), [...new Set(hexes)].sort());
});

test('during the schema-4 to 5 move: each infohash listed with both layouts merged; with the mover running, none missed', async (t) => {
  const c = redis.client(t);
  const legacy = new IndexKeys(randomPrefix());
  const keys = new ShardedIndexKeys(legacy.prefix);
  const now = Date.now();
  const truth = await writeLegacy(c, legacy, 300, now);
  const old = [...truth.keys()];
  const info = parseInfoDictionary(encode({ name: Buffer.from('Legacy Torrent'), 'piece length': 16_384, pieces: Buffer.alloc(20), length: 10 }));
  await storeMetadata(c, legacy, old[1]!, info, { fetchedAt: now - 5000, peer: '192.0.2.1:1' });
  await setShardedSchemaVersion(c, keys, SHARDED_SCHEMA_VERSION);
  // Seen again in schema 5 (old[0]) and new ones.
  const fresh = Array.from({ length: 50 }, () => randomBytes(20).toString('hex'));
  await applyShardedBatch(c, sightings([old[0]!, ...fresh], now), { keys, batchId: newBatchId(), now });

  const idle = await walk(c, keys);
  const all = [...old, ...fresh];
  t.deepEqual(idle.rows.map((r) => r.infohash).sort(), [...all].sort());
  t.like(idle.stats, { moving: true, movedDuring: 0 });
  const merged = idle.rows.find((r) => r.infohash === old[0])!;
  t.like(merged, { seen: truth.get(old[0]!)!.seen + 1, firstSeen: truth.get(old[0]!)!.first, lastSeen: now });
  t.is(idle.rows.find((r) => r.infohash === old[1])!.metadata?.name.display, 'Legacy Torrent');
  const summaries = await indexedSummaries(c, keys, all);
  for (const s of summaries) {
    const row = idle.rows.find((r) => r.infohash === s.infohash)!;
    t.deepEqual([row.firstSeen, row.lastSeen, row.seen, row.sources], [s.firstSeen, s.lastSeen, s.seen, s.sources], s.infohash);
  }

  // The mover takes a chunk of 200 while the export is under way (after its first chunk).
  const lock = await lockFor(c, legacy);
  const running = await walk(c, keys, { targetRows: 50 }, async (chunk) => {
    if (chunk !== 0) return;
    const stop = new AbortController();
    await moveSchema4(c, { legacy, keys, lock, now: () => now, signal: stop.signal, onChunk: () => stop.abort() });
  });
  t.is(running.stats.movedDuring, 200);
  t.deepEqual([...new Set(running.rows.map((r) => r.infohash))].sort(), [...all].sort(), 'none missed');
  const byHex = new Map<string, ExportRow>();
  for (const r of running.rows) {
    const before = byHex.get(r.infohash);
    if (before !== undefined) t.deepEqual([r.firstSeen, r.lastSeen, r.seen], [before.firstSeen, before.lastSeen, before.seen], `${r.infohash} listed twice with other values`);
    byHex.set(r.infohash, r);
  }
  t.true(running.rows.length - byHex.size <= 200);

  await moveSchema4(c, { legacy, keys, lock, now: () => now });
  const after = await walk(c, keys);
  t.like(after.stats, { moving: false });
  t.deepEqual(
    after.rows.map((r) => [r.infohash, r.firstSeen, r.lastSeen, r.seen]),
    [...idle.rows].sort((a, b) => (a.infohash < b.infohash ? -1 : 1)).map((r) => [r.infohash, r.firstSeen, r.lastSeen, r.seen]),
  );
  t.is(after.rows.find((r) => r.infohash === old[1])!.metadata?.name.display, 'Legacy Torrent');
});

test('Redis Cluster: the walk and the import scripts each stay in one slot; a round trip through NDJSON', async (t) => {
  const server = await startRedisServer({ cluster: true });
  t.teardown(() => server.stop());
  const cluster = new Cluster([{ host: server.host, port: server.port }]);
  t.teardown(() => void cluster.disconnect());
  const from = new IndexKeys(randomPrefix());
  const to = new IndexKeys(randomPrefix());
  for (const k of [from, to]) await new MigrationRunner(cluster, k).migrate();
  const keys = ShardedIndexKeys.of(from.prefix);
  const now = Date.now();
  const hexes = Array.from({ length: 400 }, () => randomBytes(20).toString('hex'));
  await applyShardedBatch(cluster, sightings(hexes, now - 60_000), { keys, batchId: newBatchId(), now });
  const info = parseInfoDictionary(encode({ name: Buffer.from('Cluster, "quoted" name'), 'piece length': 16_384, pieces: Buffer.alloc(20), length: 10 }));
  for (const hex of hexes.slice(0, 40)) await storeShardedMetadata(cluster, keys, hex, info, { fetchedAt: now - 1000, peer: '192.0.2.1:1' });
  const exported = await walk(cluster, keys, { targetRows: 50 });
  t.is(exported.rows.length, 400);
  const counts = emptyCounts();
  const lines = exported.rows.map(ndjsonLine);
  await mergeImport(cluster, ShardedIndexKeys.of(to.prefix), lines.map((l) => rowFromJson(l, now)), counts);
  t.like(counts, { created: 400, metadataStored: 40 });
  t.deepEqual((await walk(cluster, ShardedIndexKeys.of(to.prefix))).rows.map(ndjsonLine), lines);
});

// ---- line readers ---------------------------------------------------------------------------

async function collect<T>(gen: AsyncIterable<Piece<T>>): Promise<Array<Piece<T>>> {
  const out: Array<Piece<T>> = [];
  for await (const p of gen) out.push(p);
  return out;
}

/** `text` delivered in chunks cut at the given offsets. */
async function* cut(bytes: Buffer, at: readonly number[]): AsyncGenerator<Buffer> {
  let from = 0;
  for (const i of [...at, bytes.length]) {
    yield bytes.subarray(from, i);
    from = i;
  }
}

test('CSV records: the same however the input is cut (a CRLF or a doubled quote split across chunks)', async (t) => {
  const text = Buffer.from('a,"b,""c""\r\nd",e\r\n\r\n"x"\r\nf,g\n"h""i","j"\r\n,\r\nlast,"no line end"');
  const whole = await collect(csvRecords(cut(text, [])));
  t.deepEqual(whole, [
    { line: 1, value: ['a', 'b,"c"\r\nd', 'e'] },
    { line: 4, value: ['x'] },
    { line: 5, value: ['f', 'g'] },
    { line: 6, value: ['h"i', 'j'] },
    { line: 7, value: ['', ''] },
    { line: 8, value: ['last', 'no line end'] },
  ]);
  for (let i = 1; i < text.length; i++) t.deepEqual(await collect(csvRecords(cut(text, [i]))), whole, `cut at ${i}`);
  t.deepEqual(await collect(csvRecords(cut(text, Array.from({ length: text.length - 1 }, (_, i) => i + 1)))), whole, 'a byte at a time');
});

test('CSV records: syntax errors and over-long records are reported at their first line, and reading goes on', async (t) => {
  const text = Buffer.from('ok,1\nbad"quote,2\n"closed"x,3\n"' + 'y'.repeat(100) + '\nstill open",4\nok,5\n"never closed,6\n');
  t.deepEqual(await collect(csvRecords(cut(text, [7, 40]), 64)), [
    { line: 1, value: ['ok', '1'] },
    { line: 2, error: 'CSV syntax', message: 'a quote inside an unquoted cell' },
    { line: 3, error: 'CSV syntax', message: 'only a comma or a line end may follow a closing quote' },
    { line: 4, error: 'too long', message: 'longer than 64 bytes' },
    { line: 6, value: ['ok', '5'] },
    { line: 7, error: 'CSV syntax', message: 'a quoted cell is not closed at the end of the file' },
  ]);
});

test('NDJSON lines: an over-long line is skipped without being held, CRLF and a BOM are taken, bad UTF-8 is reported', async (t) => {
  const text = Buffer.concat([Buffer.from('\ufeff{"a":1}\r\n' + 'x'.repeat(5000) + '\n  \n{"b":2}\n'), Buffer.from([0xc3, 0x28, 0x0a]), Buffer.from('{"c":3}')]);
  const want = [
    { line: 1, value: '{"a":1}' },
    { line: 2, error: 'too long', message: 'longer than 100 bytes' },
    { line: 4, value: '{"b":2}' },
    { line: 5, error: 'not UTF-8', message: 'not UTF-8 text' },
    { line: 6, value: '{"c":3}' },
  ];
  t.deepEqual(await collect(ndjsonLines(cut(text, []), 100)), want);
  for (const at of [[1], [5, 9, 10], [2000, 4000, 5010], [5020, 5021]]) t.deepEqual(await collect(ndjsonLines(cut(text, at), 100)), want, `cut at ${at.join(',')}`);
});

test('display forms turn back into their bytes: names, and path elements with a / in them', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), fc.array(fc.uint8Array({ maxLength: 16 }), { minLength: 1, maxLength: 4 }), (name, path) => {
      t.deepEqual(displayBytes(displayText(name)), Buffer.from(name));
      const shown = path.map((e) => displayText(e, '/')).join('/');
      t.deepEqual(shown.split('/').map((e) => displayBytes(e)), path.map((e) => Buffer.from(e)));
    }),
    params(500),
  );
  t.deepEqual(displayBytes('a\nb \\u{1F600}'), Buffer.from('a\nb 😀'));
  for (const bad of ['a\\', '\\q', '\\x4', '\\u{110000}', '\\u{d800}', '\\u{}', 'x\ud800y']) t.throws(() => displayBytes(bad), { instanceOf: RangeError }, bad);
});

test('an exported source count reads back the same from the bits an import sets', (t) => {
  for (let k = 0; k <= 32; k++) {
    const exported = estimateSources(k === 0 ? 0 : (2 ** k - 1) >>> 0);
    const bits = sourceBitCount(exported);
    t.is(estimateSources(bits === 0 ? 0 : (2 ** bits - 1) >>> 0), exported, `k ${k}`);
  }
  t.is(sourceBitCount(0), 0);
  t.is(sourceBitCount(1_000_000), 32);
});
