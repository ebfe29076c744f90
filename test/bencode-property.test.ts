/**
 * Property tests for bep5/bencode.ts (fast-check 4):
 *  (a) arbitrary bytes only ever give a value or a BencodeDecodeError, each within a time bound;
 *  (b) decode(encode(v)) round-trips, and encode(decode(b)) === b for canonical b;
 *  (c) differential against the npm `bencode` 4.0.1 package on values both accept.
 * Set FC_SEED (and FC_PATH) to replay a failure that fast-check reports.
 */
import test from 'ava';
import fc from 'fast-check';
import { params } from './helpers/fast-check.js';
import bencode from 'bencode';
import { decode, encode, tryDecode, type BencodeValue, type BencodeDict, type DecodeOptions, type Encodable } from '../bep5/bencode.js';
import { BencodeDecodeError, type BencodeFailure } from '../bep5/errors.js';

/** Per decode call; generous for a 2-core CI box (typical calls take microseconds). */
const MAX_MS_PER_CALL = 50;


const FAILURES: ReadonlySet<BencodeFailure> = new Set<BencodeFailure>([
  'empty', 'too-large', 'truncated', 'unexpected-byte', 'bad-integer', 'leading-zero', 'negative-zero',
  'integer-out-of-range', 'negative-length', 'bad-length', 'oversized-length', 'length-past-end',
  'too-deep', 'key-not-string', 'duplicate-key', 'trailing-bytes',
]);

// ---------------------------------------------------------------------------------------------
// Helpers

/**
 * A comparable plain form shared by both libraries: byte strings (Buffer or Uint8Array) and JS
 * strings (as UTF-8) become {hex}; dicts (null-prototype or not) become sorted entry lists;
 * -0 becomes 0; undefined dict values are dropped, as both encoders do.
 */
type Plain = number | { hex: string } | Plain[] | { dict: [string, Plain][] };
function plain(v: unknown): Plain {
  if (typeof v === 'number') return v === 0 ? 0 : v;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'string') return { hex: Buffer.from(v, 'utf8').toString('hex') };
  if (v instanceof Uint8Array) return { hex: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex') };
  if (Array.isArray(v)) return v.map(plain);
  if (typeof v === 'object' && v !== null) {
    const d = v as Record<string, unknown>;
    const keys = Object.keys(d).filter((k) => d[k] !== undefined).sort();
    return { dict: keys.map((k): [string, Plain] => [k, plain(d[k])]) };
  }
  throw new Error(`plain: unexpected ${typeof v}`);
}

/** Throws (so fast-check shrinks) unless a and b have the same plain form. */
function samePlain(a: unknown, b: unknown, what: string): void {
  const pa = JSON.stringify(plain(a));
  const pb = JSON.stringify(plain(b));
  if (pa !== pb) throw new Error(`${what}: ${pa} != ${pb}`);
}

/** Rebuilds every dict with its keys inserted in reverse order (plain objects, not null-prototype). */
function reverseKeys(v: BencodeValue): Encodable {
  if (typeof v === 'number' || Buffer.isBuffer(v)) return v;
  if (Array.isArray(v)) return v.map(reverseKeys);
  const d = v as BencodeDict;
  const out: Record<string, Encodable> = {};
  for (const k of Object.keys(d).reverse()) Object.defineProperty(out, k, { value: reverseKeys(d[k] as BencodeValue), enumerable: true, writable: true, configurable: true });
  return out;
}

/** Our decoder's documented shape: Buffers, safe integers, null-prototype dicts. */
function checkShape(v: BencodeValue): void {
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v) || Object.is(v, -0)) throw new Error(`bad integer ${v}`);
    return;
  }
  if (Buffer.isBuffer(v)) return;
  if (Array.isArray(v)) {
    for (const x of v) checkShape(x);
    return;
  }
  if (Object.getPrototypeOf(v) !== null) throw new Error('dict prototype is not null');
  for (const x of Object.values(v as BencodeDict)) checkShape(x);
}

function depthOf(v: BencodeValue): number {
  if (typeof v === 'number' || Buffer.isBuffer(v)) return 0;
  const children = Array.isArray(v) ? v : Object.values(v as BencodeDict);
  let d = 0;
  for (const c of children) d = Math.max(d, depthOf(c));
  return d + 1;
}

/**
 * Decodes with a time bound. Returns the value or the BencodeDecodeError; any other exception
 * (RangeError, TypeError, ...) propagates and fails the property.
 */
function boundedDecode(input: Uint8Array, options?: DecodeOptions): BencodeValue | BencodeDecodeError {
  const t0 = process.hrtime.bigint();
  let out: BencodeValue | BencodeDecodeError;
  try {
    out = decode(input, options);
  } catch (err) {
    if (!(err instanceof BencodeDecodeError)) throw err;
    out = err;
  }
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (ms >= MAX_MS_PER_CALL) throw new Error(`decode of ${input.length} bytes took ${ms.toFixed(2)} ms`);
  return out;
}

/** Checks everything that must hold for any input, whatever it decodes to. */
function checkAnyInput(input: Uint8Array, options?: DecodeOptions): void {
  const out = boundedDecode(input, options);
  const maxBytes = options?.maxBytes ?? 65_536;
  const maxDepth = options?.maxDepth ?? 32;
  if (out instanceof BencodeDecodeError) {
    if (!FAILURES.has(out.reason)) throw new Error(`unknown reason ${out.reason}`);
    if (out.code !== 'ERR_BENCODE_DECODE') throw new Error('bad code');
    if ((input.length === 0) !== (out.reason === 'empty')) throw new Error(`empty mismatch: ${out.reason}`);
    if ((input.length > maxBytes) !== (out.reason === 'too-large')) throw new Error(`too-large mismatch: ${out.reason}`);
    if (out.reason !== 'too-large' && !(out.offset >= 0 && out.offset <= input.length)) {
      throw new Error(`offset ${out.offset} outside input of ${input.length}`);
    }
    // tryDecode agrees.
    const r = tryDecode(input, options);
    if (!(r instanceof BencodeDecodeError) || r.reason !== out.reason || r.offset !== out.offset) throw new Error('tryDecode disagrees');
    return;
  }
  checkShape(out);
  if (depthOf(out) > maxDepth) throw new Error('accepted a value deeper than maxDepth');
  if (input.length > maxBytes) throw new Error('accepted an input larger than maxBytes');
  // Only dict key order may be non-canonical in accepted input, so re-encoding keeps the length
  // and the re-encoded bytes decode to the same value.
  const again = encode(out);
  if (again.length !== input.length) throw new Error(`re-encoded length ${again.length} != ${input.length}`);
  const back = decode(again, { maxBytes: Math.max(maxBytes, again.length), maxDepth });
  samePlain(back, out, 're-encode changed the value');
}

// ---------------------------------------------------------------------------------------------
// Arbitraries

const SYNTAX = [...'0123456789:ield-'].map((c) => c.charCodeAt(0));
/** Mostly bencode syntax characters, with an occasional arbitrary byte. */
const syntaxByte = fc.oneof(
  { weight: 12, arbitrary: fc.constantFrom(...SYNTAX) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) },
);
const syntaxBytes = fc.array(syntaxByte, { maxLength: 300 }).map((a) => Uint8Array.from(a));

const charOf = (min: number, max: number): fc.Arbitrary<string> => fc.integer({ min, max }).map((c) => String.fromCharCode(c));
/** Latin1 keys, with names that have tripped up other decoders mixed in. */
const latin1Key = fc.oneof(
  { weight: 6, arbitrary: fc.string({ unit: charOf(0, 255), maxLength: 8 }) },
  { weight: 1, arbitrary: fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty', '0', '9', '10', '') },
);
const asciiKey = fc.string({ unit: charOf(0, 127), maxLength: 8 }).filter((k) => k !== '__proto__');

const safeInt = fc.oneof(
  fc.integer({ min: -1000, max: 1000 }),
  fc.maxSafeInteger(),
  fc.constantFrom(0, -0, 1, -1, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 2 ** 31, 2 ** 32, -(2 ** 31)),
);
const bytesArb = fc.uint8Array({ maxLength: 40 });

function nullProtoDict<V>(entries: [string, V][]): Record<string, V> {
  const d: Record<string, V> = Object.create(null);
  for (const [k, v] of entries) d[k] = v;
  return d;
}

/** Values that decode returns: Buffers, safe integers, lists, null-prototype dicts with latin1 keys. */
const decodedValue: fc.Arbitrary<Encodable> = fc.letrec<{ value: Encodable; list: Encodable[]; dict: Record<string, Encodable> }>((tie) => ({
  value: fc.oneof(
    { maxDepth: 5, depthIdentifier: 'decoded' },
    bytesArb.map((u) => Buffer.from(u)),
    safeInt,
    tie('list'),
    tie('dict'),
  ),
  list: fc.array(tie('value'), { maxLength: 5, depthIdentifier: 'decoded' }),
  dict: fc
    .uniqueArray(fc.tuple(latin1Key, tie('value')), { selector: (e) => e[0], maxLength: 5, depthIdentifier: 'decoded' })
    .map(nullProtoDict),
})).value;

/**
 * Values both this encoder and bencode 4 accept identically: byte strings (plain Uint8Array or
 * Buffer), ASCII and Unicode JS strings (including lone surrogates), safe integers, lists, and
 * plain dicts with ASCII keys (never `__proto__`, which bencode 4 turns into a prototype), whose
 * values may be undefined (both skip those).
 */
const unicodeString = fc.oneof(
  fc.string({ unit: 'grapheme-ascii', maxLength: 12 }),
  fc.string({ unit: 'grapheme', maxLength: 6 }),
  fc.string({ unit: 'binary', maxLength: 6 }),
  fc.string({ unit: charOf(0xd800, 0xdfff), maxLength: 3 }),
);
const sharedValue: fc.Arbitrary<Encodable> = fc.letrec<{ value: Encodable; list: Encodable[]; dict: Record<string, Encodable | undefined> }>((tie) => ({
  value: fc.oneof(
    { maxDepth: 5, depthIdentifier: 'shared' },
    bytesArb,
    bytesArb.map((u) => Buffer.from(u)),
    unicodeString,
    safeInt,
    tie('list'),
    tie('dict'),
  ),
  list: fc.array(tie('value'), { maxLength: 5, depthIdentifier: 'shared' }),
  dict: fc
    .uniqueArray(fc.tuple(asciiKey, fc.option(tie('value'), { nil: undefined, freq: 8 })), {
      selector: (e) => e[0],
      maxLength: 5,
      depthIdentifier: 'shared',
    })
    .map((entries) => Object.fromEntries(entries) as Record<string, Encodable | undefined>),
})).value;

/** A canonical encoding with a few byte-level edits: mostly-valid inputs that probe each branch. */
const mutatedBytes = fc
  .tuple(
    decodedValue,
    fc.array(
      fc.tuple(fc.nat(), fc.constantFrom('set', 'insert', 'delete', 'truncate', 'duplicate'), syntaxByte),
      { minLength: 1, maxLength: 4 },
    ),
  )
  .map(([v, edits]) => {
    const bytes = [...encode(v)];
    for (const [at, op, byte] of edits) {
      const i = bytes.length === 0 ? 0 : at % bytes.length;
      if (op === 'set') bytes[i] = byte;
      else if (op === 'insert') bytes.splice(i, 0, byte);
      else if (op === 'delete') bytes.splice(i, 1);
      else if (op === 'truncate') bytes.length = i;
      else bytes.splice(i, 0, ...bytes.slice(i, i + 8));
    }
    return Uint8Array.from(bytes);
  });

// ---------------------------------------------------------------------------------------------
// (a) Arbitrary input: a value or a BencodeDecodeError, always fast

test('(a) random bytes (0..300) give a value or a BencodeDecodeError, quickly', (t) => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (input) => checkAnyInput(input)), params(1500));
  t.pass();
});

test('(a) bytes biased toward bencode syntax give a value or a BencodeDecodeError, quickly', (t) => {
  let accepted = 0;
  fc.assert(
    fc.property(syntaxBytes, (input) => {
      checkAnyInput(input);
      if (!(tryDecode(input) instanceof BencodeDecodeError)) accepted++;
    }),
    params(2500),
  );
  t.log(`${accepted} of the syntax-biased inputs decoded`);
  t.pass();
});

test('(a) mutated canonical encodings give a value or a BencodeDecodeError, quickly', (t) => {
  const reasons = new Map<string, number>();
  fc.assert(
    fc.property(mutatedBytes, (input) => {
      checkAnyInput(input);
      const r = tryDecode(input);
      const key = r instanceof BencodeDecodeError ? r.reason : 'decoded';
      reasons.set(key, (reasons.get(key) ?? 0) + 1);
    }),
    params(1500),
  );
  t.log([...reasons].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k}: ${n}`).join(', '));
  t.pass();
});

test('(a) random maxBytes/maxDepth are enforced exactly', (t) => {
  const input = fc.oneof(syntaxBytes, mutatedBytes, decodedValue.map((v) => encode(v)));
  fc.assert(
    fc.property(input, fc.integer({ min: 0, max: 8 }), fc.integer({ min: 0, max: 320 }), (bytes, maxDepth, maxBytes) => {
      checkAnyInput(bytes, { maxDepth, maxBytes });
    }),
    params(1500),
  );
  t.pass();
});

test('(a) syntax-biased inputs with a raised maxBytes still never overflow the stack', (t) => {
  // Long runs of 'l'/'d' make the deepest inputs; depth stays capped by the default maxDepth.
  const deepish = fc
    .array(fc.oneof({ weight: 6, arbitrary: fc.constantFrom(0x6c, 0x64, 0x31, 0x3a, 0x61) }, { weight: 1, arbitrary: syntaxByte }), {
      minLength: 1000,
      maxLength: 5000,
    })
    .map((a) => Uint8Array.from(a));
  fc.assert(fc.property(deepish, (input) => checkAnyInput(input, { maxBytes: 1 << 20 })), params(150));
  t.pass();
});

// ---------------------------------------------------------------------------------------------
// (b) Round trips

test('(b) decode(encode(v)) gives back v, with Buffers and null-prototype dicts', (t) => {
  fc.assert(
    fc.property(decodedValue, (v) => {
      const bytes = encode(v);
      const back = decode(bytes, { maxBytes: Infinity });
      checkShape(back);
      samePlain(back, v, 'round trip');
    }),
    params(1000),
  );
  t.pass();
});

test('(b) encode(decode(b)) === b for canonical b', (t) => {
  fc.assert(
    fc.property(decodedValue, (v) => {
      const canonical = encode(v);
      const again = encode(decode(canonical, { maxBytes: Infinity }));
      if (!again.equals(canonical)) throw new Error(`${canonical.toString('latin1')} re-encoded as ${again.toString('latin1')}`);
      // Encoding is independent of key insertion order and of the dict prototype.
      const reversed = encode(reverseKeys(decode(canonical, { maxBytes: Infinity })));
      if (!reversed.equals(canonical)) throw new Error('not deterministic');
    }),
    params(1000),
  );
  t.pass();
});

test('(b) JS strings and bigints encode as UTF-8 bytes and integers that decode back', (t) => {
  fc.assert(
    fc.property(sharedValue, fc.bigInt({ min: -(2n ** 53n) + 1n, max: 2n ** 53n - 1n }), (v, n) => {
      const back = decode(encode([v, n]), { maxBytes: Infinity });
      samePlain(back, [v, n], 'round trip');
    }),
    params(500),
  );
  t.pass();
});

// ---------------------------------------------------------------------------------------------
// (c) Differential against bencode 4.0.1

test('(c) encode produces exactly the bytes of bencode 4 encode', (t) => {
  fc.assert(
    fc.property(sharedValue, (v) => {
      const ours = encode(v);
      const theirs = bencode.encode(v);
      if (!ours.equals(Buffer.from(theirs.buffer, theirs.byteOffset, theirs.byteLength))) {
        throw new Error(`ours ${ours.toString('hex')} != bencode ${Buffer.from(theirs).toString('hex')}`);
      }
    }),
    params(1000),
  );
  t.pass();
});

test('(c) decode agrees with bencode 4 decode on those bytes', (t) => {
  fc.assert(
    fc.property(sharedValue, (v) => {
      const bytes = encode(v);
      const ours = decode(bytes, { maxBytes: Infinity });
      const theirs: unknown = bencode.decode(bytes);
      samePlain(ours, theirs, 'ours vs bencode 4');
      samePlain(ours, v, 'ours vs the encoded value');
    }),
    params(1000),
  );
  t.pass();
});
