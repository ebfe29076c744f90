import { DEFAULT_BOOTSTRAP, parseBootstrapEntry } from '../bep5/bootstrap.js';
import { BootstrapAddressError } from '../bep5/errors.js';
import { UsageError } from './errors.js';

export interface BootstrapOption {
  /** host:port entries for DhtNode (empty for `none`). */
  entries: string[];
  /** True when --bootstrap was not given and the well-known routers are used. */
  isDefault: boolean;
}

/**
 * `--bootstrap LIST`: comma-separated host:port or [ipv6]:port entries, or `none`; unset
 * means the well-known routers (bep5/bootstrap.ts DEFAULT_BOOTSTRAP). Bad entries are usage errors.
 */
export function parseBootstrapOption(value: string | undefined): BootstrapOption {
  if (value === undefined) return { entries: [...DEFAULT_BOOTSTRAP], isDefault: true };
  if (value.trim().toLowerCase() === 'none') return { entries: [], isDefault: false };
  const entries = value
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '');
  if (entries.length === 0) throw new UsageError('--bootstrap needs host:port entries separated by commas, or "none"');
  for (const entry of entries) {
    try {
      parseBootstrapEntry(entry);
    } catch (err) {
      if (err instanceof BootstrapAddressError) throw new UsageError(`--bootstrap: ${err.message}`);
      throw err;
    }
  }
  return { entries, isDefault: false };
}
