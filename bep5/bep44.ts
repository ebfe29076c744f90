import { type KeyObject, createHash, createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
import { BEP44_MAX_SALT_BYTES, BEP44_PUBLIC_KEY_BYTES, BEP44_SEED_BYTES, BEP44_SIGNATURE_BYTES } from './constants.js';
import { Bep44Error } from './errors.js';
import { type RandomSource, cryptoRandom } from './random.js';

/**
 * BEP 44 targets and signatures: where an item is stored and who may change it.
 *
 * - Immutable items live under SHA-1 of their bencoded value, mutable ones under SHA-1 of the
 *   32-byte ed25519 public key followed by the salt (empty when absent).
 * - A mutable item is signed over `4:salt<len>:<salt>` (only with a non-empty salt), then
 *   `3:seqi<seq>e1:v`, then the bencoded value, each part encoded on its own so that no parser
 *   bug can move bytes from one part to another (BEP 44, "Signature Verification").
 * - ed25519 is Node's own (`crypto.sign` / `crypto.verify` with a null digest). Keys are given
 *   as raw bytes: a 32-byte public key, and for signing the 32-byte seed of RFC 8032 (what
 *   libsodium calls the seed). The BEP's test-vector private key is 64 bytes: the expanded key
 *   of nightcracker's ed25519 (SHA-512 of a seed, clamped), from which no seed can be had, and
 *   Node signs from seeds only; signatures made from it still verify here.
 *
 * Every function takes the value as its bencoded bytes (`vBytes`): those are what is hashed
 * and signed, so they must be the canonical bytes that travel (bencode.ts isCanonicalDecoding).
 */

export interface Bep44KeyPair {
  /** The 32-byte ed25519 seed (RFC 8032 private key): keep it secret. */
  seed: Buffer;
  /** The 32-byte ed25519 public key (`k`). */
  publicKey: Buffer;
}

/** PKCS#8 DER of an Ed25519 private key is this 16-byte prefix followed by the 32-byte seed (RFC 8410). */
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

const sha1 = (...parts: Uint8Array[]): Buffer => {
  const hash = createHash('sha1');
  for (const part of parts) hash.update(part);
  return hash.digest();
};

/** Where an immutable item is stored: SHA-1 of its bencoded value. */
export function immutableTarget(vBytes: Uint8Array): Buffer {
  return sha1(vBytes);
}

/** Where a mutable item is stored: SHA-1 of the public key followed by the salt (none: as if empty). */
export function mutableTarget(publicKey: Uint8Array, salt?: Uint8Array): Buffer {
  checkLength('bad-public-key', 'public key', publicKey, BEP44_PUBLIC_KEY_BYTES);
  return salt === undefined ? sha1(publicKey) : sha1(publicKey, salt);
}

/** The bytes a mutable item's signature covers. */
export function signedBytes(seq: number, vBytes: Uint8Array, salt?: Uint8Array): Buffer {
  if (!Number.isSafeInteger(seq) || seq < 0) throw new Bep44Error('bad-seq', `seq must be an integer 0..2^53-1, got ${String(seq)}`);
  if (salt !== undefined && salt.length > BEP44_MAX_SALT_BYTES) throw new Bep44Error('bad-salt', `salt of ${salt.length} bytes (at most ${BEP44_MAX_SALT_BYTES})`);
  const saltPart = salt !== undefined && salt.length > 0 ? [Buffer.from(`4:salt${salt.length}:`, 'latin1'), salt] : [];
  return Buffer.concat([...saltPart, Buffer.from(`3:seqi${seq}e1:v`, 'latin1'), vBytes]);
}

/**
 * Whether `signature` is `publicKey`'s signature of the item (seq, value, salt). False, never
 * a throw, for anything malformed: wrong lengths, a key that is not a curve point.
 */
export function verifyItemSignature(publicKey: Uint8Array, signature: Uint8Array, seq: number, vBytes: Uint8Array, salt?: Uint8Array): boolean {
  if (publicKey.length !== BEP44_PUBLIC_KEY_BYTES || signature.length !== BEP44_SIGNATURE_BYTES) return false;
  if (!Number.isSafeInteger(seq) || seq < 0 || (salt !== undefined && salt.length > BEP44_MAX_SALT_BYTES)) return false;
  try {
    return verify(null, signedBytes(seq, vBytes, salt), publicKeyObject(publicKey), signature);
  } catch {
    return false;
  }
}

/** Signs the item (seq, value, salt) with the key of `seed`: the 64-byte `sig` of a mutable put. */
export function signItem(seed: Uint8Array, seq: number, vBytes: Uint8Array, salt?: Uint8Array): Buffer {
  return sign(null, signedBytes(seq, vBytes, salt), privateKeyObject(seed));
}

/** The public key (`k`) of a seed. */
export function publicKeyFromSeed(seed: Uint8Array): Buffer {
  const jwk = createPublicKey(privateKeyObject(seed)).export({ format: 'jwk' });
  return Buffer.from(jwk.x ?? '', 'base64url');
}

/** A new key pair from 32 random bytes (the OS CSPRNG unless a source is given). */
export function generateKeyPair(random: RandomSource = cryptoRandom): Bep44KeyPair {
  const seed = random.bytes(BEP44_SEED_BYTES);
  return { seed, publicKey: publicKeyFromSeed(seed) };
}

function publicKeyObject(publicKey: Uint8Array): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(publicKey).toString('base64url') }, format: 'jwk' });
}

function privateKeyObject(seed: Uint8Array): KeyObject {
  checkLength('bad-seed', 'seed', seed, BEP44_SEED_BYTES);
  return createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' });
}

function checkLength(reason: 'bad-seed' | 'bad-public-key', what: string, b: Uint8Array, length: number): void {
  if (!(b instanceof Uint8Array) || b.length !== length) throw new Bep44Error(reason, `${what} must be ${length} bytes`);
}
