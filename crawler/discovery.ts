/**
 * What a crawl finds, as events. Addresses are "ip:port" strings, IDs and infohashes
 * lowercase hex, times milliseconds since the Unix epoch: the NDJSON file format, and what
 * the Redis sink (issue 5) consumes.
 */
export type Discovery =
  | { type: 'node'; id: string; address: string; version: string | null; rttMs: number; bep51: boolean | null; bep42: boolean; at: number }
  | { type: 'infohash'; infohash: string; node: string; source: 'sample' | 'get_peers' | 'announce_peer'; at: number }
  | { type: 'sample'; node: string; num: number; interval: number; samples: number; at: number }
  | { type: 'peers'; infohash: string; peers: string[]; node: string; at: number };

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
