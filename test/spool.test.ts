import test, { type ExecutionContext } from 'ava';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { SpoolBusyError } from '../workers/errors.js';
import { type DiscoveryBatchJob } from '../workers/queues.js';
import { Spool, type SpooledBatch, type SpoolOptions } from '../workers/spool.js';
import { params } from './helpers/fast-check.js';
import { spoolFiles, tempDir } from './helpers/discovery-queue.js';
import { spoolTestBatch } from './helpers/spool-batches.js';

async function openSpool(t: ExecutionContext, dir: string, options: SpoolOptions = {}): Promise<Spool> {
  const spool = await Spool.open(dir, options);
  t.teardown(() => spool.close());
  return spool;
}

/** Reads every batch back, in order (without acknowledging). */
async function shiftAll(spool: Spool): Promise<SpooledBatch[]> {
  const out: SpooledBatch[] = [];
  for (let b = await spool.shift(); b !== null; b = await spool.shift()) out.push(b);
  return out;
}

const ids = (batches: Array<{ job: DiscoveryBatchJob } | DiscoveryBatchJob>): string[] => batches.map((b) => ('job' in b ? b.job.id : b.id));

test('batches come back in append order, across rotated files, and each line is one {id, events} object', async (t) => {
  const dir = await tempDir(t);
  const spool = await openSpool(t, dir, { fileMaxBytes: 600 });
  const batches = Array.from({ length: 12 }, (_, i) => spoolTestBatch(i, 2));
  for (const b of batches) t.true((await spool.append(b)) > 0);
  const files = await spoolFiles(dir);
  t.true(files.length > 2, `rotated into ${files.length} files`);
  const lines = (await readFile(join(dir, files[0]!), 'utf8')).split('\n');
  t.is(lines.pop(), '', 'every line ends with a newline');
  t.deepEqual(JSON.parse(lines[0]!), batches[0]);
  t.true(spool.hasUnread);
  const back = await shiftAll(spool);
  t.deepEqual(ids(back), ids(batches));
  t.deepEqual(back.map((b) => b.job), batches);
  t.false(spool.hasUnread);
});

test('a file is deleted only once every batch in it is acknowledged; the lock goes on close', async (t) => {
  const dir = await tempDir(t);
  const spool = await Spool.open(dir, { fileMaxBytes: 10_000 });
  for (let i = 0; i < 3; i++) await spool.append(spoolTestBatch(i));
  const [file] = await spoolFiles(dir);
  const [a, b, c] = await shiftAll(spool);
  await spool.ack(a!);
  await spool.ack(c!);
  t.deepEqual(await spoolFiles(dir), [file!], 'b is not acknowledged yet');
  t.true(spool.bytes > 0);
  await spool.ack(b!);
  t.deepEqual(await spoolFiles(dir), []);
  t.is(spool.bytes, 0);
  // New batches start a new file after the deleted one.
  await spool.append(spoolTestBatch(3));
  const [next] = await spoolFiles(dir);
  t.true(next! > file!, `${next} after ${file}`);
  await spool.close();
  t.false(existsSync(join(dir, 'lock')));
  t.deepEqual(await spoolFiles(dir), [next!], 'the unacknowledged batch stays on disk');
});

test('reopening replays what was not acknowledged, then appends after it', async (t) => {
  const dir = await tempDir(t);
  const first = await Spool.open(dir, { fileMaxBytes: 300 });
  for (let i = 0; i < 6; i++) await first.append(spoolTestBatch(i));
  const read = await shiftAll(first);
  for (const b of read.slice(0, 2)) await first.ack(b); // delivered: its file may go
  await first.close();

  const second = await openSpool(t, dir, { fileMaxBytes: 300 });
  await second.append(spoolTestBatch(6));
  const replay = await shiftAll(second);
  const replayed = ids(replay);
  // Whole files are the unit: batches 0–1 are gone only if their file held nothing else.
  t.deepEqual(replayed.slice(-5), ids([2, 3, 4, 5, 6].map((i) => spoolTestBatch(i))));
  t.true(replayed.length <= 7);
  t.deepEqual(replayed, [...new Set(replayed)], 'no batch twice in one replay');
});

test('a truncated last line and a garbage line are skipped and counted, even read in tiny chunks', async (t) => {
  const dir = await tempDir(t);
  const good = [0, 1, 2].map((i) => spoolTestBatch(i, 3));
  const lines = good.map((b) => JSON.stringify(b));
  const content = `${lines[0]}\nnot json at all\n${lines[1]}\n{"id":"xyz","events":[]}\n${lines[2]}\n${lines[2]!.slice(0, 40)}`;
  await writeFile(join(dir, 'spool-000000000001.ndjson'), content);
  const spool = await openSpool(t, dir, { readChunkBytes: 7 });
  const back = await shiftAll(spool);
  t.deepEqual(
    back.map((b) => b.job),
    good,
  );
  t.is(spool.corruptLines, 3);
  for (const b of back) await spool.ack(b);
  t.deepEqual(await spoolFiles(dir), [], 'a file of delivered and corrupt lines is deleted');
});

test('lines over lineMaxBytes are refused on append and skipped on read without holding them', async (t) => {
  const dir = await tempDir(t);
  const big = spoolTestBatch(1, 50);
  const small = spoolTestBatch(2);
  await writeFile(join(dir, 'spool-000000000001.ndjson'), `${JSON.stringify(big)}\n${JSON.stringify(small)}\n${JSON.stringify(big)}`);
  const spool = await openSpool(t, dir, { lineMaxBytes: 1000, readChunkBytes: 64 });
  t.is(await spool.append(big), 0, 'too long to read back: refused');
  t.is(await spool.append(small), JSON.stringify(small).length + 1);
  const back = await shiftAll(spool);
  t.deepEqual(ids(back), [small.id, small.id]);
  t.is(spool.corruptLines, 2);
});

test('the size cap refuses appends beyond maxBytes, and space freed by acknowledgements is reused', async (t) => {
  const dir = await tempDir(t);
  const lineBytes = JSON.stringify(spoolTestBatch(0)).length + 1;
  const spool = await openSpool(t, dir, { maxBytes: lineBytes * 3 + 10, fileMaxBytes: lineBytes });
  const results = await Promise.all([0, 1, 2, 3, 4].map((i) => spool.append(spoolTestBatch(i))));
  t.deepEqual(results, [lineBytes, lineBytes, lineBytes, 0, 0]);
  t.true(spool.bytes <= lineBytes * 3 + 10);
  const first = await spool.shift();
  await spool.ack(first!);
  t.is(await spool.append(spoolTestBatch(5)), lineBytes, 'room again once a file is deleted');
  t.deepEqual(ids(await shiftAll(spool)), ids([1, 2, 5].map((i) => spoolTestBatch(i))));
});

test('a second open of a directory in use is refused with SpoolBusyError', async (t) => {
  const dir = await tempDir(t);
  const spool = await Spool.open(dir);
  const err = await t.throwsAsync(Spool.open(dir), { instanceOf: SpoolBusyError });
  t.is(err?.code, 'ERR_SPOOL_BUSY');
  t.is(err?.pid, process.pid);
  await spool.close();
  const again = await Spool.open(dir);
  await again.close();
  t.pass();
});

test('after a crash (SIGKILL mid-write) the next open takes the stale lock and replays every complete batch', async (t) => {
  const dir = await tempDir(t);
  const child = spawn(process.execPath, ['--import', './scripts/ts-node-register.mjs', 'test/helpers/spool-crash-child.ts', dir, '5'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const signal = await new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, sig) => resolve(sig)));
  t.is(signal, 'SIGKILL', stderr);
  t.true(existsSync(join(dir, 'lock')), 'the dead process left its lock');

  const spool = await openSpool(t, dir);
  const back = await shiftAll(spool);
  t.deepEqual(
    back.map((b) => b.job),
    [0, 1, 2, 3, 4].map((i) => spoolTestBatch(i)),
  );
  t.is(spool.corruptLines, 1, 'the half-written line');
});

test('property: any mix of batch sizes, file sizes and read chunks comes back whole and in order after a reopen', async (t) => {
  const dir = await tempDir(t);
  let round = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.integer({ min: 0, max: 20 }), { minLength: 1, maxLength: 25 }),
      fc.integer({ min: 50, max: 5000 }),
      fc.integer({ min: 1, max: 4096 }),
      async (sizes, fileMaxBytes, readChunkBytes) => {
        const sub = join(dir, String(round++));
        const batches = sizes.map((size, i) => spoolTestBatch(i, size));
        const writer = await Spool.open(sub, { fileMaxBytes });
        for (const b of batches) await writer.append(b);
        await writer.close();
        const reader = await Spool.open(sub, { fileMaxBytes, readChunkBytes });
        const back = await shiftAll(reader);
        for (const b of back) await reader.ack(b);
        const left = await spoolFiles(sub);
        await reader.close();
        assert.deepStrictEqual(
          back.map((b) => b.job),
          batches,
        );
        assert.deepStrictEqual(left, []);
        assert.equal(reader.corruptLines, 0);
      },
    ),
    params(30),
  );
  t.pass();
});
