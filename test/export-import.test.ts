/**
 * `dhtscope export` and `dhtscope import` (cli/commands/export.ts, import.ts; indexer/export-*.ts,
 * import-*.ts, lua/import-shard.lua) against an index written through the real write path
 * (batches, metadata stores) on a real redis-server, run in-process (a process per run would
 * cost seconds of CPU each; test/cli-export-import.test.ts runs the real binary): what each
 * format holds, --since, hostile names through CSV, the round trip into a second index, the
 * merge rules, and bad lines reported by number while the good ones are imported.
 */
import test, { type ExecutionContext } from 'ava';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Redis } from 'ioredis';
import { displayText } from '../bep5/display-text.js';
import { encode } from '../bep5/bencode.js';
import { parseInfoDictionary } from '../bep9/index.js';
import { exportCommand } from '../cli/commands/export.js';
import { type ImportSummary, importCommand } from '../cli/commands/import.js';
import { type Discovery } from '../crawler/discovery.js';
import { newBatchId } from '../indexer/batch-id.js';
import { EXPORT_COLUMNS } from '../indexer/export-format.js';
import { IndexKeys } from '../indexer/keys.js';
import { type MetadataInput } from '../indexer/metadata-store.js';
import { ShardedIndexKeys } from '../indexer/sharded-keys.js';
import { searchSharded } from '../indexer/sharded-search.js';
import { writeSwarmEstimates } from '../indexer/swarm-estimates.js';
import { tokenize } from '../indexer/search-tokens.js';
import { MigrationRunner } from '../migrations/runner.js';
import { type InProcessRun, runInProcess } from './helpers/in-process-command.js';
import { hostIn, infohashes, peerIn } from './helpers/generators.js';
import { applyIndexed, getIndexed, metadataIndexed, storeIndexed } from './helpers/index-writes.js';
import { randomPrefix, useRedisServer } from './helpers/redis.js';
import { writeLegacy } from './helpers/schema4.js';

const redis = useRedisServer(test);

const IH = infohashes('c');
/** In another shard than IH's, and before them in infohash order. */
const LOW = infohashes('3');
const NODE = hostIn('10.0.9');
const PEER = peerIn('198.51.100', 4000);
const NOW = Date.now();
const T0 = NOW - 3_600_000;
const DAY = 86_400_000;
/** Commas, quotes, a line break, a backslash, a bidi override, a byte that is not UTF-8. */
const HOSTILE = Buffer.concat([Buffer.from('Foo, "Bar"\nBaz \\ \u202eevil; x'), Buffer.from([0xff])]);

/** A real info dict through the fetcher's parser. */
function summary(name: string | Buffer, paths: Array<Array<string | Buffer>>, fileSize = 1000): MetadataInput {
  const total = paths.length * fileSize;
  const dict: Record<string, unknown> = { name: Buffer.from(name), 'piece length': 16_384, pieces: Buffer.alloc(Math.ceil(total / 16_384) * 20, 7) };
  if (paths.length === 1 && paths[0]!.length === 1) dict['length'] = fileSize;
  else dict['files'] = paths.map((p) => ({ length: fileSize, path: p.map((e) => Buffer.from(e)) }));
  return parseInfoDictionary(encode(dict as Parameters<typeof encode>[0]));
}

interface Seeded {
  c: Redis;
  keys: IndexKeys;
  args: string[];
}

const argsOf = (keys: IndexKeys): string[] => ['--redis-url', redis.server.url, '--prefix', keys.prefix];

async function fresh(t: ExecutionContext): Promise<Seeded> {
  const { c, keys } = await redis.freshIndex(t);
  return { c, keys, args: argsOf(keys) };
}

/**
 * IH(1): three sightings, two peers, a hostile name with hostile paths; IH(2): seen 3 days ago
 * only; IH(3): a multi-file torrent; LOW(1): another shard.
 */
async function seeded(t: ExecutionContext): Promise<Seeded> {
  const s = await fresh(t);
  const events: Discovery[] = [
    ...[0, 1, 2].map((i): Discovery => ({ type: 'infohash', infohash: IH(1), node: NODE(i + 1), source: 'sample', at: T0 + i * 1000 })),
    { type: 'peers', infohash: IH(1), peers: [PEER(1), PEER(2)], node: NODE(1), at: T0 + 5000 },
    { type: 'infohash', infohash: IH(2), node: NODE(4), source: 'get_peers', at: NOW - 3 * DAY },
    { type: 'infohash', infohash: IH(3), node: NODE(5), source: 'sample', at: T0 + 7000 },
    { type: 'infohash', infohash: LOW(1), node: NODE(6), source: 'sample', at: T0 + 9000 },
  ];
  await applyIndexed(s.c, events, { keys: s.keys, batchId: newBatchId() });
  await storeIndexed(s.c, s.keys, IH(1), summary(HOSTILE, [['dir,1', 'a/b "c";d.txt'], [Buffer.from('e\nf\\g'), Buffer.from([0xfe, 0x41])]]), { fetchedAt: T0 + 10_000, peer: PEER(1) });
  await storeIndexed(s.c, s.keys, IH(3), summary('Ubuntu 24.04 Desktop', [['ubuntu.iso'], ['docs', 'README.txt']], 40_000), { fetchedAt: T0 + 11_000, peer: PEER(2) });
  return s;
}

/** Runs a command in-process (serial tests only: it swaps process.stdout). */
const run = (command: typeof exportCommand, argv: string[]): Promise<InProcessRun> => runInProcess(command, argv);

function tmp(t: ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'dhtscope-export-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** An independent RFC 4180 reader for the test's own checks (not the importer's). */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') (cell += '"'), i++;
      else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') row.push(cell), (cell = '');
    else if (ch === '\r' && text[i + 1] === '\n') {
      row.push(cell), rows.push(row), (row = []), (cell = ''), i++;
    } else cell += ch;
  }
  return rows;
}

const ndjson = (r: InProcessRun): Array<Record<string, unknown>> => r.stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
const iso = (ms: number): string => new Date(ms).toISOString();
const withoutPeers = (lines: string): string => lines.replace(/"peers":\d+/g, '"peers":0').replace(/^([^,]*,[^,]*,[^,]*,[^,]*,[^,]*,)\d+/gm, '$1P');

test.serial('NDJSON: one object per infohash, sorted, with the columns in order and what the API shows', async (t) => {
  const s = await seeded(t);
  const r = await run(exportCommand, s.args);
  t.is(r.code, 0, r.stderr);
  const rows = ndjson(r);
  t.deepEqual(rows.map((x) => x['infohash']), [LOW(1), IH(1), IH(2), IH(3)]);
  for (const row of rows) t.deepEqual(Object.keys(row), [...EXPORT_COLUMNS]);
  const one = rows[1]!;
  const api = (await getIndexed(s.c, s.keys, IH(1)))!;
  const meta = (await metadataIndexed(s.c, s.keys, IH(1)))!;
  t.like(one, { firstSeen: iso(T0), lastSeen: iso(T0 + 5000), seen: 3, sources: api.sources, peers: 2, seeders: null, leechers: null, swarmAt: null });
  t.true(api.sources >= 2);
  t.like(one, { name: displayText(HOSTILE), size: 2000, fileCount: 2, pieceLength: 16_384, pieceCount: 1, singleFile: false, private: false, metaVersion: 1, nameTruncated: false, fetchedAt: iso(T0 + 10_000), fetchedFrom: PEER(1) });
  t.is(one['name'], meta.name.display);
  t.deepEqual(one['files'], meta.files.map((f) => ({ path: f.path, size: f.size })));
  t.deepEqual(one['files'], [
    { path: 'dir,1/a\\x2fb "c";d.txt', size: 1000 },
    { path: 'e\\x0af\\\\g/\\xfeA', size: 1000 },
  ]);
  t.like(rows[2], { infohash: IH(2), seen: 1, peers: 0, name: null, files: null, fetchedAt: null });
});

test.serial('CSV: a header row, RFC 4180 quoting; a name with commas, quotes and a line break survives', async (t) => {
  const s = await seeded(t);
  const r = await run(exportCommand, [...s.args, '--format', 'csv']);
  t.is(r.code, 0, r.stderr);
  t.true(r.stdout.endsWith('\r\n'));
  const rows = parseCsv(r.stdout);
  t.deepEqual(rows[0], [...EXPORT_COLUMNS]);
  t.is(rows.length, 5);
  for (const row of rows) t.is(row.length, EXPORT_COLUMNS.length);
  const col = (name: string): number => EXPORT_COLUMNS.indexOf(name as (typeof EXPORT_COLUMNS)[number]);
  const one = rows.find((x) => x[0] === IH(1))!;
  // The display form: the line break is \x0a, so every record stays on one line.
  t.is(one[col('name')], displayText(HOSTILE));
  t.is(r.stdout.split('\r\n').length, 6);
  t.deepEqual(JSON.parse(one[col('files')]!), ndjson(await run(exportCommand, s.args))[1]!['files']);
  t.is(one[col('firstSeen')], iso(T0));
  t.is(one[col('singleFile')], 'false');
  // No metadata: empty cells.
  const two = rows.find((x) => x[0] === IH(2))!;
  t.deepEqual(two.slice(col('seeders')), Array(EXPORT_COLUMNS.length - col('seeders')).fill(''));
  // --output: the same bytes in the file (CSV from its extension), a summary on stdout.
  const file = join(tmp(t), 'index.csv');
  const toFile = await run(exportCommand, [...s.args, '--output', file]);
  t.is(toFile.code, 0, toFile.stderr);
  t.regex(toFile.stdout, new RegExp(`^exported 4 infohashes to ${file} \\(csv\\) in \\d+\\.\\d s\\n$`));
  t.is(readFileSync(file, 'utf8'), r.stdout);
});

test.serial('--since keeps what was last seen at or after T: a duration or an ISO time', async (t) => {
  const s = await seeded(t);
  const ids = async (since: string): Promise<unknown[]> => ndjson(await run(exportCommand, [...s.args, '--since', since])).map((x) => x['infohash']);
  t.deepEqual(await ids('24h'), [LOW(1), IH(1), IH(3)]);
  t.deepEqual(await ids('4d'), [LOW(1), IH(1), IH(2), IH(3)]);
  t.deepEqual(await ids(iso(T0 + 7000)), [LOW(1), IH(3)]);
  t.deepEqual(await ids(iso(T0 + 7001)), [LOW(1)]);
  t.deepEqual(await ids('1m'), []);
  const bad = await run(exportCommand, [...s.args, '--since', '2026-05-01T12:00']);
  t.is(bad.code, 2);
  t.regex(bad.stderr, /add Z for UTC/);
});

test.serial('round trip: an export imported into an empty index exports the same lines, but peers; metadata bytes equal', async (t) => {
  const s = await seeded(t);
  const dir = tmp(t);
  for (const format of ['ndjson', 'csv'] as const) {
    const before = await run(exportCommand, [...s.args, '--format', format]);
    const file = join(dir, `a.${format}`);
    writeFileSync(file, before.stdout);
    const target = new IndexKeys(randomPrefix());
    const b = argsOf(target);
    const imported = await run(importCommand, [file, ...b, '--json']);
    t.is(imported.code, 0, imported.stdout + imported.stderr);
    t.like(JSON.parse(imported.stdout) as ImportSummary, { lines: 4, imported: 4, created: 4, merged: 0, metadataStored: 2, skipped: 0 });
    const after = await run(exportCommand, [...b, '--format', format]);
    t.is(withoutPeers(after.stdout), withoutPeers(before.stdout), format);
    t.not(after.stdout, before.stdout, 'the peers differ (not imported)');
    const c = redis.client(t);
    for (const hex of [IH(1), IH(3)]) t.deepEqual(await metadataIndexed(c, target, hex), await metadataIndexed(s.c, s.keys, hex), `${format} ${hex}`);
    // Name search knows the imported names.
    const found = await searchSharded(c, ShardedIndexKeys.of(target.prefix), tokenize('ubuntu desktop'), { limit: 10, offset: 0 });
    t.deepEqual(found.items.map((x) => x.infohash), [IH(3)], format);
  }
});

test.serial('merging: the earliest first seen, the latest last seen, the larger sightings; newer metadata kept; a re-import changes nothing', async (t) => {
  const s = await seeded(t);
  const dir = tmp(t);
  const line = (o: Record<string, unknown>): string => JSON.stringify(o) + '\n';
  const meta = (name: string, fetchedAt: number): Record<string, unknown> => ({
    name, size: 5, fileCount: 1, files: [{ path: name, size: 5 }], pieceLength: 16_384, pieceCount: 1, singleFile: true, private: false, metaVersion: 1, nameTruncated: false, fetchedAt: iso(fetchedAt), fetchedFrom: '203.0.113.9:51413',
  });
  const file = join(dir, 'merge.ndjson');
  writeFileSync(
    file,
    // IH(1): earlier first seen, earlier last seen, fewer sightings, older metadata: only first seen changes.
    line({ infohash: IH(1), firstSeen: iso(T0 - DAY), lastSeen: iso(T0 + 1), seen: 1, sources: 1, ...meta('Older Name', T0) }) +
      // IH(3): later last seen, more sightings, newer metadata under another name: all taken.
      line({ infohash: IH(3).toUpperCase(), firstSeen: iso(T0 + 8000), lastSeen: iso(NOW - 1000), seen: 40, sources: 30, ...meta('Newer Torrent', NOW - 500) }) +
      // New, with ms times.
      line({ infohash: IH(9), firstSeen: T0, lastSeen: T0 + 1 }),
  );
  const first = await run(importCommand, [file, ...s.args, '--json']);
  t.is(first.code, 0, first.stdout + first.stderr);
  t.like(JSON.parse(first.stdout) as ImportSummary, { lines: 3, imported: 3, created: 1, merged: 2, changed: 2, metadataStored: 1, metadataKept: 1, skipped: 0 });
  t.like(await getIndexed(s.c, s.keys, IH(1)), { firstSeen: T0 - DAY, lastSeen: T0 + 5000, seen: 3, peerCount: 2 });
  t.is((await metadataIndexed(s.c, s.keys, IH(1)))!.name.display, displayText(HOSTILE));
  const three = (await getIndexed(s.c, s.keys, IH(3)))!;
  t.like(three, { firstSeen: T0 + 7000, lastSeen: NOW - 1000, seen: 40 });
  t.true(three.sources >= 30);
  t.like(await metadataIndexed(s.c, s.keys, IH(3)), { name: { display: 'Newer Torrent' }, fetchedAt: NOW - 500, totalSize: 5 });
  const keys5 = ShardedIndexKeys.of(s.keys.prefix);
  t.deepEqual((await searchSharded(s.c, keys5, tokenize('newer torrent'), { limit: 10, offset: 0 })).items.map((x) => x.infohash), [IH(3)]);
  t.is((await searchSharded(s.c, keys5, tokenize('ubuntu'), { limit: 10, offset: 0 })).total, 0, "the old name's postings are gone");
  t.like(await getIndexed(s.c, s.keys, IH(9)), { firstSeen: T0, lastSeen: T0 + 1, seen: 0, sources: 0 });

  const exported = (await run(exportCommand, s.args)).stdout;
  const again = await run(importCommand, [file, ...s.args, '--json']);
  t.like(JSON.parse(again.stdout) as ImportSummary, { imported: 3, created: 0, merged: 3, changed: 0, metadataStored: 0, metadataKept: 2 });
  // And an export of the index imported into it: nothing counted twice.
  const self = join(dir, 'self.ndjson');
  writeFileSync(self, exported);
  t.like(JSON.parse((await run(importCommand, [self, ...s.args, '--json'])).stdout) as ImportSummary, { imported: 5, changed: 0 });
  t.is((await run(exportCommand, s.args)).stdout, exported);
});

test.serial('BEP 33 scrape estimates are exported (seeders, leechers, swarmAt) and checked but not imported', async (t) => {
  const s = await seeded(t);
  const at = Math.floor((NOW - 120_000) / 60_000) * 60_000;
  await writeSwarmEstimates(s.c, ShardedIndexKeys.of(s.keys.prefix), [{ infohash: IH(3), seeders: 12, leechers: 34, at }]);
  const rows = ndjson(await run(exportCommand, s.args));
  t.like(rows.find((x) => x['infohash'] === IH(3)), { seeders: 12, leechers: 34, swarmAt: iso(at) });
  t.like(rows.find((x) => x['infohash'] === IH(1)), { seeders: null, leechers: null, swarmAt: null });
  const csv = parseCsv((await run(exportCommand, [...s.args, '--format', 'csv'])).stdout);
  const col = (name: string): number => EXPORT_COLUMNS.indexOf(name as (typeof EXPORT_COLUMNS)[number]);
  t.deepEqual(csv.find((x) => x[0] === IH(3))!.slice(col('seeders'), col('swarmAt') + 1), ['12', '34', iso(at)]);

  const file = join(tmp(t), 'swarm.ndjson');
  writeFileSync(file, rows.map((x) => JSON.stringify(x)).join('\n') + '\n');
  const target = new IndexKeys(randomPrefix());
  t.is((await run(importCommand, [file, ...argsOf(target)])).code, 0);
  t.like(ndjson(await run(exportCommand, argsOf(target))).find((x) => x['infohash'] === IH(3)), { seeders: null, leechers: null, swarmAt: null });
  writeFileSync(file, JSON.stringify({ ...rows[0], seeders: -1 }) + '\n');
  const bad = await run(importCommand, [file, ...argsOf(target), '--json']);
  t.deepEqual((JSON.parse(bad.stdout) as ImportSummary).errors.map((e) => e.reason), ['seeders']);
});

test.serial('bad lines: the good ones are imported, the bad ones reported by line number and reason, exit 1', async (t) => {
  const s = await fresh(t);
  const dir = tmp(t);
  const ok = (n: number): string => JSON.stringify({ infohash: IH(n), firstSeen: iso(T0), lastSeen: iso(T0 + n) });
  const lines = [
    ok(1), // 1
    '{"infohash": "c0ffee", "firstSeen": 1, "lastSeen": 2}', // 2
    'not json at all', // 3
    '', // 4: blank, ignored
    JSON.stringify({ infohash: IH(2), firstSeen: iso(T0 + 5), lastSeen: iso(T0) }), // 5
    JSON.stringify({ infohash: IH(3), firstSeen: iso(T0), lastSeen: iso(NOW + 30 * DAY) }), // 6
    JSON.stringify({ infohash: IH(4), firstSeen: iso(T0), lastSeen: iso(T0), seeds: 3 }), // 7
    JSON.stringify({ infohash: IH(5), firstSeen: iso(T0), lastSeen: iso(T0), seen: -1 }), // 8
    JSON.stringify({ infohash: IH(6), firstSeen: iso(T0), lastSeen: iso(T0), name: 'no fetch time' }), // 9
    JSON.stringify({ infohash: IH(7), firstSeen: iso(T0), lastSeen: iso(T0), name: 'x', size: 1, fileCount: 1, files: [{ path: 'x', size: 'big' }], pieceLength: 1, pieceCount: 1, singleFile: true, private: false, metaVersion: 1, nameTruncated: false, fetchedAt: iso(T0), fetchedFrom: '1.2.3.4:5' }), // 10
    JSON.stringify({ infohash: IH(8), firstSeen: iso(T0), lastSeen: iso(T0), name: 'bad \\q escape', size: 1, fileCount: 1, files: [], pieceLength: 1, pieceCount: 1, singleFile: true, private: false, metaVersion: 1, nameTruncated: false, fetchedAt: iso(T0), fetchedFrom: '1.2.3.4:5' }), // 11
    '[1, 2, 3]', // 12
    `{"infohash": "${IH(10)}", "firstSeen": "${iso(T0)}", "lastSeen": "${'x'.repeat(1_100_000)}"}`, // 13: over 1 MiB
    ok(11), // 14
  ];
  const file = join(dir, 'bad.ndjson');
  writeFileSync(file, Buffer.concat([Buffer.from(lines.join('\n') + '\n'), Buffer.from([0x7b, 0xff, 0xfe, 0x7d, 0x0a]), Buffer.from(ok(12))]));
  const r = await run(importCommand, [file, ...s.args, '--json']);
  t.is(r.code, 1);
  const sum = JSON.parse(r.stdout) as ImportSummary;
  t.like(sum, { lines: 15, imported: 3, created: 3, skipped: 12 });
  t.deepEqual(
    sum.errors.map((e) => [e.line, e.reason]),
    [
      [2, 'infohash'],
      [3, 'not JSON'],
      [5, 'firstSeen'],
      [6, 'lastSeen'],
      [7, 'unknown field'],
      [8, 'seen'],
      [9, 'name'],
      [10, 'files'],
      [11, 'name'],
      [12, 'not JSON'],
      [13, 'too long'],
      [15, 'not UTF-8'],
    ],
  );
  t.regex(sum.errors.find((e) => e.line === 6)!.message, /in the future/);
  for (const n of [1, 11, 12]) t.truthy(await getIndexed(s.c, s.keys, IH(n)), `IH(${n})`);
  for (const n of [2, 3, 4, 5, 6, 7, 8, 10]) t.is(await getIndexed(s.c, s.keys, IH(n)), null, `IH(${n})`);

  // The text summary: counts by reason, then the lines, at most --show-errors of them.
  const text = await run(importCommand, [file, ...s.args, '--show-errors', '2']);
  t.is(text.code, 1);
  t.regex(text.stdout, /^read 15 lines from .*: 3 imported \(0 new, 3 merged .*\), 12 skipped$/m);
  t.regex(text.stdout, /^skipped: name 2, not JSON 2, files 1, /m);
  t.regex(text.stdout, /^ {2}line 2: infohash: 40 hex digits/m);
  t.regex(text.stdout, /^ {2}line 3: not a JSON object$/m);
  t.notRegex(text.stdout, /line 5:/);
  t.regex(text.stdout, /\(2 of 12 bad lines shown; --show-errors N shows more\)/);
});

test.serial('CSV import: quoted cells with commas, quotes and a real line break; bad records by their first line', async (t) => {
  const s = await fresh(t);
  const dir = tmp(t);
  const head = 'infohash,lastSeen,firstSeen,name,size,fileCount,files,pieceLength,pieceCount,singleFile,private,metaVersion,nameTruncated,fetchedAt,fetchedFrom';
  const files = JSON.stringify([{ path: 'a, "b"\nc', size: 7 }]).replace(/"/g, '""');
  const csv = [
    head, // 1
    `${IH(1)},${iso(T0 + 1)},${iso(T0)},"Line one,\r\n""two""",7,1,"${files}",16384,1,true,false,1,false,${iso(T0)},198.51.100.7:6881`, // 2-3
    `${IH(2)},${iso(T0)},${iso(T0)}`, // 4: too few cells
    `${IH(3)},${iso(T0)},${iso(T0)},na"me,,,,,,,,,,,`, // 5: a quote in an unquoted cell
    `${IH(4)},${T0},${T0},,,,,,,,,,,,`, // 6: ms times, no metadata
    `"${IH(5)}",${iso(T0)},${iso(T0)},"unclosed,,,,,,,,,,,`, // 7: runs to the end of the file
    `${IH(6)},${iso(T0)},${iso(T0)},,,,,,,,,,,,`, // 8: swallowed by line 7's open quote
  ].join('\r\n');
  const file = join(dir, 'x.csv');
  writeFileSync(file, csv + '\r\n');
  const r = await run(importCommand, [file, ...s.args, '--json']);
  const sum = JSON.parse(r.stdout) as ImportSummary;
  t.is(r.code, 1);
  t.like(sum, { lines: 5, imported: 2, skipped: 3 });
  t.deepEqual(sum.errors.map((e) => [e.line, e.reason]), [[4, 'cell count'], [5, 'CSV syntax'], [7, 'CSV syntax']]);
  const meta = (await metadataIndexed(s.c, s.keys, IH(1)))!;
  t.is(Buffer.from(meta.name.raw, 'base64').toString(), 'Line one,\r\n"two"');
  t.is(meta.name.display, 'Line one,\\x0d\\x0a"two"');
  t.deepEqual(meta.files.map((f) => Buffer.from(f.raw[0]!, 'base64').toString()), ['a, "b"\nc']);
  t.like(await getIndexed(s.c, s.keys, IH(4)), { firstSeen: T0, lastSeen: T0 });

  // A header naming an unknown column stops the import before any line.
  writeFileSync(file, `${head},colour\r\n`);
  const wrong = await run(importCommand, [file, ...s.args]);
  t.is(wrong.code, 1);
  t.regex(wrong.stderr, /line 1: the header names an unknown column "colour"/);
});

test.serial('usage errors exit 2 before connecting; a missing file or an unwritable output is a one-line error', async (t) => {
  const dead = ['--redis-url', 'redis://127.0.0.1:1'];
  for (const [command, argv, pattern] of [
    [exportCommand, ['--format', 'xml'], /--format must be ndjson or csv/],
    [exportCommand, ['--since', 'yesterday'], /--since must be/],
    [exportCommand, ['--bogus'], /Unknown option '--bogus'/],
    [exportCommand, ['out.csv'], /export takes no arguments.*--output FILE/],
    [importCommand, ['a', 'b'], /import takes one FILE/],
    [importCommand, ['--show-errors', 'x'], /--show-errors must be/],
    [importCommand, ['--format', 'tsv'], /--format must be ndjson or csv/],
  ] as const) {
    const r = await run(command, [...argv, ...dead]);
    t.is(r.code, 2, `${argv.join(' ')}: ${r.stderr}`);
    t.regex(r.stderr, pattern);
  }
  const s = await fresh(t);
  const missing = await run(importCommand, ['/nonexistent/file.ndjson', ...s.args]);
  t.is(missing.code, 1);
  t.regex(missing.stderr, /cannot read \/nonexistent\/file\.ndjson: .*ENOENT/);
  // A prefix nothing was written under reads as an empty index, as for query.
  const empty = await run(exportCommand, [...argsOf(new IndexKeys(randomPrefix())), '--format', 'csv']);
  t.deepEqual([empty.code, empty.stdout], [0, EXPORT_COLUMNS.join(',') + '\r\n']);
  const unwritable = await run(exportCommand, [...s.args, '--output', '/nonexistent/dir/x.csv']);
  t.is(unwritable.code, 1);
  t.regex(unwritable.stderr, /cannot write \/nonexistent\/dir\/x\.csv/);
});

test.serial('a schema-4 index must be migrated first; during the move export lists it, import refuses', async (t) => {
  const c = redis.client(t);
  const legacy = new IndexKeys(randomPrefix());
  const truth = await writeLegacy(c, legacy, 20, NOW);
  const args = argsOf(legacy);
  const dir = tmp(t);
  const file = join(dir, 'one.ndjson');
  writeFileSync(file, JSON.stringify({ infohash: IH(1), firstSeen: T0, lastSeen: T0 }) + '\n');
  for (const [command, argv] of [[exportCommand, args], [importCommand, [file, ...args]]] as const) {
    const r = await run(command, [...argv]);
    t.is(r.code, 1);
    t.regex(r.stderr, /schema version 4, this dhtscope needs \d+: run "dhtscope migrate"/);
  }
  // The migration steps without the move (dhtscope run moves in the background).
  await new MigrationRunner(c, legacy).migrate();
  t.is(await c.zcard(legacy.infohashes), 20, 'nothing moved yet');
  const r = await run(exportCommand, args);
  t.is(r.code, 0, r.stderr);
  t.deepEqual(ndjson(r).map((x) => x['infohash']).sort(), [...truth.keys()].sort());
  const refused = await run(importCommand, [file, ...args]);
  t.is(refused.code, 1);
  t.regex(refused.stderr, /migration 005 is still moving 20 schema-4 infohashes into this index; import when it is done \(dhtscope migrate\)/);
  t.is(await getIndexed(c, legacy, IH(1)), null);
});
