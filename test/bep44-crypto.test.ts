/**
 * bep5/bep44.ts: BEP 44 targets and signatures against the BEP's test vectors (tests 1, 2, 3),
 * and signing from seeds: round trips, and one flipped bit anywhere fails verification.
 */
import test from 'ava';
import { generateKeyPair, immutableTarget, mutableTarget, publicKeyFromSeed, signItem, signedBytes, verifyItemSignature } from '../bep5/bep44.js';
import { Bep44Error } from '../bep5/errors.js';
import { seededRandom } from '../bep5/random.js';
import { VECTORS } from './helpers/bep44.js';

const { vBytes, publicKey, salt, seq } = VECTORS;

test('test vectors: the three targets', (t) => {
  t.is(mutableTarget(publicKey).toString('hex'), VECTORS.test1.target);
  t.is(mutableTarget(publicKey, salt).toString('hex'), VECTORS.test2.target);
  t.is(immutableTarget(vBytes).toString('hex'), VECTORS.test3.target);
  // An empty salt is as if none was given.
  t.is(mutableTarget(publicKey, Buffer.alloc(0)).toString('hex'), VECTORS.test1.target);
});

test('test vectors: the buffers being signed', (t) => {
  t.is(signedBytes(seq, vBytes).toString('latin1'), VECTORS.test1.signed);
  t.is(signedBytes(seq, vBytes, salt).toString('latin1'), VECTORS.test2.signed);
  t.is(signedBytes(seq, vBytes, Buffer.alloc(0)).toString('latin1'), VECTORS.test1.signed);
  t.is(signedBytes(4, Buffer.from('12:Hello world!')).toString('latin1'), '3:seqi4e1:v12:Hello world!'); // the BEP's own example
});

test('test vectors: the signatures of tests 1 and 2 verify with their public key', (t) => {
  t.true(verifyItemSignature(publicKey, VECTORS.test1.signature, seq, vBytes));
  t.true(verifyItemSignature(publicKey, VECTORS.test2.signature, seq, vBytes, salt));
  // ...and not for each other's buffer, nor another seq.
  t.false(verifyItemSignature(publicKey, VECTORS.test1.signature, seq, vBytes, salt));
  t.false(verifyItemSignature(publicKey, VECTORS.test2.signature, seq, vBytes));
  t.false(verifyItemSignature(publicKey, VECTORS.test1.signature, 2, vBytes));
});

test('the expanded private key of the vectors is not a seed: signing with its first half makes another key', (t) => {
  const notTheSeed = VECTORS.expandedPrivateKey.subarray(0, 32);
  t.false(publicKeyFromSeed(notTheSeed).equals(publicKey));
});

test('signing from a seed: the signature verifies with the seed public key; every flipped bit fails', (t) => {
  const { seed, publicKey: pk } = generateKeyPair();
  t.is(seed.length, 32);
  t.true(publicKeyFromSeed(seed).equals(pk));
  const value = Buffer.from('d3:fooi42e3:bar4:spame');
  for (const s of [undefined, Buffer.from('a salt')]) {
    const sig = signItem(seed, 7, value, s);
    t.is(sig.length, 64);
    t.true(verifyItemSignature(pk, sig, 7, value, s));
    t.false(verifyItemSignature(pk, sig, 8, value, s), 'another seq');
    t.false(verifyItemSignature(pk, sig, 7, value, s ? undefined : Buffer.from('x')), 'another salt');
    for (let bit = 0; bit < sig.length * 8; bit += 37) {
      const flipped = Buffer.from(sig);
      flipped[bit >> 3]! ^= 1 << (bit & 7);
      t.false(verifyItemSignature(pk, flipped, 7, value, s), `signature bit ${bit}`);
    }
    for (let bit = 0; bit < value.length * 8; bit += 11) {
      const flipped = Buffer.from(value);
      flipped[bit >> 3]! ^= 1 << (bit & 7);
      t.false(verifyItemSignature(pk, sig, 7, flipped, s), `value bit ${bit}`);
    }
    const otherKey = Buffer.from(pk);
    otherKey[0]! ^= 1;
    t.false(verifyItemSignature(otherKey, sig, 7, value, s), 'another key');
  }
});

test('ed25519 signatures are deterministic; key pairs from a seeded source are reproducible', (t) => {
  const a = generateKeyPair(seededRandom(7));
  const b = generateKeyPair(seededRandom(7));
  t.true(a.seed.equals(b.seed));
  t.true(a.publicKey.equals(b.publicKey));
  t.true(signItem(a.seed, 1, vBytes).equals(signItem(b.seed, 1, vBytes)));
  t.false(generateKeyPair(seededRandom(8)).publicKey.equals(a.publicKey));
});

test('malformed keys and signatures verify as false, never throw', (t) => {
  const sig = VECTORS.test1.signature;
  t.false(verifyItemSignature(publicKey.subarray(0, 31), sig, seq, vBytes));
  t.false(verifyItemSignature(publicKey, sig.subarray(0, 63), seq, vBytes));
  t.false(verifyItemSignature(Buffer.alloc(32, 0xff), sig, seq, vBytes), 'not a curve point');
  t.false(verifyItemSignature(Buffer.alloc(32), Buffer.alloc(64), seq, vBytes), 'all zero');
  t.false(verifyItemSignature(publicKey, sig, -1, vBytes));
  t.false(verifyItemSignature(publicKey, sig, 1.5, vBytes));
  t.false(verifyItemSignature(publicKey, sig, seq, vBytes, Buffer.alloc(65)));
});

test('signing refuses bad seeds, seqs and salts with a Bep44Error', (t) => {
  const { seed } = generateKeyPair();
  t.is(t.throws(() => signItem(seed.subarray(0, 31), 1, vBytes), { instanceOf: Bep44Error })?.reason, 'bad-seed');
  t.is(t.throws(() => signItem(seed, -1, vBytes), { instanceOf: Bep44Error })?.reason, 'bad-seq');
  t.is(t.throws(() => signItem(seed, 2 ** 53, vBytes), { instanceOf: Bep44Error })?.reason, 'bad-seq');
  t.is(t.throws(() => signItem(seed, 1, vBytes, Buffer.alloc(65)), { instanceOf: Bep44Error })?.reason, 'bad-salt');
  t.is(t.throws(() => mutableTarget(Buffer.alloc(31)), { instanceOf: Bep44Error })?.reason, 'bad-public-key');
});
