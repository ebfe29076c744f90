/**
 * InfoDictionaryParser (bep9/info-dictionary-parser.ts): big info dicts are
 * parsed on a real worker thread with exactly the inline result (Buffers included), invalid
 * ones fail the same way, the thread exits when idle and comes back, and a thread that cannot
 * run degrades to inline parsing instead of failing fetches.
 */
import test from 'ava';
import { encode } from '../bep5/bencode.js';
import { MetadataInvalidError } from '../bep9/errors.js';
import { InfoDictionaryParser } from '../bep9/info-dictionary-parser.js';
import { parseInfoDictionary } from '../bep9/info-dictionary.js';
import { pollUntil } from './helpers/wait.js';

/** An info dict of `files` small files with non-ASCII names: about 40 bytes per file. */
function dictOf(files: number, options: { badPieces?: boolean } = {}): Buffer {
  const list = Array.from({ length: files }, (_, i) => ({ length: 1000 + i, path: [Buffer.from('dossier'), Buffer.from(`fiché-${i}`)] }));
  const total = list.reduce((a, f) => a + f.length, 0);
  const pieces = Math.ceil(total / 65_536) + (options.badPieces ? 1 : 0);
  return encode({ name: Buffer.from('Grand torrent ✓'), 'piece length': 65_536, pieces: Buffer.alloc(pieces * 20, 1), files: list });
}

test('a big dict is parsed on the thread, with exactly the inline result; small ones stay inline', async (t) => {
  const parser = new InfoDictionaryParser({ offThreadMinBytes: 64 * 1024 });
  t.teardown(() => parser.close());
  const big = dictOf(5_000);
  t.true(big.length > 64 * 1024);
  const small = dictOf(10);

  const viaThread = await parser.parse(big, { maxListedFiles: 100 });
  t.deepEqual(viaThread, parseInfoDictionary(big, { maxListedFiles: 100 }));
  t.true(Buffer.isBuffer(viaThread.name.raw), 'Buffers come back as Buffers');
  t.true(viaThread.files.every((f) => f.path.every((p) => Buffer.isBuffer(p.raw))));
  t.is(viaThread.fileCount, 5_000);
  t.is(viaThread.files.length, 100);

  t.deepEqual(await parser.parse(small), parseInfoDictionary(small));
  t.like(parser.stats(), { offThread: 1, inline: 1, workerStarts: 1, fallbacks: 0 });

  // Several at once: each caller gets its own answer.
  const sizes = [3_000, 4_000, 6_000, 7_000];
  const results = await Promise.all(sizes.map((n) => parser.parse(dictOf(n))));
  t.deepEqual(results.map((r) => r.fileCount), sizes);
  t.like(parser.stats(), { offThread: 5, workerStarts: 1 });
});

test('an invalid big dict is rejected with the same MetadataInvalidError as inline', async (t) => {
  const parser = new InfoDictionaryParser({ offThreadMinBytes: 1024 });
  t.teardown(() => parser.close());
  const bad = dictOf(2_000, { badPieces: true });
  const inline = t.throws(() => parseInfoDictionary(bad), { instanceOf: MetadataInvalidError });
  const threaded = await t.throwsAsync(parser.parse(bad), { instanceOf: MetadataInvalidError, code: 'ERR_METADATA_INVALID' });
  t.is(threaded?.message, inline?.message);
  const garbage = Buffer.concat([Buffer.from('d4:name'), Buffer.alloc(4096, 0x41)]);
  await t.throwsAsync(parser.parse(garbage), { instanceOf: MetadataInvalidError, message: /bencode/ });
  t.like(parser.stats(), { offThread: 2, fallbacks: 0 });
});

test('the thread exits when idle and starts again for the next big dict', async (t) => {
  const parser = new InfoDictionaryParser({ offThreadMinBytes: 1024, idleMs: 50 });
  t.teardown(() => parser.close());
  const dict = dictOf(1_000);
  await parser.parse(dict);
  // The parser says nothing about its thread (a product gap); its private field is what shows it gone.
  await pollUntil(() => (parser as unknown as { worker: unknown }).worker === undefined, 'the idle thread to exit', 5_000, 10);
  t.is((await parser.parse(dict)).fileCount, 1_000);
  t.like(parser.stats(), { offThread: 2, workerStarts: 2 });
});

test('a thread that cannot run: the dicts it held and every later one are parsed inline, and it says so once', async (t) => {
  const lines: string[] = [];
  const parser = new InfoDictionaryParser({ offThreadMinBytes: 1024, threadUrl: new URL('./fixtures/no-such-thread.mjs', import.meta.url) }, (l) => lines.push(l));
  t.teardown(() => parser.close());
  const dict = dictOf(1_000);
  const [a, b] = await Promise.all([parser.parse(dict), parser.parse(dict)]);
  t.deepEqual(a, parseInfoDictionary(dict));
  t.is(b.fileCount, 1_000);
  t.is((await parser.parse(dict)).fileCount, 1_000);
  t.like(parser.stats(), { offThread: 2, fallbacks: 3, workerStarts: 1 });
  t.is(lines.length, 1);
  t.regex(lines[0]!, /parsing info dicts on the main thread from now on/);
});
