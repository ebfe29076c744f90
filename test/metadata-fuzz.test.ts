/**
 * Property tests (fast-check) of the metadata fetcher's decoding of untrusted bytes: random
 * streams, cut into random chunks, through the framing and the whole exchange; random bencode
 * through the info dict summary; random bytes through display escaping. Properties: nothing but
 * a MetadataError is ever thrown, buffered bytes never pass the limits, nothing unverified is
 * ever accepted, and display escaping is reversible. Set FC_SEED (and FC_PATH) to replay.
 */
import test from 'ava';
import bencode from 'bencode';
import fc from 'fast-check';
import { encode, type Encodable } from '../bep5/bencode.js';
import { seededRandom } from '../bep5/random.js';
import { displayText } from '../bep5/display-text.js';
import { MetadataError } from '../bep9/errors.js';
import { parseExtendedHandshake } from '../bep9/extension-handshake.js';
import { parseInfoDictionary } from '../bep9/info-dictionary.js';
import { resolveLimits } from '../bep9/limits.js';
import { MetadataExchange } from '../bep9/metadata-exchange.js';
import { encodeHandshake, encodeMessage, makePeerId, WireReader } from '../bep9/peer-wire.js';
import { parseUtMetadata } from '../bep9/ut-metadata.js';
import { makeInfoDict, sha1 } from '../testkit/metadata-peer.js';
import { params } from './helpers/fast-check.js';

const LIMITS = resolveLimits({ maxMessages: 500, maxMetadataSize: 64 * 1024 });
const INFO = makeInfoDict('fuzz', 900);
const INFOHASH = sha1(INFO);
const PEER_ID = makePeerId(seededRandom(7));
const HANDSHAKE = encodeHandshake(INFOHASH, Buffer.alloc(20, 0x70));

/** Runs `fn`; anything thrown must be a MetadataError (a typed, expected rejection). */
function onlyTyped(fn: () => void): MetadataError | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    if (err instanceof MetadataError) return err;
    throw err;
  }
}

/** Cuts `bytes` at the given fractions into chunks, as TCP may deliver them. */
function chunksOf(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => Math.floor(c * bytes.length)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of [...points, bytes.length]) {
    if (p > prev) out.push(bytes.subarray(prev, p));
    prev = Math.max(prev, p);
  }
  return out;
}

/** Feeds chunks to a fresh exchange, checking the bounds after every chunk; stops at the first error. */
function runExchange(chunks: Buffer[]): { ex: MetadataExchange; error: MetadataError | undefined } {
  const ex = new MetadataExchange({ infohash: INFOHASH, peerId: PEER_ID, limits: LIMITS });
  for (const chunk of chunks) {
    const error = onlyTyped(() => ex.receive(chunk));
    const bound = 4 + LIMITS.maxMessageLength + (ex.metadataSize ?? 0);
    if (ex.bufferedBytes > bound) throw new Error(`buffered ${ex.bufferedBytes} > ${bound}`);
    if (ex.messages > LIMITS.maxMessages) throw new Error(`${ex.messages} messages accepted`);
    if (error !== undefined) return { ex, error };
  }
  return { ex, error: undefined };
}

const cutsArb = fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 12 });

test('random byte streams into the framing: typed errors only, at most one message buffered', (t) => {
  fc.assert(
    fc.property(fc.boolean(), fc.uint8Array({ maxLength: 4_000 }), cutsArb, (withHandshake, bytes, cuts) => {
      const stream = Buffer.concat([withHandshake ? HANDSHAKE : Buffer.alloc(0), Buffer.from(bytes)]);
      const reader = new WireReader(LIMITS, { handshake: () => {}, message: () => {}, keepAlive: () => {} });
      for (const chunk of chunksOf(stream, cuts)) {
        if (onlyTyped(() => reader.push(chunk)) !== undefined) break;
        if (reader.bufferedBytes > 4 + LIMITS.maxMessageLength) throw new Error(`buffered ${reader.bufferedBytes}`);
      }
    }),
    params(400),
  );
  t.pass();
});

test('random byte streams into the whole exchange: typed errors only, bounded, never done', (t) => {
  fc.assert(
    fc.property(fc.boolean(), fc.uint8Array({ maxLength: 4_000 }), cutsArb, (withHandshake, bytes, cuts) => {
      const stream = Buffer.concat([withHandshake ? HANDSHAKE : Buffer.alloc(0), Buffer.from(bytes)]);
      const { ex } = runExchange(chunksOf(stream, cuts));
      if (ex.state === 'done') throw new Error('random bytes produced verified metadata');
    }),
    params(400),
  );
  t.pass();
});

/** A framed message a confused or hostile peer might send after the handshakes. */
const messageArb: fc.Arbitrary<Buffer> = fc.oneof(
  // BEP 3 messages with right or wrong sizes, and unknown ids.
  fc.tuple(fc.integer({ min: 0, max: 30 }), fc.uint8Array({ maxLength: 20 })).map(([id, p]) => encodeMessage(id, p)),
  // Keep-alives and raw length prefixes (some huge).
  fc.constant(Buffer.alloc(4)),
  fc.integer({ min: 0, max: 0xffff_ffff }).map((n) => Buffer.from([n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff])),
  // ut_metadata messages to our id (1) or others: data/reject/request/unknown with random fields and data.
  fc
    .tuple(
      fc.integer({ min: 0, max: 3 }),
      fc.integer({ min: -1, max: 4 }),
      fc.oneof(fc.constant(INFO.length), fc.integer({ min: -5, max: 100_000 })),
      fc.oneof(fc.constant('honest'), fc.uint8Array({ maxLength: 17_000 })),
      fc.oneof(fc.constant(1), fc.integer({ min: 0, max: 255 })),
    )
    .map(([msgType, piece, total, data, extId]) => {
      const header = encode({ msg_type: msgType, piece, total_size: total });
      const body = data === 'honest' ? INFO.subarray(Math.max(piece, 0) * 16_384, (Math.max(piece, 0) + 1) * 16_384) : data;
      return encodeMessage(20, Buffer.concat([Buffer.from([extId]), header, body]));
    }),
  // Repeated or odd extended handshakes.
  fc.uint8Array({ maxLength: 200 }).map((p) => encodeMessage(20, Buffer.concat([Buffer.from([0]), p]))),
);

const extHandshakeArb = fc.oneof(
  fc.constant<Encodable>({ m: { ut_metadata: 5 }, metadata_size: INFO.length }),
  fc.record({
    m: fc.oneof(fc.constant<Encodable>({ ut_metadata: 5 }), fc.dictionary(fc.string({ maxLength: 12 }), fc.integer({ min: -2, max: 300 }))),
    metadata_size: fc.oneof(fc.constant(INFO.length), fc.integer({ min: -3, max: 200_000 })),
  }) as fc.Arbitrary<Encodable>,
);

test('valid handshakes then random messages: typed errors only, bounded, and only the real metadata is accepted', (t) => {
  let reachedMetadata = 0;
  fc.assert(
    fc.property(extHandshakeArb, fc.array(messageArb, { maxLength: 30 }), cutsArb, (ext, messages, cuts) => {
      const opening = Buffer.concat([HANDSHAKE, encodeMessage(20, Buffer.concat([Buffer.from([0]), encode(ext)]))]);
      const { ex } = runExchange(chunksOf(Buffer.concat([opening, ...messages]), cuts));
      if (ex.state === 'done' && !ex.metadata?.equals(INFO)) throw new Error('accepted metadata that is not the info dict');
      if (ex.state === 'metadata' || ex.state === 'done') reachedMetadata++;
    }),
    params(300),
  );
  // The generator must get past the handshakes, or the properties above prove little.
  t.true(reachedMetadata > 30, `${reachedMetadata} runs reached the metadata phase`);
});

test('random bytes into the BEP 9 and BEP 10 message parsers: typed errors only', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
      const b = Buffer.from(bytes);
      onlyTyped(() => parseUtMetadata(b));
      onlyTyped(() => parseExtendedHandshake(b));
      onlyTyped(() => parseUtMetadata(Buffer.concat([Buffer.from('d8:msg_typei1e5:piecei0e'), b])));
    }),
    params(1_000),
  );
  t.pass();
});

/** Bencode values shaped like (broken) info dicts. */
const infoLike: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown; file: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.integer({ min: -10, max: 100_000 }),
    fc.uint8Array({ maxLength: 60 }),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.record(
      {
        name: fc.oneof(fc.string(), tie('value')),
        'piece length': fc.oneof(fc.constant(16_384), fc.integer({ min: -1, max: 40_000 })),
        pieces: fc.oneof(fc.uint8Array({ maxLength: 100 }), fc.constant(Buffer.alloc(20))),
        length: fc.integer({ min: -1, max: 50_000 }),
        files: fc.array(tie('file'), { maxLength: 5 }),
      },
      { requiredKeys: [] },
    ),
  ),
  file: fc.record(
    {
      length: fc.oneof(fc.integer({ min: -1, max: 20_000 }), tie('value')),
      path: fc.oneof(fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 }), tie('value')),
      attr: fc.constantFrom('p', 'x', ''),
    },
    { requiredKeys: [] },
  ),
})).value;

test('random info-like dicts: a summary or MetadataInvalidError, nothing else', (t) => {
  fc.assert(
    fc.property(infoLike, (value) => {
      const bytes = Buffer.from(bencode.encode(value as Parameters<typeof bencode.encode>[0]));
      onlyTyped(() => parseInfoDictionary(bytes));
    }),
    params(500),
  );
  t.pass();
});

/** The inverse of displayText, written independently: proves the escaping loses nothing. */
function undisplay(text: string): Buffer {
  const out: number[] = [];
  for (let i = 0; i < text.length; ) {
    if (text.startsWith('\\\\', i)) {
      out.push(0x5c);
      i += 2;
    } else if (text.startsWith('\\x', i)) {
      out.push(parseInt(text.slice(i + 2, i + 4), 16));
      i += 4;
    } else if (text.startsWith('\\u{', i)) {
      const end = text.indexOf('}', i);
      out.push(...Buffer.from(String.fromCodePoint(parseInt(text.slice(i + 3, end), 16)), 'utf8'));
      i = end + 1;
    } else {
      const cp = text.codePointAt(i) as number;
      out.push(...Buffer.from(String.fromCodePoint(cp), 'utf8'));
      i += cp > 0xffff ? 2 : 1;
    }
  }
  return Buffer.from(out);
}

test('displayText is reversible and shows no control, format or separator characters', (t) => {
  const bytesArb = fc.oneof(
    fc.uint8Array({ maxLength: 64 }),
    fc.string({ unit: 'binary', maxLength: 32 }).map((s) => Buffer.from(s, 'utf8')),
  );
  fc.assert(
    fc.property(bytesArb, (bytes) => {
      const text = displayText(bytes);
      if (/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u.test(text)) throw new Error(`hidden character in ${JSON.stringify(text)}`);
      if (!undisplay(text).equals(Buffer.from(bytes))) throw new Error(`not reversible: ${JSON.stringify(text)}`);
    }),
    params(2_000),
  );
  t.pass();
});
