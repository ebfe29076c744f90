import { lookup as dnsLookup } from 'node:dns/promises';
import { type PeerAddress } from './compact.js';
import { type AddressScope } from './address-scope.js';
import { ipFamily, isBogon, isLoopback, normalizeHost } from './ip.js';
import { BootstrapAddressError } from './errors.js';

/** BEP 5 deployed routers, used when no saved table and no --bootstrap list is given. */
export const DEFAULT_BOOTSTRAP = [
  'router.bittorrent.com:6881',
  'router.utorrent.com:6881',
  'dht.transmissionbt.com:6881',
  'dht.libtorrent.org:25401',
];

export interface HostPort {
  host: string;
  port: number;
}

/** Parses "host:port" / "[v6]:port"; host names are kept for resolution. Throws on bad syntax. */
export function parseBootstrapEntry(entry: string): HostPort {
  const match = /^\[([^\]]+)\]:(\d+)$/.exec(entry) ?? /^([^:[\]\s]+):(\d+)$/.exec(entry);
  if (!match) throw new BootstrapAddressError(`bootstrap address must be host:port or [ipv6]:port, got "${entry}"`);
  const port = Number(match[2]);
  if (!Number.isInteger(port) || port < 1 || port > 65_535) throw new BootstrapAddressError(`bad port in "${entry}"`);
  return { host: normalizeHost(match[1]!) ?? match[1]!, port };
}

/**
 * The address scope a node with these bootstrap entries needs: 'loopback' when every entry is
 * `localhost` or a loopback literal (a network on this machine), 'private' when every entry is
 * a private or loopback literal (a LAN), else 'public'.
 */
export function defaultAddressScope(entries: HostPort[]): AddressScope {
  if (entries.length === 0) return 'public';
  if (entries.every((e) => e.host.toLowerCase() === 'localhost' || (ipFamily(e.host) !== undefined && isLoopback(e.host)))) return 'loopback';
  return allPrivate(entries) ? 'private' : 'public';
}

/** True when every entry is `localhost` or an IP literal in a private or loopback range: a local network. */
export function allPrivate(entries: HostPort[]): boolean {
  const local = (host: string): boolean => host.toLowerCase() === 'localhost' || (ipFamily(host) !== undefined && isBogon(host));
  return entries.length > 0 && entries.every((e) => local(e.host));
}

export interface Resolved {
  addresses: PeerAddress[];
  /** Entries that did not resolve, with the resolver's reason. */
  failures: Array<{ entry: string; reason: string }>;
}

/** Resolves host names to addresses of one family; IP literals pass through. Never throws. */
export async function resolveBootstrap(entries: HostPort[], family: 4 | 6): Promise<Resolved> {
  const out: Resolved = { addresses: [], failures: [] };
  await Promise.all(
    entries.map(async (e) => {
      const literal = ipFamily(e.host);
      if (literal !== undefined) {
        if (literal === family) out.addresses.push({ host: e.host, port: e.port });
        return;
      }
      try {
        const found = await dnsLookup(e.host, { family, all: true });
        for (const a of found) out.addresses.push({ host: normalizeHost(a.address) ?? a.address, port: e.port });
      } catch (err) {
        out.failures.push({ entry: `${e.host}:${e.port}`, reason: (err as NodeJS.ErrnoException).code ?? String(err) });
      }
    }),
  );
  return out;
}
