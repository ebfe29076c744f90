import { ID_BYTES } from './constants.js';
import { cryptoRandom, type RandomSource } from './random.js';
import { NodeIdError } from './errors.js';

/**
 * 160-bit node IDs and infohashes. They stay byte arrays end to end: a distance is a 160-bit
 * unsigned integer, which no JS number holds, and byte-wise comparison is exactly integer
 * comparison for big-endian values of equal length.
 */

export const ID_BITS = ID_BYTES * 8;

/**
 * A Buffer of exactly 20 bytes. A plain Uint8Array is not accepted, so that the guard never
 * claims Buffer methods an object lacks; pass it through `toNodeId` instead.
 */
export function isNodeId(x: unknown): x is Buffer {
  return Buffer.isBuffer(x) && x.length === ID_BYTES;
}

/** A 20-byte Buffer (or Uint8Array) as a Buffer, without copying; undefined for anything else. */
export function toNodeId(x: unknown): Buffer | undefined {
  if (!(x instanceof Uint8Array) || x.length !== ID_BYTES) return undefined;
  return Buffer.isBuffer(x) ? x : Buffer.from(x.buffer, x.byteOffset, x.byteLength);
}

function assertId(x: Uint8Array, what: string): void {
  if (x.length !== ID_BYTES) throw new NodeIdError('bad-length', `${what} has ${x.length} bytes, not ${ID_BYTES}`);
}

/** 20 fresh random bytes, in a Buffer of their own. */
export function randomId(random: RandomSource = cryptoRandom): Buffer {
  const id = Buffer.alloc(ID_BYTES);
  random.bytes(ID_BYTES).copy(id);
  return id;
}

/**
 * A random ID whose first `prefixBits` bits equal those of `prefix`: a uniformly chosen ID
 * inside the bucket that covers `prefix/prefixBits`, as bucket refresh needs.
 */
export function randomIdInRange(prefix: Uint8Array, prefixBits: number, random: RandomSource = cryptoRandom): Buffer {
  if (!Number.isInteger(prefixBits) || prefixBits < 0 || prefixBits > ID_BITS) {
    throw new NodeIdError('bad-prefix-bits', `prefixBits must be an integer 0..${ID_BITS}, got ${prefixBits}`);
  }
  const wholeBytes = prefixBits >>> 3;
  const partialBits = prefixBits & 7;
  const neededBytes = wholeBytes + (partialBits === 0 ? 0 : 1);
  if (prefix.length < neededBytes) {
    throw new NodeIdError('bad-prefix', `${prefixBits} prefix bits need ${neededBytes} bytes, prefix has ${prefix.length}`);
  }
  const id = randomId(random);
  id.set(prefix.subarray(0, wholeBytes), 0);
  if (partialBits !== 0) {
    const keep = (0xff << (8 - partialBits)) & 0xff;
    id[wholeBytes] = (prefix[wholeBytes]! & keep) | (id[wholeBytes]! & ~keep & 0xff);
  }
  return id;
}

/** a XOR b, the Kademlia distance, as a new 20-byte Buffer. */
export function xorDistance(a: Uint8Array, b: Uint8Array): Buffer {
  assertId(a, 'a');
  assertId(b, 'b');
  const out = Buffer.allocUnsafe(ID_BYTES);
  for (let i = 0; i < ID_BYTES; i++) out[i] = a[i]! ^ b[i]!;
  return out;
}

/**
 * -1 if `a` is closer to `target` than `b`, 1 if farther, 0 if equally close (then a equals b).
 * Allocates nothing: lookups call it for every candidate while sorting.
 */
export function compareDistance(target: Uint8Array, a: Uint8Array, b: Uint8Array): -1 | 0 | 1 {
  assertId(target, 'target');
  assertId(a, 'a');
  assertId(b, 'b');
  for (let i = 0; i < ID_BYTES; i++) {
    const t = target[i]!;
    const da = a[i]! ^ t;
    const db = b[i]! ^ t;
    if (da !== db) return da < db ? -1 : 1;
  }
  return 0;
}

/** How many leading bits `a` and `b` share, 0..160; 160 means equal. */
export function commonPrefixBits(a: Uint8Array, b: Uint8Array): number {
  assertId(a, 'a');
  assertId(b, 'b');
  for (let i = 0; i < ID_BYTES; i++) {
    const diff = a[i]! ^ b[i]!;
    // clz32 counts over 32 bits; a byte occupies the low 8.
    if (diff !== 0) return i * 8 + Math.clz32(diff) - 24;
  }
  return ID_BITS;
}

/** Byte-wise (that is, numeric) order of two IDs: -1, 0 or 1. */
export function compareIds(a: Uint8Array, b: Uint8Array): -1 | 0 | 1 {
  assertId(a, 'a');
  assertId(b, 'b');
  return Buffer.compare(a, b);
}

/** 40 lowercase hex characters. */
export function idToHex(id: Uint8Array): string {
  assertId(id, 'id');
  return Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString('hex');
}

const HEX_ID = /^[0-9a-fA-F]{40}$/;
const CANONICAL_HEX_ID = /^[0-9a-f]{40}$/;

/** 40 hex characters in either case: an ID or infohash as people type it. */
export function isHexId(text: string): boolean {
  return HEX_ID.test(text);
}

/** 40 lowercase hex characters: an ID or infohash as we store and print it (idToHex). */
export function isCanonicalHexId(text: string): boolean {
  return CANONICAL_HEX_ID.test(text);
}

/** Exactly 40 hex characters in either case; anything else throws (Buffer.from would truncate). */
export function idFromHex(hex: string): Buffer {
  if (!isHexId(hex)) throw new NodeIdError('bad-hex', `expected 40 hex characters, got ${JSON.stringify(hex.slice(0, 48))}`);
  return Buffer.from(hex, 'hex');
}
