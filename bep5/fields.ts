import { type BencodeDict, type BencodeValue } from './bencode.js';
import { FieldError } from './errors.js';

/**
 * Reading typed fields out of a decoded dictionary. Every KRPC field goes through one of
 * these before use, so a wrong type or length is caught in one place, with a short reason
 * that can go back to the sender in an error 203.
 */

export function isDict(v: BencodeValue | undefined): v is BencodeDict {
  return typeof v === 'object' && v !== null && !Buffer.isBuffer(v) && !Array.isArray(v);
}

/** Own property only: dicts from `decode` have a null prototype, but callers may pass others. */
function get(dict: BencodeDict, key: string): BencodeValue | undefined {
  return Object.hasOwn(dict, key) ? dict[key] : undefined;
}

export interface LengthBounds {
  /** Exact length, or a [min, max] range (inclusive). */
  length?: number;
  min?: number;
  max?: number;
}

function checkLength(key: string, b: Buffer, bounds: LengthBounds): void {
  if (bounds.length !== undefined && b.length !== bounds.length) throw new FieldError(`${key} must be ${bounds.length} bytes`);
  if (bounds.min !== undefined && b.length < bounds.min) throw new FieldError(`${key} too short`);
  if (bounds.max !== undefined && b.length > bounds.max) throw new FieldError(`${key} too long`);
}

export function requireBytes(dict: BencodeDict, key: string, bounds: LengthBounds = {}): Buffer {
  const v = get(dict, key);
  if (v === undefined) throw new FieldError(`missing ${key}`);
  if (!Buffer.isBuffer(v)) throw new FieldError(`${key} must be a string`);
  checkLength(key, v, bounds);
  return v;
}

export function optionalBytes(dict: BencodeDict, key: string, bounds: LengthBounds = {}): Buffer | undefined {
  return get(dict, key) === undefined ? undefined : requireBytes(dict, key, bounds);
}

export interface IntBounds {
  min?: number;
  max?: number;
}

export function requireInt(dict: BencodeDict, key: string, bounds: IntBounds = {}): number {
  const v = get(dict, key);
  if (v === undefined) throw new FieldError(`missing ${key}`);
  if (typeof v !== 'number') throw new FieldError(`${key} must be an integer`);
  if (bounds.min !== undefined && v < bounds.min) throw new FieldError(`${key} out of range`);
  if (bounds.max !== undefined && v > bounds.max) throw new FieldError(`${key} out of range`);
  return v;
}

export function optionalInt(dict: BencodeDict, key: string, bounds: IntBounds = {}): number | undefined {
  return get(dict, key) === undefined ? undefined : requireInt(dict, key, bounds);
}

/** A 0/1 flag (BEP 33 `seed`, `noseed`, `scrape`; BEP 5 `implied_port`): any non-zero integer is set. */
export function optionalFlag(dict: BencodeDict, key: string): boolean {
  const v = optionalInt(dict, key);
  return v !== undefined && v !== 0;
}

export function requireDict(dict: BencodeDict, key: string): BencodeDict {
  const v = get(dict, key);
  if (v === undefined) throw new FieldError(`missing ${key}`);
  if (!isDict(v)) throw new FieldError(`${key} must be a dictionary`);
  return v;
}

export function optionalList(dict: BencodeDict, key: string, maxItems: number): BencodeValue[] | undefined {
  const v = get(dict, key);
  if (v === undefined) return undefined;
  if (!Array.isArray(v)) throw new FieldError(`${key} must be a list`);
  if (v.length > maxItems) throw new FieldError(`${key} has too many items`);
  return v;
}

export { get as getField };
