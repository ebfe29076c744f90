import { type PeerAddress } from '../bep5/compact.js';
import { normalizeHost } from '../bep5/ip.js';
import { UsageError } from './errors.js';

/** Parses `1.2.3.4:6881` or `[::1]:6881` (IP literals only; host names are resolved elsewhere). */
export function parseHostPort(text: string): PeerAddress {
  const match = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:[\]]+):(\d+)$/.exec(text);
  if (!match) throw new UsageError(`expected ip:port or [ipv6]:port, got "${text}"`);
  const host = normalizeHost(match[1]!);
  if (host === undefined) throw new UsageError(`not an IP address: "${match[1]}"`);
  const port = Number(match[2]);
  if (!Number.isInteger(port) || port < 1 || port > 65_535) throw new UsageError(`port must be 1-65535, got ${match[2]}`);
  return { host, port };
}
