import { randomBytes, randomFillSync } from 'node:crypto';

/**
 * Where random bytes come from. Injected everywhere so tests are deterministic;
 * production uses the OS CSPRNG because transaction IDs, tokens and node IDs must be
 * unpredictable to an off-path attacker.
 */
export interface RandomSource {
  bytes(n: number): Buffer;
}

/**
 * Requests up to this size are served from a pool filled by the CSPRNG 4 KiB at a time: a
 * crawl draws 20-30 bytes per query (targets, transaction IDs), and one getrandom call each
 * cost an eighth of its CPU at 10,000 queries a second. Each byte is handed out once.
 */
const POOL_BYTES = 4096;
const POOLED_MAX = 256;
const pool = Buffer.alloc(POOL_BYTES);
let poolAt = POOL_BYTES;

export const cryptoRandom: RandomSource = {
  bytes(n) {
    if (n > POOLED_MAX) return randomBytes(n);
    if (poolAt + n > POOL_BYTES) {
      randomFillSync(pool);
      poolAt = 0;
    }
    const out = Buffer.allocUnsafe(n);
    pool.copy(out, 0, poolAt, poolAt + n);
    poolAt += n;
    return out;
  },
};

/**
 * A deterministic generator for tests and simulations (splitmix32). Never use it where an
 * attacker could benefit from predicting the output.
 */
export function seededRandom(seed: number): RandomSource {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  return {
    bytes(n) {
      const out = Buffer.allocUnsafe(n);
      for (let i = 0; i < n; i += 4) {
        const word = next();
        for (let j = 0; j < 4 && i + j < n; j++) out[i + j] = (word >>> (8 * j)) & 0xff;
      }
      return out;
    },
  };
}

/** A uniformly random integer in [0, bound), bound <= 2^32, without modulo bias. */
export function randomInt(random: RandomSource, bound: number): number {
  if (!Number.isInteger(bound) || bound <= 0 || bound > 2 ** 32) throw new RangeError(`bad bound ${bound}`);
  const limit = 2 ** 32 - (2 ** 32 % bound);
  for (;;) {
    const x = random.bytes(4).readUInt32BE(0);
    if (x < limit) return x % bound;
  }
}
