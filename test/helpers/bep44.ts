/**
 * What the BEP 44 tests (bep44-*.test.ts, queries-outgoing) share: the BEP's test vectors, and
 * a fast-check arbitrary of values as they arrive from the wire (canonical, decoded).
 */
import fc from 'fast-check';
import { type BencodeValue, type Encodable, decode, encode } from '../../bep5/bencode.js';

/** BEP 44 "Test Vectors": the value, key, salt, targets and signatures, as bytes. */
export const VECTORS = {
  /** `12:Hello World!` */
  vBytes: Buffer.from('12:Hello World!', 'latin1'),
  publicKey: Buffer.from('77ff84905a91936367c01360803104f92432fcd904a43511876df5cdf3e7e548', 'hex'),
  /**
   * The BEP's 64-byte private key: the expanded key of nightcracker's ed25519 (SHA-512 of a
   * seed, clamped), not seed ‖ public key. The seed cannot be had from it, and Node signs from
   * seeds only, so the vectors' signatures are verified here, not reproduced.
   */
  expandedPrivateKey: Buffer.from('e06d3183d14159228433ed599221b80bd0a5ce8352e4bdf0262f76786ef1c74db7e7a9fea2c0eb269d61e3b38e450a22e754941ac78479d6c54e1faf6037881d', 'hex'),
  salt: Buffer.from('foobar', 'latin1'),
  seq: 1,
  test1: {
    signed: '3:seqi1e1:v12:Hello World!',
    target: '4a533d47ec9c7d95b1ad75f576cffc641853b750',
    signature: Buffer.from('305ac8aeb6c9c151fa120f120ea2cfb923564e11552d06a5d856091e5e853cff1260d3f39e4999684aa92eb73ffd136e6f4f3ecbfda0ce53a1608ecd7ae21f01', 'hex'),
  },
  test2: {
    signed: '4:salt6:foobar3:seqi1e1:v12:Hello World!',
    target: '411eba73b6f087ca51a3795d9c8c938d365e32c1',
    signature: Buffer.from('6834284b6b24c3204eb2fea824d82f88883a3d95e8b4a21b8c0ded553d17d17ddf9a8a7104b1258f30bed3787e6cb896fca78c58f8e03b5f18f14951a87d9a08', 'hex'),
  },
  test3: { target: 'e5f96f6f38320f0f33959cb4d3d656452117aadb' },
} as const;

/** A value as it arrives: encoded, then decoded (Buffers, safe integers, null-prototype dicts), with its bytes. */
export function arrived(value: Encodable): { v: BencodeValue; vBytes: Buffer } {
  const vBytes = encode(value);
  return { v: decode(vBytes), vBytes };
}

const leaf: fc.Arbitrary<Encodable> = fc.oneof(
  fc.uint8Array({ maxLength: 40 }).map((u) => Buffer.from(u)),
  fc.integer({ min: -1_000_000, max: Number.MAX_SAFE_INTEGER }),
);

/** BEP 44 values of at most `maxBytes` bencoded (default 1,000), nesting at most 4 levels, as they arrive. */
export const valueArb = (maxBytes = 1_000): fc.Arbitrary<{ v: BencodeValue; vBytes: Buffer }> =>
  fc
    .letrec<{ value: Encodable }>((tie) => ({
      value: fc.oneof(
        { maxDepth: 4, depthIdentifier: 'bep44' },
        leaf,
        fc.array(tie('value'), { maxLength: 6, depthIdentifier: 'bep44' }),
        fc.dictionary(fc.string({ unit: 'binary-ascii', maxLength: 6 }), tie('value'), { maxKeys: 6, depthIdentifier: 'bep44' }),
      ),
    }))
    .value.map(arrived)
    .filter((a) => a.vBytes.length <= maxBytes);
