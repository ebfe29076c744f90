import { UsageError } from './errors.js';

/** Numeric option parsers shared by the commands (crawl, measure, testnet, run, prune, workers): integers, amounts, rates, fractions. */

/** An integer option in [min, max]. */
export function parseInteger(value: string | undefined, option: string, fallback: number, min = 1, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  const n = /^\s*\d+\s*$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? (min === 1 ? 'a positive integer' : `an integer >= ${min}`) : `an integer ${min}-${max}`;
    throw new UsageError(`${option} must be ${range}, got "${value}"`);
  }
  return n;
}

/** A number of `unit` (a rate, days): positive, or also 0 when `allowZero`; fractions allowed. */
export function parseAmount(value: string | undefined, option: string, fallback: number, unit: string, allowZero = false): number {
  if (value === undefined) return fallback;
  const n = value.trim() === '' ? NaN : Number(value);
  if (!Number.isFinite(n) || n < 0 || (n === 0 && !allowZero)) {
    throw new UsageError(`${option} must be a ${allowZero ? 'non-negative' : 'positive'} number ${unit}, got "${value}"`);
  }
  return n;
}

/** A rate (per second): a positive number, or also 0 when `allowZero`. */
export function parseRate(value: string | undefined, option: string, fallback: number, allowZero = false): number {
  return parseAmount(value, option, fallback, 'per second', allowZero);
}

/** A fraction in [0, 1] (or [0, 1) when `belowOne`). */
export function parseFraction(value: string | undefined, option: string, belowOne = false): number {
  if (value === undefined) return 0;
  const n = value.trim() === '' ? NaN : Number(value);
  if (!Number.isFinite(n) || n < 0 || n > 1 || (belowOne && n === 1)) {
    throw new UsageError(`${option} must be a fraction from 0 to ${belowOne ? '1 (exclusive)' : '1'}, e.g. 0.1, got "${value}"`);
  }
  return n;
}
