import { parseBootstrapEntry, resolveBootstrap } from '../bep5/bootstrap.js';
import { type PeerAddress } from '../bep5/compact.js';
import { type CrawlProgress } from '../crawler/crawler-types.js';
import { type BootstrapOption, parseBootstrapOption } from './bootstrap-option.js';
import { CommandError, UsageError } from './errors.js';
import { count, duration } from './status-line.js';

/** What the crawling commands (crawl, measure) share: their bootstrap list and their status line. */

/** The bootstrap list of a crawling command: `none` is refused (a crawl needs somewhere to start). */
export function crawlBootstrap(value: string | undefined, command: string): BootstrapOption {
  const bootstrap = parseBootstrapOption(value);
  if (bootstrap.entries.length === 0) throw new UsageError(`${command} needs somewhere to start: give --bootstrap host:port (or leave it out for the well-known routers)`);
  return bootstrap;
}

/** Resolves the bootstrap entries to IPv4 addresses; none at all is a CommandError. */
export async function resolveCrawlBootstrap(bootstrap: BootstrapOption): Promise<PeerAddress[]> {
  const { addresses, failures } = await resolveBootstrap(bootstrap.entries.map(parseBootstrapEntry), 4);
  if (addresses.length > 0) return addresses;
  const why = failures.length > 0 ? `: ${failures.map((f) => `${f.entry} (${f.reason})`).join(', ')}` : ' (the crawler is IPv4 only)';
  throw new CommandError(`no bootstrap entry resolved to an IPv4 address${why}`);
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
