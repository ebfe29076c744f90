/**
 * The metadata fetcher's pieces without sockets: handshake and framing (peer-wire.ts), BEP 10
 * and BEP 9 messages, the assembler, the info dict summary, display escaping, and the whole
 * exchange driven byte by byte.
 */
import test from 'ava';
import bencode from 'bencode';
import { seededRandom } from '../bep5/random.js';
import { displayText } from '../bep5/display-text.js';
import {
  MetadataHashMismatchError,
  MetadataInvalidError,
  MetadataPieceInvalidError,
  MetadataSizeInvalidError,
  PeerMessageTooLargeError,
  PeerProtocolError,
  PeerTooManyMessagesError,
} from '../bep9/errors.js';
import { encodeExtendedHandshake, parseExtendedHandshake } from '../bep9/extension-handshake.js';
import { parseInfoDictionary } from '../bep9/info-dictionary.js';
import { DEFAULT_LIMITS, resolveLimits } from '../bep9/limits.js';
import { MetadataAssembler } from '../bep9/metadata-assembler.js';
import { MetadataExchange } from '../bep9/metadata-exchange.js';
import {
  checkIgnoredMessage,
  encodeHandshake,
  encodeMessage,
  makePeerId,
  parseHandshake,
  WireReader,
  type WireHandler,
} from '../bep9/peer-wire.js';
import { encodeMetadataRequest, parseUtMetadata } from '../bep9/ut-metadata.js';
import { makeInfoDict, sha1 } from '../testkit/metadata-peer.js';

const INFOHASH = Buffer.alloc(20, 0x11);
const PEER_ID = makePeerId(seededRandom(1));

function recorder(): { events: string[]; handler: WireHandler } {
  const events: string[] = [];
  return {
    events,
    handler: {
      handshake: (h) => events.push(`handshake ${h.infohash.toString('hex').slice(0, 4)} ext=${h.supportsExtensions}`),
      message: (id, payload) => events.push(`message ${id} ${payload.toString('hex')}`),
      keepAlive: () => events.push('keep-alive'),
    },
  };
}

test('our handshake: protocol string, only reserved bit 0x10 in byte 5, infohash, DS peer id', (t) => {
  const hs = encodeHandshake(INFOHASH, PEER_ID);
  t.is(hs.length, 68);
  t.is(hs[0], 19);
  t.is(hs.subarray(1, 20).toString('latin1'), 'BitTorrent protocol');
  t.deepEqual([...hs.subarray(20, 28)], [0, 0, 0, 0, 0, 0x10, 0, 0]);
  t.true(hs.subarray(28, 48).equals(INFOHASH));
  t.is(hs.subarray(48, 56).toString('latin1'), '-DS0001-');
  t.false(makePeerId(seededRandom(2)).equals(PEER_ID), 'the random part comes from the injected source');
  const parsed = parseHandshake(hs);
  t.true(parsed.supportsExtensions);
  t.true(parsed.peerId.equals(PEER_ID));
  const wrong = Buffer.from(hs);
  wrong[3] = 0x78;
  t.throws(() => parseHandshake(wrong), { instanceOf: PeerProtocolError });
});

test('framing: the same events however the stream is split, keep-alives included', (t) => {
  const stream = Buffer.concat([
    encodeHandshake(INFOHASH, PEER_ID),
    Buffer.alloc(4), // keep-alive
    encodeMessage(5, Buffer.from([0xff, 0x80])),
    encodeMessage(4, Buffer.from([0, 0, 0, 9])),
    encodeMessage(20, Buffer.alloc(30_000, 1)),
  ]);
  const whole = recorder();
  new WireReader(DEFAULT_LIMITS, whole.handler).push(stream);
  const bytewise = recorder();
  const reader = new WireReader(DEFAULT_LIMITS, bytewise.handler);
  let maxBuffered = 0;
  for (let i = 0; i < stream.length; i++) {
    reader.push(stream.subarray(i, i + 1));
    maxBuffered = Math.max(maxBuffered, reader.bufferedBytes);
  }
  t.is(whole.events.length, 5);
  t.deepEqual(bytewise.events, whole.events);
  t.is(reader.messages, 4);
  t.is(reader.bufferedBytes, 0);
  t.true(maxBuffered <= 30_001, `buffered at most one message (${maxBuffered})`);
});

test('framing limits: a 4 GiB prefix fails on its 4 bytes; the message count is capped', (t) => {
  const reader = new WireReader(DEFAULT_LIMITS, recorder().handler);
  reader.push(encodeHandshake(INFOHASH, PEER_ID));
  const err = t.throws(() => reader.push(Buffer.from([0xff, 0xff, 0xff, 0xff])), { instanceOf: PeerMessageTooLargeError });
  t.is(err?.size, 0xffff_ffff);
  t.is(reader.bufferedBytes, 0, 'nothing allocated for it');

  const counted = new WireReader({ ...DEFAULT_LIMITS, maxMessages: 10 }, recorder().handler);
  counted.push(encodeHandshake(INFOHASH, PEER_ID));
  counted.push(Buffer.alloc(40)); // 10 keep-alives: fine
  t.throws(() => counted.push(Buffer.alloc(4)), { instanceOf: PeerTooManyMessagesError });
});

test('ignored messages must have their BEP 3 size; piece messages are never expected', (t) => {
  t.notThrows(() => checkIgnoredMessage(4, 4));
  t.notThrows(() => checkIgnoredMessage(5, 12_345));
  t.notThrows(() => checkIgnoredMessage(0x0e, 0), 'unknown ids pass');
  t.throws(() => checkIgnoredMessage(4, 5), { instanceOf: PeerProtocolError });
  t.throws(() => checkIgnoredMessage(1, 1), { instanceOf: PeerProtocolError });
  t.throws(() => checkIgnoredMessage(7, 20), { instanceOf: PeerProtocolError });
});

test('extended handshake: ours advertises ut_metadata only; theirs is read strictly', (t) => {
  const ours = encodeExtendedHandshake(1);
  t.is(ours.subarray(4).toString('latin1'), '\x14\x00d1:md11:ut_metadatai1eee');
  t.is(ours.readUInt32BE(0), ours.length - 4);

  const theirs = Buffer.from(bencode.encode({ m: { ut_metadata: 2, ut_pex: 1 }, metadata_size: 1234, v: 'µTorrent\u202e 1.2\n', reqq: 250 }));
  t.deepEqual(parseExtendedHandshake(theirs), { utMetadataId: 2, metadataSize: 1234, client: 'µTorrent\\u{202e} 1.2\\x0a' });
  t.deepEqual(parseExtendedHandshake(Buffer.from('de')), { utMetadataId: 0, metadataSize: undefined, client: undefined });
  t.is(parseExtendedHandshake(Buffer.from(bencode.encode({ m: { ut_metadata: 0 } }))).utMetadataId, 0, '0 = disabled');
  const bad = (v: unknown): Buffer => Buffer.from(bencode.encode(v));
  t.throws(() => parseExtendedHandshake(bad({ m: { ut_metadata: 256 } })), { instanceOf: PeerProtocolError });
  t.throws(() => parseExtendedHandshake(bad({ m: { ut_metadata: 'x' } })), { instanceOf: PeerProtocolError });
  t.throws(() => parseExtendedHandshake(bad({ m: 5 })), { instanceOf: PeerProtocolError });
  t.throws(() => parseExtendedHandshake(bad([1])), { instanceOf: PeerProtocolError });
  t.throws(() => parseExtendedHandshake(bad({ metadata_size: 'x' })), { instanceOf: MetadataSizeInvalidError });
  t.throws(() => parseExtendedHandshake(Buffer.from('d1:md11:ut_metadatai1e')), { instanceOf: PeerProtocolError });
  t.throws(() => parseExtendedHandshake(Buffer.from('de junk')), { instanceOf: PeerProtocolError });
});

test('ut_metadata: request bytes; data split at the header end even when the data holds bencode', (t) => {
  t.is(encodeMetadataRequest(3, 7).subarray(4).toString('latin1'), '\x14\x03d8:msg_typei0e5:piecei7ee');
  const data = Buffer.from('ee1:xi3ee', 'latin1');
  const msg = parseUtMetadata(Buffer.concat([Buffer.from('d8:msg_typei1e5:piecei2e10:total_sizei40000ee'), data]));
  t.deepEqual(msg, { type: 'data', piece: 2, totalSize: 40_000, data });
  t.deepEqual(parseUtMetadata(Buffer.from('d8:msg_typei2e5:piecei0ee')), { type: 'reject', piece: 0 });
  t.deepEqual(parseUtMetadata(Buffer.from('d8:msg_typei9e5:piecei0ee')), { type: 'unknown', msgType: 9 });
  // A string value inside the header does not confuse the scan.
  t.deepEqual(parseUtMetadata(Buffer.from('d1:x3:eee8:msg_typei0e5:piecei1ee')), { type: 'request', piece: 1 });
  for (const bad of ['', 'i1e', 'd8:msg_typei1e', 'd8:msg_typei0e5:piecei1eeXYZ', 'd8:msg_typei1e5:piecei-1ee', 'd5:piecei0ee', `d1:x2000:${'a'.repeat(2000)}e`]) {
    t.throws(() => parseUtMetadata(Buffer.from(bad)), { instanceOf: PeerProtocolError }, JSON.stringify(bad.slice(0, 40)));
  }
});

test('assembler: a window of requests, each piece once at its exact size, then SHA-1', (t) => {
  const metadata = Buffer.alloc(40_000, 9);
  const a = new MetadataAssembler(metadata.length, 2);
  t.is(a.pieceCount, 3);
  t.deepEqual(a.takeRequests(), [0, 1]);
  t.deepEqual(a.takeRequests(), []);
  t.throws(() => a.accept(2, metadata.length, metadata.subarray(32_768)), { instanceOf: MetadataPieceInvalidError }, 'not requested');
  t.throws(() => a.accept(0, 1, metadata.subarray(0, 16_384)), { instanceOf: MetadataPieceInvalidError }, 'total_size');
  t.throws(() => a.accept(0, undefined, metadata.subarray(0, 16_384)), { instanceOf: MetadataPieceInvalidError }, 'no total_size');
  t.throws(() => a.accept(0, metadata.length, metadata.subarray(0, 100)), { instanceOf: MetadataPieceInvalidError }, 'short');
  a.accept(0, metadata.length, metadata.subarray(0, 16_384));
  t.throws(() => a.accept(0, metadata.length, metadata.subarray(0, 16_384)), { instanceOf: MetadataPieceInvalidError }, 'twice');
  t.deepEqual(a.takeRequests(), [2]);
  a.accept(1, metadata.length, metadata.subarray(16_384, 32_768));
  a.accept(2, metadata.length, metadata.subarray(32_768));
  t.true(a.complete);
  t.is(a.bufferedBytes, metadata.length);
  t.true(a.assemble(sha1(metadata)).equals(metadata));

  const b = new MetadataAssembler(10, 4);
  b.takeRequests();
  b.accept(0, 10, Buffer.alloc(10));
  t.throws(() => b.assemble(INFOHASH), { instanceOf: MetadataHashMismatchError });
});

test('displayText: valid UTF-8 kept, controls and format characters and bad bytes escaped, unambiguously', (t) => {
  const d = (hex: string, extra?: string): string => displayText(Buffer.from(hex, 'hex'), extra);
  t.is(displayText(Buffer.from('plain name.mkv')), 'plain name.mkv');
  t.is(displayText(Buffer.from('näme ☃ 日本 🎉')), 'näme ☃ 日本 🎉');
  t.is(displayText(Buffer.from('a\u0001b\nc\u007f')), 'a\\x01b\\x0ac\\x7f');
  t.is(displayText(Buffer.from('back\\slash')), 'back\\\\slash');
  t.is(displayText(Buffer.from('\u202egnp.exe\u200b')), '\\u{202e}gnp.exe\\u{200b}');
  t.is(displayText(Buffer.from('\u0085')), '\\u{85}', 'C1 control');
  t.is(d('ff'), '\\xff');
  t.is(d('c080'), '\\xc0\\x80', 'overlong');
  t.is(d('eda080'), '\\xed\\xa0\\x80', 'surrogate');
  t.is(d('f4908080'), '\\xf4\\x90\\x80\\x80', 'above U+10FFFF');
  t.is(d('e282'), '\\xe2\\x82', 'truncated');
  t.is(displayText(Buffer.from('a/b')), 'a/b');
  t.is(displayText(Buffer.from('a/b'), '/'), 'a\\x2fb');
  t.not(displayText(Buffer.from('\\x01')), displayText(Buffer.from('\x01')));
});

test('info dict: single file, multi-file with pad files, and the listing cap', (t) => {
  const single = parseInfoDictionary(makeInfoDict('one.bin', 1, 40_000));
  t.like(single, { singleFile: true, fileCount: 1, totalSize: 40_000, pieceLength: 16_384, pieceCount: 3, private: false, metaVersion: 1 });
  t.is(single.files[0]?.displayPath, 'one.bin');

  const multi = parseInfoDictionary(makeInfoDict('many', 150, 100), { maxListedFiles: 10 });
  t.like(multi, { singleFile: false, fileCount: 150, totalSize: 15_000 });
  t.is(multi.files.length, 10);
  t.is(multi.files[3]?.displayPath, 'dir/file-3.bin');

  const padded = Buffer.from(
    bencode.encode({
      files: [
        { length: 10, path: ['a'] },
        { attr: 'p', length: 16_374, path: ['.pad', '16374'] },
        { length: 5, path: ['b/c', '\u0007'] },
      ],
      'meta version': 2,
      name: 'x',
      'piece length': 16_384,
      pieces: Buffer.alloc(40),
      private: 1,
    }),
  );
  const p = parseInfoDictionary(padded);
  t.like(p, { fileCount: 2, totalSize: 15, pieceCount: 2, private: true, metaVersion: 2 });
  t.deepEqual(p.files.map((f) => f.displayPath), ['a', 'b\\x2fc/\\x07']);
});

test('info dict: anything malformed is MetadataInvalidError', (t) => {
  const enc = (v: unknown): Buffer => Buffer.from(bencode.encode(v));
  const base = { name: 'n', 'piece length': 16_384, pieces: Buffer.alloc(20), length: 5 };
  const cases: Array<[string, Buffer]> = [
    ['not bencode', Buffer.from('d4:name')],
    ['a list', enc([1])],
    ['no name', enc({ ...base, name: undefined })],
    ['name not a string', enc({ ...base, name: 5 })],
    ['piece length 0', enc({ ...base, 'piece length': 0 })],
    ['pieces not /20', enc({ ...base, pieces: Buffer.alloc(21) })],
    ['too few pieces', enc({ ...base, length: 16_385 })],
    ['negative length', enc({ ...base, length: -1 })],
    ['both length and files', enc({ ...base, files: [{ length: 5, path: ['a'] }] })],
    ['neither', enc({ ...base, length: undefined })],
    ['empty path', enc({ ...base, length: undefined, files: [{ length: 5, path: [] }] })],
    ['path element not a string', enc({ ...base, length: undefined, files: [{ length: 5, path: [1] }] })],
    ['huge integer', Buffer.from('d6:lengthi99999999999999999e4:name1:n12:piece lengthi16384e6:pieces0:e')],
    ['trailing bytes', Buffer.concat([enc(base), Buffer.from('x')])],
  ];
  for (const [what, bytes] of cases) t.throws(() => parseInfoDictionary(bytes), { instanceOf: MetadataInvalidError }, what);
});

test('info dict: long names and deep paths are cut and flagged, raw bytes kept', (t) => {
  const longName = Buffer.alloc(5000, 0x61);
  const deep = Array.from({ length: 40 }, (_, i) => `d${i}`);
  const info = Buffer.from(
    bencode.encode({ files: [{ length: 1, path: deep }], name: longName, 'piece length': 16_384, pieces: Buffer.alloc(20) }),
  );
  const p = parseInfoDictionary(info);
  t.is(p.name.raw.length, 1024);
  t.true(p.name.truncated);
  t.is(p.files[0]?.path.length, 32);
  t.true(p.files[0]?.truncated);
});

test('limits: overrides must be positive integers and leave room for one piece', (t) => {
  t.is(resolveLimits({ maxMessages: 5 }).maxMessages, 5);
  t.throws(() => resolveLimits({ maxMessages: 0 }), { instanceOf: RangeError });
  t.throws(() => resolveLimits({ totalTimeoutMs: 1.5 }), { instanceOf: RangeError });
  t.throws(() => resolveLimits({ maxMessageLength: 1000 }), { instanceOf: RangeError });
});

test('the whole exchange, fed one byte at a time: requests a window, verifies, sends nothing else', (t) => {
  const info = makeInfoDict('exchange', 900);
  const infohash = sha1(info);
  const ex = new MetadataExchange({ infohash, peerId: PEER_ID, limits: resolveLimits({ requestWindow: 2 }) });
  const sent: Buffer[] = [ex.opening()];
  const feed = (bytes: Buffer): void => {
    for (let i = 0; i < bytes.length; i++) sent.push(...ex.receive(bytes.subarray(i, i + 1)));
  };
  const peerHandshake = Buffer.from(encodeHandshake(infohash, Buffer.alloc(20, 0x50)));
  feed(peerHandshake);
  t.is(ex.state, 'extended-handshake');
  const ext = Buffer.concat([Buffer.from([0]), Buffer.from(bencode.encode({ m: { ut_metadata: 7 }, metadata_size: info.length }))]);
  feed(encodeMessage(20, ext));
  t.is(ex.state, 'metadata');
  const requests = (): string[] => sent.slice(2).map((b) => b.subarray(4).toString('latin1'));
  t.deepEqual(requests(), ['\x14\x07d8:msg_typei0e5:piecei0ee', '\x14\x07d8:msg_typei0e5:piecei1ee'], 'a window of 2, addressed with their id');
  feed(encodeMessage(4, Buffer.from([0, 0, 0, 1]))); // have: ignored
  for (let piece = 0; piece * 16_384 < info.length; piece++) {
    const header = Buffer.from(bencode.encode({ msg_type: 1, piece, total_size: info.length }));
    feed(encodeMessage(20, Buffer.concat([Buffer.from([1]), header, info.subarray(piece * 16_384, (piece + 1) * 16_384)])));
  }
  t.is(ex.state, 'done');
  t.true(ex.metadata?.equals(info));
  t.is(ex.ignoredMessages, 1);
  t.is(requests().length, Math.ceil(info.length / 16_384));
  t.notThrows(() => ex.receive(Buffer.from('anything after the end is dropped')));
});
