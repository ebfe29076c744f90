import { BencodeDecodeError, BencodeEncodeError } from './errors.js';
/**
 * Strict, bounded bencode (BEP 3) for untrusted datagrams, and a canonical encoder.
 *
 * Decoding guarantees (each one is a test in test/bencode-*.test.ts):
 * - every step consumes at least one byte, so time is linear in the input size;
 * - byte strings are views into the input (no copy), so memory is bounded by the input size
 *   plus one small object per value; callers that keep a string for long should copy it,
 *   or the whole datagram stays alive;
 * - nesting depth, input size and integer range are bounded and checked before use;
 * - dictionaries have a null prototype: a key `__proto__` is an ordinary key.
 *
 * Choices where the format leaves room, made for safety over leniency:
 * - integers must be JS safe integers (|n| <= 2^53 - 1); larger ones are rejected, never
 *   rounded. KRPC has no field that needs more (ports, codes, intervals, counts);
 * - non-canonical numbers (`i-0e`, `i007e`, `05:hello`) and trailing bytes are rejected;
 * - dictionary keys are decoded as latin1 ("binary") strings, which keeps every key byte
 *   exactly and sorts in byte order; a repeated key is rejected; unsorted keys are accepted
 *   because some deployed clients send them and the meaning is unambiguous.
 *
 * Is encode(decode(x)) byte for byte x? Checked here, for BEP 44, which hashes and signs values
 * by their bencoded bytes: integers and string lengths are canonical or rejected, keys and
 * strings keep their bytes, and duplicate keys are rejected, so the only non-canonical input
 * that decodes is a dictionary with unsorted keys, which encode writes sorted. Such a
 * dictionary is remembered as it is decoded (one comparison per key), and
 * isCanonicalDecoding(value) says whether a decoded value (a put's `v`) re-encodes to exactly
 * the bytes it came from. (The keys' own order cannot tell: JavaScript lists integer-like keys
 * such as "10" and "9" first, in numeric order, whatever order they were inserted in.)
 */

/** A decoded value. Byte strings are Buffers; dictionaries have a null prototype. */
export type BencodeValue = Buffer | number | BencodeValue[] | BencodeDict;
export interface BencodeDict {
  [key: string]: BencodeValue;
}

/** What `encode` accepts. Strings are written as UTF-8; `undefined` dict values are skipped. */
export type Encodable =
  | Uint8Array
  | string
  | number
  | bigint
  | readonly Encodable[]
  | { readonly [key: string]: Encodable | undefined };

export interface DecodeOptions {
  /** Largest accepted input in bytes. Default 65,536: one UDP datagram at most. */
  maxBytes?: number;
  /** Deepest accepted nesting of lists and dicts. Default 32; KRPC messages need 4. At most MAX_DEPTH_LIMIT. */
  maxDepth?: number;
}

export const DEFAULT_MAX_BYTES = 65_536;
export const DEFAULT_MAX_DEPTH = 32;
/** The most `maxDepth` may be: about 5,000 levels overflow Node's default stack here. */
export const MAX_DEPTH_LIMIT = 512;

const CH_0 = 0x30;
const CH_9 = 0x39;
const CH_COLON = 0x3a;
const CH_MINUS = 0x2d;
const CH_D = 0x64;
const CH_E = 0x65;
const CH_I = 0x69;
const CH_L = 0x6c;
/**
 * Dict keys up to this many bytes go through a small cache of recently made key strings (see
 * Decoder.key): building a short string in JS and reusing it is much cheaper than
 * Buffer#toString, and KRPC keys repeat. Every hit is checked byte by byte, so the cache never
 * changes a result; its size is fixed, so hostile keys only cause misses.
 */
const MAX_CACHED_KEY = 16;
const KEY_CACHE_SIZE = 256; // a power of 2
const keyCache: (string | undefined)[] = new Array<string | undefined>(KEY_CACHE_SIZE).fill(undefined);
/** 2^53 - 1 has 16 digits; more digits than this can only be out of range or a leading zero. */
const MAX_INT_DIGITS = 16;
/** Dictionaries decoded from unsorted keys (rare: see the module comment); weak, so they go with their values. */
const unsortedDicts = new WeakSet<BencodeDict>();

/** Decodes exactly one bencoded value that spans the whole input, or throws BencodeDecodeError. */
export function decode(input: Uint8Array, options: DecodeOptions = {}): BencodeValue {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  // The decoder recurses once per level: a hard ceiling keeps any caller's setting far from
  // the stack limit, so deep input is always a BencodeDecodeError, never a RangeError.
  const maxDepth = Math.min(options.maxDepth ?? DEFAULT_MAX_DEPTH, MAX_DEPTH_LIMIT);
  if (input.byteLength === 0) throw new BencodeDecodeError('empty', 0);
  if (input.byteLength > maxBytes) throw new BencodeDecodeError('too-large', maxBytes);
  const buf = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  const decoder = new Decoder(buf, maxDepth);
  const value = decoder.value(0);
  if (decoder.pos !== buf.length) throw new BencodeDecodeError('trailing-bytes', decoder.pos);
  return value;
}

/** Like decode, but returns the error instead of throwing it: for hot paths that only count failures. */
export function tryDecode(input: Uint8Array, options?: DecodeOptions): BencodeValue | BencodeDecodeError {
  try {
    return decode(input, options);
  } catch (err) {
    if (err instanceof BencodeDecodeError) return err;
    throw err;
  }
}

class Decoder {
  pos = 0;
  constructor(
    private readonly buf: Buffer,
    private readonly maxDepth: number,
  ) {}

  value(depth: number): BencodeValue {
    const c = this.buf[this.pos];
    if (c === undefined) throw new BencodeDecodeError('truncated', this.pos);
    if (c >= CH_0 && c <= CH_9) return this.string();
    if (c === CH_I) return this.integer();
    if (c === CH_L) return this.list(depth + 1);
    if (c === CH_D) return this.dict(depth + 1);
    throw new BencodeDecodeError(c === CH_MINUS ? 'negative-length' : 'unexpected-byte', this.pos);
  }

  private integer(): number {
    const buf = this.buf;
    const start = ++this.pos; // past 'i'
    let negative = false;
    if (buf[this.pos] === CH_MINUS) {
      negative = true;
      this.pos++;
    }
    const digitsStart = this.pos;
    let n = 0;
    for (;;) {
      const c = buf[this.pos];
      if (c === undefined) throw new BencodeDecodeError('truncated', this.pos);
      if (c === CH_E) break;
      if (c < CH_0 || c > CH_9) throw new BencodeDecodeError('bad-integer', this.pos);
      if (this.pos - digitsStart >= MAX_INT_DIGITS) throw new BencodeDecodeError('integer-out-of-range', start);
      n = n * 10 + (c - CH_0);
      this.pos++;
    }
    const digits = this.pos - digitsStart;
    if (digits === 0) throw new BencodeDecodeError('bad-integer', this.pos);
    if (digits > 1 && buf[digitsStart] === CH_0) throw new BencodeDecodeError('leading-zero', digitsStart);
    if (negative && n === 0) throw new BencodeDecodeError('negative-zero', start);
    if (n > Number.MAX_SAFE_INTEGER) throw new BencodeDecodeError('integer-out-of-range', start);
    this.pos++; // past 'e'
    return negative ? -n : n;
  }

  /** Reads `<len>:` and returns [start, end) of the string bytes, checked against the input end. */
  private stringBounds(): number {
    const buf = this.buf;
    const lenStart = this.pos;
    let len = 0;
    for (;;) {
      const c = buf[this.pos];
      if (c === undefined) throw new BencodeDecodeError('truncated', this.pos);
      if (c === CH_COLON) break;
      if (c < CH_0 || c > CH_9) throw new BencodeDecodeError(c === CH_MINUS ? 'negative-length' : 'bad-length', this.pos);
      len = len * 10 + (c - CH_0);
      // The input is at most maxBytes long, so a longer length can never be satisfied:
      // stop before the number grows without bound.
      if (len > buf.length) throw new BencodeDecodeError('oversized-length', lenStart);
      this.pos++;
    }
    if (this.pos === lenStart) throw new BencodeDecodeError('bad-length', this.pos);
    if (this.pos - lenStart > 1 && buf[lenStart] === CH_0) throw new BencodeDecodeError('leading-zero', lenStart);
    this.pos++; // past ':'
    if (this.pos + len > buf.length) throw new BencodeDecodeError('length-past-end', lenStart);
    return len;
  }

  private string(): Buffer {
    const len = this.stringBounds();
    const start = this.pos;
    this.pos += len;
    return this.buf.subarray(start, this.pos);
  }

  private key(): string {
    const buf = this.buf;
    const c = buf[this.pos];
    if (c === undefined) throw new BencodeDecodeError('truncated', this.pos);
    if (c < CH_0 || c > CH_9) throw new BencodeDecodeError('key-not-string', this.pos);
    const len = this.stringBounds();
    const start = this.pos;
    const end = start + len;
    this.pos = end;
    if (len > MAX_CACHED_KEY) return buf.toString('latin1', start, end);
    // Short keys repeat across messages (`t`, `y`, `id`, `nodes`...): reuse the string made
    // last time, after checking every byte, so a collision only costs a miss.
    let h = len;
    for (let i = start; i < end; i++) h = (Math.imul(h, 31) + (buf[i] as number)) | 0;
    const slot = (h ^ (h >>> 11)) & (KEY_CACHE_SIZE - 1);
    const cached = keyCache[slot];
    if (cached !== undefined && cached.length === len) {
      let i = 0;
      while (i < len && cached.charCodeAt(i) === buf[start + i]) i++;
      if (i === len) return cached;
    }
    let key = '';
    for (let i = start; i < end; i++) key += String.fromCharCode(buf[i] as number);
    keyCache[slot] = key;
    return key;
  }

  private list(depth: number): BencodeValue[] {
    if (depth > this.maxDepth) throw new BencodeDecodeError('too-deep', this.pos);
    this.pos++; // past 'l'
    const out: BencodeValue[] = [];
    for (;;) {
      const c = this.buf[this.pos];
      if (c === undefined) throw new BencodeDecodeError('truncated', this.pos);
      if (c === CH_E) break;
      out.push(this.value(depth));
    }
    this.pos++; // past 'e'
    return out;
  }

  private dict(depth: number): BencodeDict {
    if (depth > this.maxDepth) throw new BencodeDecodeError('too-deep', this.pos);
    this.pos++; // past 'd'
    const out: BencodeDict = Object.create(null);
    let previous: string | undefined;
    let sorted = true;
    for (;;) {
      const c = this.buf[this.pos];
      if (c === undefined) throw new BencodeDecodeError('truncated', this.pos);
      if (c === CH_E) break;
      const keyOffset = this.pos;
      const key = this.key();
      if (key in out) throw new BencodeDecodeError('duplicate-key', keyOffset);
      // latin1 strings compare char by char, which is byte order.
      if (previous !== undefined && key < previous) sorted = false;
      previous = key;
      out[key] = this.value(depth);
    }
    this.pos++; // past 'e'
    if (!sorted) unsortedDicts.add(out);
    return out;
  }
}

/**
 * Whether `value`, as `decode` returned it, was canonical bencoding, i.e. encode(value) gives
 * back exactly the bytes it was decoded from: false when any dictionary in it arrived with
 * unsorted keys. Values built in code (not decoded) count as canonical: encode sorts them.
 */
export function isCanonicalDecoding(value: BencodeValue): boolean {
  const stack: BencodeValue[] = [value];
  for (let v = stack.pop(); v !== undefined; v = stack.pop()) {
    if (typeof v === 'number' || Buffer.isBuffer(v)) continue;
    if (Array.isArray(v)) {
      for (const item of v) stack.push(item);
      continue;
    }
    if (unsortedDicts.has(v)) return false;
    for (const key of Object.keys(v)) stack.push(v[key]!);
  }
  return true;
}

/**
 * Encodes canonically: dict keys sorted by their bytes, integers in shortest form.
 * Dict keys are latin1 strings (as `decode` returns them), so decode→encode is byte-exact
 * whenever the input was canonical (isCanonicalDecoding).
 */
export function encode(value: Encodable): Buffer {
  const enc = new Encoder();
  enc.value(value, 0);
  return enc.finish();
}

/** Nesting limit on encode too, so a cyclic structure fails fast instead of overflowing. */
const MAX_ENCODE_DEPTH = 256;

/**
 * Only plain objects are dictionaries. A Map, Date, DataView, boxed primitive or non-byte
 * typed array would otherwise encode as `de` or as a dict of its indices, silently wrong.
 */
function isPlainObject(v: object): boolean {
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

class Encoder {
  private buf = Buffer.allocUnsafe(512);
  private pos = 0;

  finish(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.pos));
  }

  private reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  private byte(c: number): void {
    this.reserve(1);
    this.buf[this.pos++] = c;
  }

  private ascii(s: string): void {
    this.reserve(s.length);
    this.pos += this.buf.write(s, this.pos, 'latin1');
  }

  private bytes(b: Uint8Array): void {
    this.ascii(String(b.byteLength));
    this.byte(CH_COLON);
    this.reserve(b.byteLength);
    this.buf.set(b, this.pos);
    this.pos += b.byteLength;
  }

  value(v: Encodable, depth: number): void {
    if (depth > MAX_ENCODE_DEPTH) throw new BencodeEncodeError('unsupported-type', 'nesting too deep (cycle?)');
    if (typeof v === 'string') {
      const len = Buffer.byteLength(v, 'utf8');
      this.ascii(String(len));
      this.byte(CH_COLON);
      this.reserve(len);
      this.pos += this.buf.write(v, this.pos, 'utf8');
    } else if (typeof v === 'number') {
      if (!Number.isSafeInteger(v)) throw new BencodeEncodeError('not-a-safe-integer', String(v));
      this.byte(CH_I);
      this.ascii(String(v === 0 ? 0 : v)); // String(-0) is "0": canonical
      this.byte(CH_E);
    } else if (typeof v === 'bigint') {
      this.byte(CH_I);
      this.ascii(v.toString());
      this.byte(CH_E);
    } else if (v instanceof Uint8Array) {
      this.bytes(v);
    } else if (Array.isArray(v)) {
      this.byte(CH_L);
      for (const item of v as readonly Encodable[]) {
        if (item === undefined) throw new BencodeEncodeError('undefined-in-list', 'lists cannot hold undefined');
        this.value(item, depth + 1);
      }
      this.byte(CH_E);
    } else if (typeof v === 'object' && v !== null && isPlainObject(v)) {
      this.byte(CH_D);
      const dict = v as { readonly [key: string]: Encodable | undefined };
      const keys = Object.keys(dict).sort();
      for (const key of keys) {
        const item = dict[key];
        if (item === undefined) continue;
        for (let i = 0; i < key.length; i++) {
          if (key.charCodeAt(i) > 0xff) throw new BencodeEncodeError('non-latin1-key', JSON.stringify(key));
        }
        this.ascii(String(key.length));
        this.byte(CH_COLON);
        this.ascii(key);
        this.value(item, depth + 1);
      }
      this.byte(CH_E);
    } else {
      const kind = v === null ? 'null' : typeof v === 'object' ? ((v as object).constructor?.name ?? 'object') : typeof v;
      throw new BencodeEncodeError('unsupported-type', kind);
    }
  }
}
