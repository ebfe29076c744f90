import { type ParsedInfohash, parseInfohash as parse } from '../bep5/infohash.js';
import { InfohashError } from '../bep5/errors.js';
import { UsageError } from './errors.js';

export type { ParsedInfohash };

/** bep5's parser for a command-line argument: what it refuses is a usage error (exit 2). */
export function parseInfohash(text: string): ParsedInfohash {
  try {
    return parse(text);
  } catch (err) {
    if (err instanceof InfohashError) throw new UsageError(err.message);
    throw err;
  }
}
