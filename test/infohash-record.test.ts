import test from 'ava';
import fc from 'fast-check';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { InfohashRecordError } from '../indexer/errors.js';
import { type InfohashRecord, RECORD_BYTES, decodeRecord, encodeRecord, estimateSources, sourceBit } from '../indexer/infohash-record.js';
import { LuaScript } from '../redis/lua-script.js';
import { ROOT } from './helpers/cli.js';
import { params } from './helpers/fast-check.js';
import { useRedisServer } from './helpers/redis.js';

/** Schema 5's 24-byte infohash record, in TS and in Lua (indexer/infohash-record.ts). */
const redis = useRedisServer(test);

const record = fc.record({
  firstSeen: fc.integer({ min: 0, max: 2 ** 48 - 1 }),
  lastSeen: fc.integer({ min: 0, max: 2 ** 48 - 1 }),
  sightings: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
  sources: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
  peers: fc.integer({ min: 0, max: 65_535 }),
  flags: fc.integer({ min: 0, max: 255 }),
  lookupMinute: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
});

test('encode then decode gives the record back; the size is fixed', (t) => {
  fc.assert(
    fc.property(record, (r) => {
      const bytes = encodeRecord(r);
      return bytes.length === RECORD_BYTES && JSON.stringify(decodeRecord(bytes)) === JSON.stringify(r);
    }),
    params(500),
  );
  t.pass();
});

test('counts saturate; what does not fit or is not a record is refused with its own error', (t) => {
  const r: InfohashRecord = { firstSeen: 1, lastSeen: 2, sightings: 2 ** 40, sources: 0, peers: 70_000, flags: 0, lookupMinute: 0 };
  t.like(decodeRecord(encodeRecord(r)), { sightings: 2 ** 32 - 1, peers: 65_535 });
  t.throws(() => encodeRecord({ ...r, firstSeen: 2 ** 48 }), { instanceOf: InfohashRecordError, code: 'ERR_INFOHASH_RECORD' });
  t.throws(() => encodeRecord({ ...r, lastSeen: -1 }), { instanceOf: InfohashRecordError });
  t.throws(() => encodeRecord({ ...r, flags: 1.5 }), { instanceOf: InfohashRecordError });
  t.throws(() => decodeRecord(Buffer.alloc(27)), { instanceOf: InfohashRecordError, message: /28 bytes/ });
  t.throws(() => encodeRecord({ ...r, lookupMinute: 2 ** 32 }), { instanceOf: InfohashRecordError });
  const wrongFormat = encodeRecord(r);
  wrongFormat[0] = 2;
  t.throws(() => decodeRecord(wrongFormat), { instanceOf: InfohashRecordError, message: /format 2/ });
});

test('linear counting of sources is unbiased for small counts and saturates', (t) => {
  const addr = (): string => `${randomBytes(4).join('.')}:${1024 + (randomBytes(2).readUInt16BE(0) % 60_000)}`;
  for (const n of [1, 4, 16]) {
    let sum = 0;
    for (let trial = 0; trial < 500; trial++) {
      let bitmap = 0;
      for (let i = 0; i < n; i++) bitmap |= 1 << sourceBit(addr());
      sum += estimateSources(bitmap >>> 0);
    }
    t.true(Math.abs(sum / 500 - n) <= Math.max(0.3, n * 0.08), `${n} sources: mean estimate ${sum / 500}`);
  }
  t.is(estimateSources(0), 0);
  t.is(estimateSources(0xffffffff), 111, 'a full bitmap reads as its largest estimate');
});

test('the Lua side reads and writes the same bytes (real Redis)', async (t) => {
  const c = redis.client(t);
  // A script that includes the record helpers, as the batch scripts will.
  const dir = mkdtempSync(join(tmpdir(), 'dhtscope-record-lua-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const include = relative(dir, join(ROOT, 'indexer', 'lua', 'includes', 'infohash-record.lua'));
  writeFileSync(
    join(dir, 'roundtrip.lua'),
    `-- @include ${include}
local op = ARGV[1]
if op == 'unpack' then
  local r = record_unpack(ARGV[2])
  if r == nil then return false end
  local n = function(x) return string.format('%.0f', x) end
  return { n(r.first), n(r.last), n(r.seen), n(r.sources), n(r.peers), n(r.flags), n(r.lookup) }
elseif op == 'pack' then
  return record_pack({ first = tonumber(ARGV[2]), last = tonumber(ARGV[3]), seen = tonumber(ARGV[4]), sources = tonumber(ARGV[5]), peers = tonumber(ARGV[6]), flags = tonumber(ARGV[7]), lookup = tonumber(ARGV[8]) })
end
`,
  );
  const script = LuaScript.fromFile(pathToFileURL(join(dir, 'roundtrip.lua')));
  t.false(/^--\s*@include/m.test(script.source), 'the include was expanded');
  t.true(script.source.includes('local function record_unpack'));
  await fc.assert(
    fc.asyncProperty(record, async (r) => {
      const fields = (await script.run(c, [], ['unpack', encodeRecord(r)])) as string[];
      if (JSON.stringify(fields.map(Number)) !== JSON.stringify([r.firstSeen, r.lastSeen, r.sightings, r.sources, r.peers, r.flags, r.lookupMinute])) return false;
      const packed = (await c.callBuffer('EVAL', script.source, '0', 'pack', r.firstSeen, r.lastSeen, r.sightings, r.sources, r.peers, r.flags, r.lookupMinute)) as Buffer;
      return JSON.stringify(decodeRecord(packed)) === JSON.stringify(r);
    }),
    params(200),
  );
  t.is(await script.run(c, [], ['unpack', 'short']), null, 'not a record: nil');
});
