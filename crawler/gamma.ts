/**
 * The lower tail of Gamma(a, 1), in logs: the Sybil scan's p-values (crawler/sybil.ts) reach
 * 1e-100 and beyond, where the probabilities themselves underflow.
 */

/**
 * ln P(a, x), the regularized lower incomplete gamma function: ln P(Gamma(a, 1) <= x).
 * Series for x < a + 1, continued fraction for the upper tail otherwise (Numerical Recipes,
 * gser / gcf); both to about 1e-15 relative.
 */
export function logGammaCdf(a: number, x: number): number {
  if (!(a > 0)) throw new RangeError(`shape must be positive, got ${a}`);
  if (!(x > 0)) return Number.NEGATIVE_INFINITY;
  if (x === Number.POSITIVE_INFINITY) return 0;
  const logPrefix = -x + a * Math.log(x) - logGamma(a);
  if (x < a + 1) {
    // P = e^-x x^a / Gamma(a) * sum_{n>=0} x^n / (a (a+1) ... (a+n))
    let term = 1 / a;
    let sum = term;
    for (let n = 1; n < 100_000; n++) {
      term *= x / (a + n);
      sum += term;
      if (term < sum * 1e-16) break;
    }
    return logPrefix + Math.log(sum);
  }
  // Q = e^-x x^a / Gamma(a) * 1 / (x + 1 - a - 1 (1 - a) / (x + 3 - a - ...)), modified Lentz.
  const tiny = 1e-300;
  let b = x + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 100_000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return Math.log1p(-Math.exp(logPrefix) * h);
}

/** The x with ln P(a, x) = logP (the lower-tail quantile), by bisection; logP < ln 1/2. */
export function gammaLowerQuantileLog(a: number, logP: number): number {
  // P(a, a) >= 1/2 for the shapes used here, so the root lies in (0, a).
  let lo = 0;
  let hi = a;
  for (let i = 0; i < 200 && hi - lo > hi * 1e-14; i++) {
    const mid = (lo + hi) / 2;
    if (logGammaCdf(a, mid) < logP) lo = mid;
    else hi = mid;
  }
  return lo;
}

const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905,
  -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];

/** ln Gamma(z) for z > 0 (Lanczos, g = 7; about 1e-15 relative). */
function logGamma(z: number): number {
  if (z < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * z)) - logGamma(1 - z);
  const x = z - 1;
  let sum = LANCZOS[0]!;
  for (let i = 1; i < 9; i++) sum += LANCZOS[i]! / (x + i);
  const t = x + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(sum);
}
