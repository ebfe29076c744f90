import test from 'ava';
import fc from 'fast-check';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type MetadataErrorCode } from '../bep9/errors.js';
import { MetadataBlobError, MetadataInputError } from '../indexer/errors.js';
import { type MetadataContent, blobFetchedAt, decodeMetadataBlob, encodeMetadataBlob, metadataContent, storedMetadataOf } from '../indexer/metadata-blob.js';
import { MAX_FILE_PATH_BYTES, MAX_NAME_BYTES, MAX_STORED_FILES, METADATA_FAILURE_CODES } from '../indexer/metadata-constants.js';
import { type MetadataInput, metadataRecord, parseStoredMetadata } from '../indexer/metadata-store.js';
import { type FetchState, decodeFetchState, encodeFetchState } from '../indexer/sharded-fetch-state.js';
import { LuaScript } from '../redis/lua-script.js';
import { ROOT } from './helpers/cli.js';
import { params } from './helpers/fast-check.js';
import { useRedisServer } from './helpers/redis.js';

/**
 * Schema 5's metadata blob and fetch state (indexer/metadata-blob.ts, sharded-fetch-state.ts):
 * round trips, canonical bytes, every bound refused with MetadataBlobError (never a RangeError
 * from hostile bytes), schema 4's read form reproduced exactly from the raw bytes, and the Lua
 * helpers reading and writing the same bytes as TS on a real Redis.
 */
const redis = useRedisServer(test);

const safe = fc.oneof(fc.integer({ min: 0, max: 1_000_000 }), fc.constantFrom(0, 2 ** 32, 2 ** 48 - 1, 2 ** 48, Number.MAX_SAFE_INTEGER));
/** Bytes that like to be hostile: controls, `/`, `\`, invalid UTF-8, multi-byte characters. */
const rawBytes = (maxLength: number): fc.Arbitrary<Uint8Array> =>
  fc.oneof(
    fc.uint8Array({ maxLength }),
    fc.string({ maxLength: Math.floor(maxLength / 4), unit: 'binary' }).map((s) => Uint8Array.from(Buffer.from(s))),
    fc.array(fc.constantFrom(0x2f, 0x5c, 0x1b, 0xff, 0xe2, 0x80, 0xae, 0x41), { maxLength }).map((a) => Uint8Array.from(a)),
  );

const pathOf = fc
  .array(rawBytes(40), { minLength: 1, maxLength: 32 })
  .filter((p) => p.reduce((n, e) => n + e.length, 0) <= MAX_FILE_PATH_BYTES);

const content: fc.Arbitrary<MetadataContent> = fc.record({
  fetchedAt: safe,
  peer: fc.constantFrom('1.2.3.4:6881', '[2001:db8::1]:51413', 'abc', 'x'.repeat(64)),
  name: rawBytes(MAX_NAME_BYTES),
  nameTruncated: fc.boolean(),
  totalSize: safe,
  pieceLength: safe,
  pieceCount: safe,
  fileCount: safe,
  singleFile: fc.boolean(),
  private: fc.boolean(),
  metaVersion: fc.constantFrom(1, 2),
  files: fc.array(fc.record({ path: pathOf, size: safe, truncated: fc.boolean() }), { maxLength: 12 }),
});

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a, (_, v) => (v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v)) === JSON.stringify(b, (_, v) => (v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v));

test('encode then decode gives the content back; the fetch time is readable from the header alone', (t) => {
  fc.assert(
    fc.property(content, (c) => {
      const blob = encodeMetadataBlob(c);
      return same(decodeMetadataBlob(blob), c) && blobFetchedAt(blob) === c.fetchedAt;
    }),
    params(400),
  );
  t.pass();
});

test('hostile bytes: decoding either gives content that re-encodes to the same bytes, or a MetadataBlobError', (t) => {
  const check = (bytes: Uint8Array): boolean => {
    try {
      return Buffer.from(encodeMetadataBlob(decodeMetadataBlob(bytes))).equals(Buffer.from(bytes));
    } catch (err) {
      if (err instanceof MetadataBlobError) return true;
      throw err;
    }
  };
  // Random bytes, and valid blobs with a byte changed, cut short or extended.
  fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), check), params(500));
  fc.assert(
    fc.property(content, fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('flip', 'cut', 'extend'), (c, pos, byte, how) => {
      const blob = Buffer.from(encodeMetadataBlob(c));
      const i = pos % blob.length;
      if (how === 'flip') blob[i] = byte;
      const bytes = how === 'cut' ? blob.subarray(0, i) : how === 'extend' ? Buffer.concat([blob, Buffer.of(byte)]) : blob;
      return check(bytes);
    }),
    params(800),
  );
  t.pass();
});

test('bounds: what a blob cannot hold is refused with MetadataBlobError', (t) => {
  const ok: MetadataContent = {
    fetchedAt: 1, peer: '1.2.3.4:5', name: Buffer.from('n'), nameTruncated: false, totalSize: 1, pieceLength: 1, pieceCount: 1, fileCount: 1,
    singleFile: true, private: false, metaVersion: 1, files: [{ path: [Buffer.from('n')], size: 1, truncated: false }],
  };
  t.notThrows(() => encodeMetadataBlob(ok));
  const bad: Array<[string, MetadataContent]> = [
    ['a long name', { ...ok, name: Buffer.alloc(MAX_NAME_BYTES + 1) }],
    ['too many files', { ...ok, files: Array.from({ length: MAX_STORED_FILES + 1 }, () => ok.files[0]!) }],
    ['an empty path', { ...ok, files: [{ path: [], size: 1, truncated: false }] }],
    ['a deep path', { ...ok, files: [{ path: Array.from({ length: 33 }, () => Buffer.from('d')), size: 1, truncated: false }] }],
    ['a long path', { ...ok, files: [{ path: [Buffer.alloc(300), Buffer.alloc(213)], size: 1, truncated: false }] }],
    ['an unsafe size', { ...ok, totalSize: 2 ** 53 }],
    ['a negative time', { ...ok, fetchedAt: -1 }],
    ['a fraction', { ...ok, pieceCount: 1.5 }],
    ['metaVersion 3', { ...ok, metaVersion: 3 }],
    ['a peer with a space', { ...ok, peer: '1.2.3.4 :5' }],
    ['a non-ASCII peer', { ...ok, peer: 'pé:1' }],
  ];
  for (const [what, c] of bad) t.throws(() => encodeMetadataBlob(c), { instanceOf: MetadataBlobError, code: 'ERR_METADATA_BLOB' }, what);

  const blob = encodeMetadataBlob(ok);
  const variants: Array<[string, Buffer, RegExp]> = [
    ['empty', Buffer.alloc(0), /ends inside the format/],
    ['another format', Buffer.concat([Buffer.of(2), blob.subarray(1)]), /unknown format 2/],
    ['cut short', blob.subarray(0, blob.length - 1), /ends inside/],
    ['trailing bytes', Buffer.concat([blob, Buffer.of(0)]), /1 bytes after the last file/],
    ['a u56 past 2^53', Buffer.concat([blob.subarray(0, 8), Buffer.of(0x20, 0, 0, 0, 0, 0, 0), blob.subarray(15)]), /totalSize is not a safe integer/],
    ['unknown flags', Buffer.concat([blob.subarray(0, 36), Buffer.of(8), blob.subarray(37)]), /unknown flags/],
  ];
  for (const [what, bytes, message] of variants) t.throws(() => decodeMetadataBlob(bytes), { instanceOf: MetadataBlobError, message }, what);
  t.throws(() => blobFetchedAt(Buffer.alloc(10)), { instanceOf: MetadataBlobError });
});

// ---- schema 4's read form, from raw bytes only ------------------------------------------------

const text = (maxLength: number) => fc.record({ raw: rawBytes(maxLength), truncated: fc.option(fc.boolean(), { nil: undefined }) });
const input: fc.Arbitrary<MetadataInput> = fc
  .record({
    name: text(1_200),
    totalSize: safe,
    pieceLength: safe.map((n) => Math.max(1, n)),
    pieceCount: safe,
    files: fc.array(
      fc.record({
        path: fc.array(text(300), { minLength: 1, maxLength: 36 }),
        size: safe,
        truncated: fc.option(fc.boolean(), { nil: undefined }),
      }),
      { maxLength: 110 },
    ),
    extraFiles: fc.nat(5),
    singleFile: fc.boolean(),
    private: fc.boolean(),
    metaVersion: fc.constantFrom(1, 2),
  })
  .map(({ extraFiles, ...s }) => ({ ...s, fileCount: s.files.length + extraFiles }));

test('the read form equals schema 4\'s for the same input: display forms, cuts, file list budget (computed, never stored)', (t) => {
  fc.assert(
    fc.property(input, safe, (summary, fetchedAt) => {
      const opts = { fetchedAt, peer: '[2001:db8::7]:6881' };
      const four = parseStoredMetadata(Object.fromEntries(metadataRecord(summary, opts).fields));
      const five = storedMetadataOf(decodeMetadataBlob(encodeMetadataBlob(metadataContent(summary, opts))));
      return JSON.stringify(five) === JSON.stringify(four);
    }),
    params(150),
  );
  // The budget case by hand: 100 paths that display at 4 characters per byte.
  const hostile: MetadataInput = {
    name: { raw: Buffer.from('hostile') }, totalSize: 1, pieceLength: 1, pieceCount: 1, fileCount: 100, singleFile: false, private: false, metaVersion: 1,
    files: Array.from({ length: 100 }, (_, i) => ({ path: [{ raw: Buffer.concat([Buffer.from(`${i}`), Buffer.alloc(500, 0xff)]) }], size: 1 })),
  };
  const opts = { fetchedAt: 5, peer: '1.2.3.4:5' };
  const c = metadataContent(hostile, opts);
  t.true(c.files.length > 0 && c.files.length < 20, `${c.files.length} files listed`);
  t.deepEqual(storedMetadataOf(decodeMetadataBlob(encodeMetadataBlob(c))), parseStoredMetadata(Object.fromEntries(metadataRecord(hostile, opts).fields)));
  t.true(encodeMetadataBlob(c).length < 10_000, 'raw bytes only: far less than the 32 KiB of JSON');
  t.throws(() => metadataContent({ ...hostile, pieceLength: 0 }, opts), { instanceOf: MetadataInputError });
  t.throws(() => metadataContent(hostile, { fetchedAt: 5, peer: 'x' }), { instanceOf: MetadataInputError });
});

// ---- the fetch state --------------------------------------------------------------------------

const state: fc.Arbitrary<FetchState> = fc.record({
  attempts: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
  firstFailedAt: safe,
  lastAttemptAt: safe,
  nextAttemptAt: safe,
  expiresAt: safe,
  gaveUp: fc.boolean(),
  lastError: fc.oneof(fc.constantFrom(...METADATA_FAILURE_CODES), fc.stringMatching(/^[A-Za-z0-9_.:-]{1,64}$/)),
});

test('fetch state: round trip; listed codes take one byte; hostile bytes give MetadataBlobError', (t) => {
  fc.assert(fc.property(state, (s) => same(decodeFetchState(encodeFetchState(s)), s)), params(400));
  t.is(encodeFetchState({ attempts: 1, firstFailedAt: 1, lastAttemptAt: 1, nextAttemptAt: 1, expiresAt: 1, gaveUp: false, lastError: 'ERR_PEER_TIMEOUT' }).length, 35);
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 120 }), (bytes) => {
      try {
        return Buffer.from(encodeFetchState(decodeFetchState(bytes))).equals(Buffer.from(bytes));
      } catch (err) {
        return err instanceof MetadataBlobError;
      }
    }),
    params(1_000),
  );
  // Every code bep9's fetcher can report is one of the listed ones (the type names them all).
  const bep9Codes: Record<MetadataErrorCode, true> = {
    ERR_PEER_ADDRESS: true, ERR_PEER_IP_LIMIT: true, ERR_PEER_CONNECT: true, ERR_PEER_TIMEOUT: true, ERR_PEER_CLOSED: true, ERR_PEER_PROTOCOL: true,
    ERR_PEER_MESSAGE_TOO_LARGE: true, ERR_PEER_TOO_MANY_MESSAGES: true, ERR_PEER_NO_METADATA_EXTENSION: true, ERR_PEER_METADATA_REJECTED: true,
    ERR_METADATA_SIZE_INVALID: true, ERR_METADATA_TOO_LARGE: true, ERR_METADATA_PIECE_INVALID: true, ERR_METADATA_HASH_MISMATCH: true,
    ERR_METADATA_INVALID: true, ERR_METADATA_FETCH_FAILED: true, ABORT_ERR: true,
  };
  for (const code of Object.keys(bep9Codes)) t.true(METADATA_FAILURE_CODES.includes(code), code);
  t.true(METADATA_FAILURE_CODES.includes('ERR_NO_PEERS'), 'the worker\'s own code');
});

test('the Lua helpers read and write the same bytes as TS (real Redis)', async (t) => {
  const c = redis.client(t);
  const dir = mkdtempSync(join(tmpdir(), 'dhtscope-blob-lua-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const include = (name: string): string => relative(dir, join(ROOT, 'indexer', 'lua', 'includes', name));
  writeFileSync(
    join(dir, 'roundtrip.lua'),
    `-- @include ${include('fetch-state.lua')}
-- @include ${include('metadata-blob.lua')}
if ARGV[1] == 'blob' then
  local at = blob_fetched_at(ARGV[2])
  return at and string.format('%.0f', at) or false
end
local st = fetch_unpack(ARGV[2])
if st == nil then return false end
return fetch_pack(st)
`,
  );
  const script = LuaScript.fromFile(pathToFileURL(join(dir, 'roundtrip.lua')));
  await fc.assert(
    fc.asyncProperty(state, content, async (s, m) => {
      const bytes = encodeFetchState(s);
      const again = (await c.callBuffer('EVAL', script.source, '0', 'state', bytes)) as Buffer;
      const at = (await script.run(c, [], ['blob', encodeMetadataBlob(m)])) as string;
      return again.equals(bytes) && Number(at) === m.fetchedAt;
    }),
    params(150),
  );
  t.is(await script.run(c, [], ['state', 'short']), null, 'not a state: nil');
  t.is(await script.run(c, [], ['blob', Buffer.alloc(40)]), null, 'not a blob: nil');
});
