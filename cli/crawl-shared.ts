import { createSocket } from 'node:dgram';
import { parseBootstrapEntry, resolveBootstrap } from '../bep5/bootstrap.js';
import { type PeerAddress } from '../bep5/compact.js';
import { isLoopback } from '../bep5/ip.js';
import { type DhtNode } from '../bep5/node.js';
import { type Family } from '../bep5/node-types.js';
import { type CrawlProgress } from '../crawler/crawler-types.js';
import { type BootstrapOption, parseBootstrapOption } from './bootstrap-option.js';
import { CommandError, UsageError } from './errors.js';
import { type BindHost, formatPeer, parseBindHost } from './node-options.js';
import { count, duration } from './status-line.js';

/**
 * What the crawling commands (crawl, measure, run) share: their bootstrap list, the address
 * families they crawl, and their status line.
 */

/** The options that choose the families a crawl covers (BEP 32). */
export const CRAWL_FAMILY_OPTIONS = {
  'ipv4-only': { type: 'boolean' },
  'ipv6-only': { type: 'boolean' },
  host6: { type: 'string' },
} as const;

/** Their help, in the commands' column layout (pad: the width of the option column). */
export function crawlFamilyHelp(pad: number): string {
  const line = (option: string, text: string): string => `  ${option.padEnd(pad)}${text}`;
  const more = (text: string): string => `  ${''.padEnd(pad)}${text}`;
  return [
    line('--ipv4-only', 'crawl IPv4 only. By default IPv4 and IPv6 (BEP 32) are crawled together, each'),
    more('query asking for both families\' contacts, when this host has an IPv6 route; without'),
    more('one it says so once and crawls IPv4'),
    line('--ipv6-only', 'crawl IPv6 only'),
    line('--host6 H', 'IPv6 address to bind (default ::, or ::1 when --host is loopback)'),
  ].join('\n');
}

/** Where the IPv6 route check points: a public resolver's address. connect() only picks a route; nothing is sent. */
export const IPV6_PROBE_ADDRESS = '2001:4860:4860::8888';

/**
 * Whether this host has an IPv6 route to `to`: a udp6 socket is connect()ed there, which makes
 * the kernel choose a route and a source address and sends nothing. No route (ENETUNREACH), no
 * usable address (EADDRNOTAVAIL) or no IPv6 at all (EAFNOSUPPORT) is false.
 */
export function ipv6Route(to: string = IPV6_PROBE_ADDRESS): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createSocket({ type: 'udp6', ipv6Only: true });
    const done = (ok: boolean): void => {
      socket.close();
      resolve(ok);
    };
    socket.once('error', () => done(false));
    try {
      socket.connect(9, to, (err?: Error) => done(err === undefined || err === null));
    } catch {
      done(false);
    }
  });
}

export interface CrawlFamilies {
  families: Family[];
  /** The IPv6 bind address (used when 6 is among the families). */
  host6: string;
  /** Said once when IPv6 was left out for want of a route (the crawl goes on over IPv4). */
  notice?: string;
}

/**
 * The address families a crawling command covers: IPv4 and IPv6 together by default, each
 * alone with --ipv4-only / --ipv6-only. Without an IPv6 route (for a crawl bound to loopback:
 * without ::1) the default falls back to IPv4 with a notice, and --ipv6-only is an error.
 * The IPv6 socket binds --host6, else ::1 beside a loopback IPv4 bind (a testnet on this
 * machine), else ::.
 */
export async function crawlFamilies(
  values: { 'ipv4-only'?: boolean | undefined; 'ipv6-only'?: boolean | undefined; host6?: string | undefined },
  bind: BindHost,
  hasRoute: (to: string) => Promise<boolean> = ipv6Route,
): Promise<CrawlFamilies> {
  if (values['ipv4-only'] === true && values['ipv6-only'] === true) throw new UsageError('--ipv4-only and --ipv6-only exclude each other');
  let host6 = isLoopback(bind.host) ? '::1' : '::';
  if (values.host6 !== undefined) {
    const parsed = parseBindHost(values.host6);
    if (parsed.family !== 6) throw new UsageError(`--host6 must be an IPv6 address, got "${values.host6}"`);
    if (values['ipv4-only'] === true) throw new UsageError('--host6 does not go with --ipv4-only');
    host6 = parsed.host;
  }
  if (values['ipv4-only'] === true) return { families: [4], host6 };
  // The route that matters: to ::1 for a crawl on this machine, to the Internet otherwise.
  const to = isLoopback(host6) ? '::1' : IPV6_PROBE_ADDRESS;
  const route = await hasRoute(to);
  if (values['ipv6-only'] === true) {
    if (!route) throw new CommandError(`--ipv6-only: this host has no IPv6 route${to === '::1' ? ' (no ::1)' : ''}`);
    return { families: [6], host6 };
  }
  if (!route) return { families: [4], host6, notice: `no IPv6 route on this host${to === '::1' ? ' (no ::1)' : ''}: crawling IPv4 only` };
  return { families: [4, 6], host6 };
}

/** DhtNode options for a crawl's families: the IPv4 bind from --host, the IPv6 one from crawlFamilies. */
export function crawlBindOptions(bind: BindHost, crawl: CrawlFamilies, port: number): { families: Family[]; host: string; host6: string; port: number } {
  return { families: crawl.families, host: bind.host, host6: crawl.host6, port };
}

/** "IPv4", "IPv6" or "IPv4 and IPv6", for start-up lines. */
export function familiesText(families: readonly Family[]): string {
  return families.map((f) => `IPv${f}`).join(' and ');
}

/** Where a started node listens in each family crawled ("0.0.0.0:4000 and [::]:4000"), for start-up lines. */
export function boundText(node: DhtNode, families: readonly Family[]): string {
  return families.map((f) => formatPeer(node.address(f)!)).join(' and ');
}

/** The bootstrap list of a crawling command: `none` is refused (a crawl needs somewhere to start). */
export function crawlBootstrap(value: string | undefined, command: string): BootstrapOption {
  const bootstrap = parseBootstrapOption(value);
  if (bootstrap.entries.length === 0) throw new UsageError(`${command} needs somewhere to start: give --bootstrap host:port (or leave it out for the well-known routers)`);
  return bootstrap;
}

/** Resolves the bootstrap entries to addresses of the families crawled; none at all is a CommandError. */
export async function resolveCrawlBootstrap(bootstrap: BootstrapOption, families: readonly Family[] = [4]): Promise<PeerAddress[]> {
  const entries = bootstrap.entries.map(parseBootstrapEntry);
  const addresses: PeerAddress[] = [];
  const failures: string[] = [];
  for (const family of families) {
    const resolved = await resolveBootstrap(entries, family);
    addresses.push(...resolved.addresses);
    failures.push(...resolved.failures.map((f) => `${f.entry} (${f.reason})`));
  }
  if (addresses.length > 0) return addresses;
  const which = familiesText(families).replace(' and ', ' or ');
  const why = failures.length > 0 ? `: ${[...new Set(failures)].join(', ')}` : ` (crawling ${familiesText(families)} only)`;
  throw new CommandError(`no bootstrap entry resolved to an ${which} address${why}`);
}

/** The one-line progress of a crawl: what the status line shows. */
export function progressText(p: CrawlProgress, rps: number): string {
  return (
    `sweep ${p.sweep} · nodes ${count(p.known)} known / ${count(p.answered)} answered · ${count(rps)} RPC/s · ` +
    `${count(p.infohashes)} infohashes · ${count(p.peers)} peers · queue ${count(p.queued)} · ${duration(p.elapsedMs)}`
  );
}

/** Queries per second since the last call (the status line's "now" rate, not the average). */
export function rateMeter(read: () => number): () => number {
  let last = read();
  let at = performance.now();
  return () => {
    const value = read();
    const now = performance.now();
    const rps = now > at ? ((value - last) * 1000) / (now - at) : 0;
    last = value;
    at = now;
    return rps;
  };
}
