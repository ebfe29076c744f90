/**
 * Index retention (indexer/prune.ts, index-pruner.ts, `dhtscope prune`) on a real
 * redis-server: infohashes that went quiet leave with every key and index entry about them,
 * recent ones stay untouched, a write that lands between picking and pruning wins, and the
 * count cap keeps the most recently seen.
 */
import test, { type ExecutionContext } from 'ava';
import { type Redis } from 'ioredis';
import { encode } from '../bep5/bencode.js';
import type { Discovery } from '../crawler/discovery.js';
import { applyBatch } from '../indexer/apply-batch.js';
import { newBatchId } from '../indexer/batch-id.js';
import { SchemaMismatchError } from '../indexer/errors.js';
import { IndexPruner } from '../indexer/index-pruner.js';
import { IndexKeys } from '../indexer/keys.js';
import { recordMetadataFailure, storeMetadata } from '../indexer/metadata-store.js';
import { countPrunable, pickCandidates, pruneCandidates, pruneIndex } from '../indexer/prune.js';
import { searchMetadata } from '../indexer/search.js';
import { parseInfoDictionary } from '../bep9/index.js';
import { runCli } from './helpers/cli.js';
import { snapshot, useRedisServer } from './helpers/redis.js';
import { applyIndexed, getIndexed } from './helpers/index-writes.js';
import { hostInWrapped, infohashes } from './helpers/generators.js';

const redis = useRedisServer(test);

const DAY = 86_400_000;
const NOW = Date.now();
const IH = infohashes('b');
const NODE = hostInWrapped('10.0.3');

interface Ix {
  c: Redis;
  keys: IndexKeys;
}

/** Schema 4's prune (prune.ts) on an index kept at version 4. */
function fresh(t: ExecutionContext): Promise<Ix> {
  return redis.freshSchema4Index(t);
}

/** The index as the system writes it (schema 5), for IndexPruner and `dhtscope prune`. */
async function fresh5(t: ExecutionContext): Promise<Ix & { schema5: true }> {
  return { ...(await redis.freshIndex(t)), schema5: true };
}

/** Infohash n seen at `at` by one node, with `peers` peers then (written as of that time, so they are live). */
async function see(ix: Ix, n: number, at: number, peers = 1): Promise<void> {
  const events: Discovery[] = [{ type: 'infohash', infohash: IH(n), node: NODE(n), source: 'sample', at }];
  if (peers > 0) events.push({ type: 'peers', infohash: IH(n), peers: Array.from({ length: peers }, (_, i) => `198.51.100.${i + 1}:${3000 + n}`), node: `10.0.3.1:6881`, at });
  if ('schema5' in ix) await applyIndexed(ix.c, events, { keys: ix.keys, batchId: newBatchId(), now: at });
  else await applyBatch(ix.c, events, { keys: ix.keys, batchId: newBatchId(), now: at });
}

function torrent(name: string) {
  return parseInfoDictionary(encode({ name: Buffer.from(name), 'piece length': 16_384, pieces: Buffer.alloc(20, 7), length: 1000 }));
}

/** Every key and index entry that names infohash n. */
async function traces(ix: Ix, n: number): Promise<string[]> {
  const hex = IH(n);
  const { keys, c } = ix;
  const found: string[] = [];
  for (const key of [keys.infohash(hex), keys.infohashSources(hex), keys.infohashPeers(hex), keys.infohashMetadata(hex), keys.infohashFetch(hex)]) {
    if ((await c.exists(key)) === 1) found.push(key);
  }
  for (const key of [keys.infohashes, keys.recent, keys.popular, keys.metadataFetched, keys.metadataWait, keys.searchToken('ubuntu'), keys.searchToken('debian')]) {
    if ((await c.zscore(key, hex)) !== null) found.push(key);
  }
  return found;
}

test('infohashes not seen for the retention period leave with every key, index entry and search posting; recent ones stay as they were', async (t) => {
  const ix = await fresh(t);
  // Old: 1 (with metadata), 2 (with a failed fetch), 3 (plain). Recent: 4 (with metadata), 5.
  await see(ix, 1, NOW - 40 * DAY, 3);
  await see(ix, 2, NOW - 35 * DAY, 2);
  await see(ix, 3, NOW - 31 * DAY, 0);
  await see(ix, 4, NOW - 2 * DAY, 4);
  await see(ix, 5, NOW - 60_000, 1);
  t.is((await storeMetadata(ix.c, ix.keys, IH(1), torrent('Ubuntu 24.04 desktop'), { fetchedAt: NOW - 40 * DAY, peer: '198.51.100.1:3001' })).status, 'stored');
  t.is((await storeMetadata(ix.c, ix.keys, IH(4), torrent('Ubuntu 22.04 server'), { fetchedAt: NOW - DAY, peer: '198.51.100.1:3004' })).status, 'stored');
  await recordMetadataFailure(ix.c, ix.keys, IH(2), { code: 'ERR_METADATA_FETCH_FAILED', at: NOW - 35 * DAY });
  t.true((await traces(ix, 1)).length >= 7, `infohash 1 is everywhere first: ${(await traces(ix, 1)).join(' ')}`);
  t.true((await traces(ix, 2)).includes(ix.keys.infohashFetch(IH(2))));
  const keptBefore = await snapshotOf(ix, [4, 5]);

  t.deepEqual(await countPrunable(ix.c, { keys: ix.keys, seenBefore: NOW - 30 * DAY }), { prunable: 3, total: 5 });
  const dry = await pruneIndex(ix.c, { keys: ix.keys, seenBefore: NOW - 30 * DAY, dryRun: true });
  t.deepEqual(dry, { pruned: 3, conflicts: 0, remaining: 5, dryRun: true });
  t.true((await traces(ix, 1)).length >= 7, 'a dry run changes nothing');

  const result = await pruneIndex(ix.c, { keys: ix.keys, seenBefore: NOW - 30 * DAY, chunk: 2 });
  t.deepEqual(result, { pruned: 3, conflicts: 0, remaining: 2, dryRun: false });
  for (const n of [1, 2, 3]) t.deepEqual(await traces(ix, n), [], `infohash ${n} left no trace`);
  t.deepEqual(await snapshotOf(ix, [4, 5]), keptBefore, 'the kept infohashes are untouched');
  t.is(await ix.c.hget(ix.keys.totals, 'infohashes:pruned'), '3');
  const search = await searchMetadata(ix.c, ix.keys, ['ubuntu'], { limit: 10, offset: 0 });
  t.deepEqual(search.items.map((r) => r.infohash), [IH(4)], 'search finds only the kept torrent');

  // Nothing more is due: a second pass prunes nothing.
  t.is((await pruneIndex(ix.c, { keys: ix.keys, seenBefore: NOW - 30 * DAY })).pruned, 0);

  // Seen again later, a pruned infohash comes back as new.
  await see(ix, 1, NOW - 1000, 1);
  t.is(await ix.c.hget(ix.keys.infohash(IH(1)), 'first'), String(NOW - 1000));
});

async function snapshotOf(ix: Ix, ns: number[]): Promise<Record<string, unknown>> {
  const all = await snapshot(ix.c, ix.keys.prefix);
  const hexes = ns.map(IH);
  return Object.fromEntries(Object.entries(all).filter(([k]) => hexes.some((h) => k.includes(h))));
}

test('the count cap keeps the most recently seen infohashes; both rules together take the larger cut', async (t) => {
  const ix = await fresh(t);
  for (let n = 1; n <= 30; n++) await see(ix, n, NOW - (31 - n) * 3_600_000, 0); // 1 oldest ... 30 newest
  const capped = await pruneIndex(ix.c, { keys: ix.keys, maxInfohashes: 20, chunk: 7 });
  t.deepEqual(capped, { pruned: 10, conflicts: 0, remaining: 20, dryRun: false });
  t.deepEqual(await ix.c.zrange(ix.keys.infohashes, 0, '-1'), Array.from({ length: 20 }, (_, i) => IH(i + 11)));
  // Age would take 5 more (seen over 15 h ago: 11..15), the cap of 18 only 2: the age rule wins.
  const both = await pruneIndex(ix.c, { keys: ix.keys, maxInfohashes: 18, seenBefore: NOW - 15.5 * 3_600_000 });
  t.is(both.pruned, 5);
  t.is(await ix.c.zcard(ix.keys.infohashes), 15);
  t.is(await ix.c.zcard(ix.keys.recent), 15);
  // An aborted signal ends a pass before its next chunk.
  const stop = new AbortController();
  stop.abort();
  t.is((await pruneIndex(ix.c, { keys: ix.keys, maxInfohashes: 5, signal: stop.signal })).pruned, 0);
  // A limit stops a pass early; the next one goes on.
  const limited = await pruneIndex(ix.c, { keys: ix.keys, maxInfohashes: 5, limit: 4, chunk: 3 });
  t.is(limited.pruned, 4);
  t.is((await pruneIndex(ix.c, { keys: ix.keys, maxInfohashes: 5 })).pruned, 6);
});

test('a write between picking and pruning wins: an infohash seen again, or given metadata, is left alone', async (t) => {
  const ix = await fresh(t);
  for (const n of [1, 2, 3]) await see(ix, n, NOW - 40 * DAY, 1);
  const picked = await pickCandidates(ix.c, ix.keys, 3);
  t.deepEqual(picked.map((c) => c.hex).sort(), [IH(1), IH(2), IH(3)]);
  t.true(picked.every((c) => c.tokens === ''));
  await see(ix, 1, NOW - 1000, 1); // seen again
  t.is((await storeMetadata(ix.c, ix.keys, IH(2), torrent('Debian 12 netinst'), { fetchedAt: NOW, peer: '198.51.100.1:3002' })).status, 'stored');
  t.deepEqual(await pruneCandidates(ix.c, ix.keys, picked), { pruned: 1, conflicts: 2 });
  t.deepEqual(await traces(ix, 3), []);
  t.true((await traces(ix, 1)).includes(ix.keys.infohash(IH(1))));
  t.true((await traces(ix, 2)).includes(ix.keys.searchToken('debian')), 'the new name stays searchable');
  // Picked afresh, the one with metadata goes with its postings (still 40 days old).
  t.deepEqual(await pruneIndex(ix.c, { keys: ix.keys, seenBefore: NOW - 30 * DAY }), { pruned: 1, conflicts: 0, remaining: 1, dryRun: false });
  t.deepEqual(await traces(ix, 2), []);

  // A registry score behind its hash's last sighting (a schema-3 writer during migration 4)
  // is repaired, not pruned.
  await ix.c.zadd(ix.keys.infohashes, 'XX', NOW - 50 * DAY, IH(1));
  t.deepEqual(await pruneIndex(ix.c, { keys: ix.keys, seenBefore: NOW - 30 * DAY }), { pruned: 0, conflicts: 1, remaining: 1, dryRun: false });
  t.is(await ix.c.zscore(ix.keys.infohashes, IH(1)), String(NOW - 1000));
});

test('a stored token our tokenizer cannot have made (foreign data) does not stop the prune', async (t) => {
  const ix = await fresh(t);
  await see(ix, 1, NOW - 40 * DAY, 0);
  t.is((await storeMetadata(ix.c, ix.keys, IH(1), torrent('Ubuntu desktop'), { fetchedAt: NOW, peer: '198.51.100.1:3001' })).status, 'stored');
  await ix.c.hset(ix.keys.infohashMetadata(IH(1)), 'tokens', 'ubuntu Bad{Token} desktop');
  t.like(await pruneIndex(ix.c, { keys: ix.keys, seenBefore: NOW - 30 * DAY }), { pruned: 1, conflicts: 0 });
  t.deepEqual(await traces(ix, 1), []);
});

test('pruning refuses an index at another schema version and writes nothing', async (t) => {
  const ix = await fresh(t);
  await see(ix, 1, NOW - 40 * DAY, 0);
  await ix.c.set(ix.keys.schemaVersion, '3');
  const before = await snapshot(ix.c, ix.keys.prefix);
  await t.throwsAsync(pruneIndex(ix.c, { keys: ix.keys, seenBefore: NOW - 30 * DAY }), { instanceOf: SchemaMismatchError });
  t.deepEqual(await snapshot(ix.c, ix.keys.prefix), before);
});

test('IndexPruner: a pass prunes by age and cap, counts it, and a failed pass is counted and survived', async (t) => {
  const ix = await fresh5(t);
  for (let n = 1; n <= 6; n++) await see(ix, n, NOW - n * DAY, 0); // 1 newest ... 6 oldest
  const lines: string[] = [];
  const pruner = new IndexPruner({ redis: ix.c, keys: ix.keys, retainMs: 4.5 * DAY, maxInfohashes: 3, now: () => NOW, log: (l) => lines.push(l) });
  t.true(pruner.enabled);
  const r = await pruner.runOnce();
  t.is(r?.pruned, 3);
  t.deepEqual(await Promise.all([1, 2, 3, 4, 5, 6].map(async (n) => (await getIndexed(ix.c, ix.keys, IH(n))) !== null)), [true, true, true, false, false, false]);
  t.like(pruner.stats(), { passes: 1, pruned: 3, failures: 0, lastPassAt: NOW, lastError: null });
  t.deepEqual(lines, ['retention: pruned 3 infohashes, 3 kept']);

  await ix.c.set(ix.keys.schemaVersion, '99');
  t.is(await pruner.runOnce(), undefined);
  t.like(pruner.stats(), { passes: 1, failures: 1 });
  t.regex(pruner.stats().lastError ?? '', /schema version 99/);
  t.regex(lines[1] ?? '', /^retention: prune failed/);
  await pruner.stop();
  t.false(new IndexPruner({ redis: ix.c, keys: ix.keys }).enabled, 'no rule, no pruner');
});

test('dhtscope prune: dry run, then prune, as text and JSON; bad options are usage errors', async (t) => {
  const ix = await fresh5(t);
  for (let n = 1; n <= 4; n++) await see(ix, n, NOW - n * 10 * DAY, 0); // 10, 20, 30, 40 days
  const base = ['prune', '--redis-url', redis.server.url, '--prefix', ix.keys.prefix];
  const dry = await runCli(t, [...base, '--older-than', '15', '--dry-run']);
  t.is(dry.code, 0, dry.stderr);
  t.is(dry.stdout, 'would prune 3 infohashes (not seen for 15 days); 4 in the index\n');
  const json = await runCli(t, [...base, '--older-than', '25', '--json']);
  t.is(json.code, 0, json.stderr);
  t.deepEqual(JSON.parse(json.stdout), { pruned: 2, conflicts: 0, remaining: 2, dryRun: false });
  const text = await runCli(t, [...base, '--max-infohashes', '1']);
  t.is(text.code, 0, text.stderr);
  t.is(text.stdout, 'pruned 1 infohashes (not seen for 30 days or beyond the 1 most recently seen); 1 kept\n');
  t.deepEqual(await Promise.all([1, 2, 3, 4].map(async (n) => (await getIndexed(ix.c, ix.keys, IH(n))) !== null)), [true, false, false, false]);

  const bad = await runCli(t, [...base, '--older-than', 'soon']);
  t.is(bad.code, 2);
  t.regex(bad.stderr, /--older-than must be a non-negative number of days/);
  const help = await runCli(t, ['prune', '--help']);
  t.is(help.code, 0);
  t.regex(help.stdout, /Example: dhtscope prune/);
});
