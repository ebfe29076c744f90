import { randomBytes } from 'node:crypto';

/**
 * Where random bytes come from. Injected everywhere so tests are deterministic;
 * production uses the OS CSPRNG because transaction IDs, tokens and node IDs must be
 * unpredictable to an off-path attacker.
 */
export interface RandomSource {
  bytes(n: number): Buffer;
}

export const cryptoRandom: RandomSource = {
  bytes: (n) => randomBytes(n),
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
