import { isHexId } from '../bep5/node-id.js';

/**
 * What a crawl finds, as events. Addresses are "ip:port" strings ("[ipv6]:port" for IPv6 nodes
 * and peers, BEP 32: the brackets say the family), IDs and infohashes
 * lowercase hex, times milliseconds since the Unix epoch: the NDJSON file format, and what
 * the Redis sink (issue 5) consumes.
 */
export type Discovery =
  | { type: 'node'; id: string; address: string; version: string | null; rttMs: number; bep51: boolean | null; bep42: boolean; at: number }
  | { type: 'infohash'; infohash: string; node: string; source: 'sample' | 'get_peers' | 'announce_peer'; at: number }
  | { type: 'sample'; node: string; num: number; interval: number; samples: number; at: number }
  | { type: 'peers'; infohash: string; peers: string[]; node: string; at: number };

/** A Discovery's address of a host and port: "ip:port", or "[ipv6]:port", from which the family is plain. */
export function discoveryAddress(a: { host: string; port: number }): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

// Validation: untrusted input (a job from Redis, a line of a file) becomes a Discovery here, once.

const SOURCES = new Set(['sample', 'get_peers', 'announce_peer']);
const MAX_PEERS_PER_EVENT = 10_000;

const isTime = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
/** "ip:port" or "[v6]:port": short, printable, no spaces. */
const isAddress = (v: unknown): v is string => typeof v === 'string' && v.length >= 3 && v.length <= 64 && /^[\x21-\x7e]+$/.test(v);

/** The event, normalised (lowercase hex), or null when malformed. */
export function validateDiscovery(e: unknown): Discovery | null {
  if (e === null || typeof e !== 'object') return null;
  const o = e as Record<string, unknown>;
  if (!isTime(o['at'])) return null;
  const at = o['at'];
  switch (o['type']) {
    case 'node': {
      const { id, address, version, rttMs, bep51, bep42 } = o;
      if (typeof id !== 'string' || !isHexId(id) || !isAddress(address)) return null;
      if (version !== null && typeof version !== 'string') return null;
      if (typeof rttMs !== 'number' || !Number.isFinite(rttMs) || rttMs < 0) return null;
      if (bep51 !== null && typeof bep51 !== 'boolean') return null;
      if (typeof bep42 !== 'boolean') return null;
      return { type: 'node', id: id.toLowerCase(), address, version, rttMs, bep51, bep42, at };
    }
    case 'infohash': {
      const { infohash, node, source } = o;
      if (typeof infohash !== 'string' || !isHexId(infohash) || !isAddress(node)) return null;
      if (typeof source !== 'string' || !SOURCES.has(source)) return null;
      return { type: 'infohash', infohash: infohash.toLowerCase(), node, source: source as 'sample', at };
    }
    case 'sample': {
      const { node, num, interval, samples } = o;
      if (!isAddress(node) || !isCount(num) || !isCount(interval) || !isCount(samples)) return null;
      return { type: 'sample', node, num, interval, samples, at };
    }
    case 'peers': {
      const { infohash, peers, node } = o;
      if (typeof infohash !== 'string' || !isHexId(infohash) || !isAddress(node)) return null;
      if (!Array.isArray(peers) || peers.length > MAX_PEERS_PER_EVENT || !peers.every(isAddress)) return null;
      return { type: 'peers', infohash: infohash.toLowerCase(), peers: peers as string[], node, at };
    }
    default:
      return null;
  }
}

/**
 * A batch of untrusted events, validated: the valid ones normalised, in order, and how many
 * were dropped. A malformed event costs the batch nothing else; the index counts the dropped
 * ones (`events:invalid`), so the caller passes `invalid` on with the events.
 */
export function validateDiscoveries(raw: readonly unknown[]): { events: Discovery[]; invalid: number } {
  const events: Discovery[] = [];
  for (const e of raw) {
    const valid = validateDiscovery(e);
    if (valid !== null) events.push(valid);
  }
  return { events, invalid: raw.length - events.length };
}

/** Where discoveries go. `write` must not block the crawl; `close` flushes. */
export interface DiscoverySink {
  write(event: Discovery): void;
  close(): Promise<void>;
  /**
   * Backpressure (optional): true while the sink cannot take much more without dropping
   * events. The crawler sends no new query while it is true; replies to queries in flight
   * are still written.
   */
  saturated?(): boolean;
}

/** Keeps everything in memory: for tests, small crawls and the measure command. */
export class MemorySink implements DiscoverySink {
  readonly events: Discovery[] = [];
  write(event: Discovery): void {
    this.events.push(event);
  }
  async close(): Promise<void> {}
}

/** Fans one stream out to several sinks. */
export class TeeSink implements DiscoverySink {
  constructor(private readonly sinks: DiscoverySink[]) {}
  write(event: Discovery): void {
    for (const s of this.sinks) s.write(event);
  }
  saturated(): boolean {
    return this.sinks.some((s) => s.saturated?.() === true);
  }

  async close(): Promise<void> {
    await Promise.all(this.sinks.map((s) => s.close()));
  }
}
