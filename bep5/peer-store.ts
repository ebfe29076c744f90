import { ScrapeBloom, bloomIndices } from './bloom.js';
import { systemClock, type Clock } from './clock.js';
import type { PeerAddress } from './compact.js';
import {
  DEFAULT_MAX_ENTRIES_PER_SOURCE,
  DEFAULT_MAX_INFOHASHES,
  DEFAULT_MAX_PEERS_PER_INFOHASH,
  DEFAULT_MAX_TOTAL_PEERS,
  DEFAULT_PEER_TTL_MS,
  DEFAULT_SAMPLE_INTERVAL_SECONDS,
  ID_BYTES,
  MAX_SAMPLE_INTERVAL_SECONDS,
} from './constants.js';
import { formatIp, parseIp, sourceKey, unmapIp, type IpFamily } from './ip.js';
import { cryptoRandom, randomInt, type RandomSource } from './random.js';
import { PeerStoreError } from './errors.js';
import { SourceCounts, expireFront } from './store-bookkeeping.js';
import { ownedCopy } from './owned-copy.js';

/**
 * What announce_peer stores and get_peers / scrape / sample_infohashes read: peers per
 * infohash, with expiry.
 *
 * Identity (BEP 33): one entry per <infohash, IP>. A re-announce from the same IP updates the
 * port and the seed flag and restarts the entry's lifetime. An IPv4-mapped host is stored as
 * its IPv4 address (same peer), so it is served to IPv4 requests.
 *
 * Expiry: an entry announced at t lives for [t, t + ttlMs); at t + ttlMs exactly it is gone.
 * Nothing runs on timers. Every public method first drops what has expired (amortised O(1):
 * entries are kept in announce order, which is expiry order, so it only looks at the front);
 * `expire()` does the same for the node's periodic sweep.
 *
 * Caps and what happens at them. Announces need a token bound to the announcer's IP, so new
 * entries cost an attacker addresses, not just packets. The policies make filling or flushing
 * the store cost many addresses, and keep it open to newcomers:
 * - Per source (an IPv4 address or an IPv6 /64, the unit one host gets for free): at most
 *   `maxEntriesPerSource` entries across all infohashes; a new entry beyond that is
 *   'rejected'. An honest host is among the closest nodes of few of its torrents, so it
 *   announces here about once; without this, one IP with one token could create
 *   `maxInfohashes` swarms by itself. Refreshes of existing entries are never rejected.
 * - Per infohash (`maxPeersPerInfohash`), in all (`maxTotalPeers`) and infohashes
 *   (`maxInfohashes`): a new entry evicts the entry (or for a new infohash, the whole swarm)
 *   announced least recently, i.e. closest to expiry. Rejecting when full would let an
 *   attacker who filled the store once hold it against every newcomer for one refresh per
 *   entry per TTL; with eviction, honest swarms that are announced to stay fresh, and pushing
 *   everything out takes a cap's worth of new <infohash, IP> pairs, from cap /
 *   maxEntriesPerSource sources, each of which passed the token check. Eviction is O(1) (an
 *   evicted swarm costs its peer count, at most maxPeersPerInfohash).
 *
 * Infohash buffers are copied: callers pass views into datagrams.
 *
 * Why this file is over 400 lines: the swarms, the expiry-ordered entry list, the per-source
 * quotas and the sample cache are four views of one set of entries; every announce, eviction
 * and expiry updates all four at once, and the caps above only hold if it does.
 */

export interface PeerStoreOptions {
  clock?: Clock;
  random?: RandomSource;
  /** How long an announce is kept, in ms. Default 30 min. */
  ttlMs?: number;
  /** Default 1,000 (BEP 33 wants fewer than 6,000 so its bloom filters stay meaningful). */
  maxPeersPerInfohash?: number;
  /** Default 10,000. */
  maxInfohashes?: number;
  /** Default 100,000. */
  maxTotalPeers?: number;
  /** Entries one IPv4 address or IPv6 /64 may hold in all. Default 32. */
  maxEntriesPerSource?: number;
  /** BEP 51 `interval`, and how long a sample is reused, in seconds (0..21,600). Default 300. */
  sampleIntervalSeconds?: number;
}

export type AnnounceResult = 'stored' | 'refreshed' | 'rejected';

export interface GetPeersOptions {
  /** Which values to return: BEP 32 replies carry only the requester's family. */
  family: IpFamily;
  /** At most this many. */
  max: number;
  /** BEP 33: fill with non-seeds first, then seeds. */
  noseed?: boolean;
}

export interface ScrapeFilters {
  /** BFsd: the IPs of stored seeds. */
  seeds: Buffer;
  /** BFpe: the IPs of stored non-seeds. */
  peers: Buffer;
}

export interface SampleResult {
  samples: Buffer[];
  /** Infohashes stored. */
  num: number;
  /** Seconds before a new request can get a different sample. */
  interval: number;
}

interface Entry {
  readonly swarm: Swarm;
  /** The IP's bytes as a latin1 string: identity within the swarm. */
  readonly ipKey: string;
  /** Swarm key + ipKey: identity in the store-wide order. */
  readonly storeKey: string;
  readonly source: string;
  readonly family: IpFamily;
  readonly host: string;
  readonly bloomBits: [number, number];
  port: number;
  seed: boolean;
  expiresAt: number;
  /** Position in swarm.buckets[bucketOf(family, seed)]. */
  slot: number;
}

interface Swarm {
  readonly key: string;
  readonly infoHash: Buffer;
  /** By ipKey, least recently announced first. */
  readonly peers: Map<string, Entry>;
  /** IPv4 non-seeds, IPv4 seeds, IPv6 non-seeds, IPv6 seeds: indexable for O(max) sampling. */
  readonly buckets: [Entry[], Entry[], Entry[], Entry[]];
  /** Position in PeerStore.swarmList. */
  slot: number;
}

const bucketOf = (family: IpFamily, seed: boolean): number => (family === 6 ? 2 : 0) + (seed ? 1 : 0);

export class PeerStore {
  private readonly clock: Clock;
  private readonly random: RandomSource;
  private readonly ttlMs: number;
  private readonly maxPeersPerInfohash: number;
  private readonly maxInfohashes: number;
  private readonly maxTotalPeers: number;
  private readonly maxEntriesPerSource: number;
  private readonly sampleIntervalSeconds: number;

  /** By infohash key, least recently announced to first. */
  private readonly swarms = new Map<string, Swarm>();
  /** The same swarms, indexable for sampling. */
  private readonly swarmList: Swarm[] = [];
  /** Every entry, least recently announced (so soonest to expire) first. */
  private readonly entries = new Map<string, Entry>();
  private readonly perSource = new SourceCounts();
  private sampleCache: { until: number; keys: string[] } | undefined;

  constructor(opts: PeerStoreOptions = {}) {
    this.clock = opts.clock ?? systemClock;
    this.random = opts.random ?? cryptoRandom;
    this.ttlMs = opts.ttlMs ?? DEFAULT_PEER_TTL_MS;
    if (!Number.isFinite(this.ttlMs) || this.ttlMs <= 0) {
      throw new PeerStoreError('bad-option', `ttlMs must be a positive number, got ${String(opts.ttlMs)}`);
    }
    this.maxPeersPerInfohash = positiveInt('maxPeersPerInfohash', opts.maxPeersPerInfohash, DEFAULT_MAX_PEERS_PER_INFOHASH);
    this.maxInfohashes = positiveInt('maxInfohashes', opts.maxInfohashes, DEFAULT_MAX_INFOHASHES);
    this.maxTotalPeers = positiveInt('maxTotalPeers', opts.maxTotalPeers, DEFAULT_MAX_TOTAL_PEERS);
    this.maxEntriesPerSource = positiveInt('maxEntriesPerSource', opts.maxEntriesPerSource, DEFAULT_MAX_ENTRIES_PER_SOURCE);
    this.sampleIntervalSeconds = opts.sampleIntervalSeconds ?? DEFAULT_SAMPLE_INTERVAL_SECONDS;
    const interval = this.sampleIntervalSeconds;
    if (!Number.isInteger(interval) || interval < 0 || interval > MAX_SAMPLE_INTERVAL_SECONDS) {
      throw new PeerStoreError('bad-option', `sampleIntervalSeconds must be an integer 0..${MAX_SAMPLE_INTERVAL_SECONDS}, got ${String(interval)}`);
    }
  }

  /**
   * Stores or refreshes `peer` under `infoHash`. The host must be an IP literal and the port
   * 1..65535 (else PeerStoreError: the node validates before calling). 'rejected' means the
   * announcer's source is at its quota; see the class comment.
   */
  announce(infoHash: Buffer, peer: PeerAddress, seed: boolean): AnnounceResult {
    const key = infohashKey(infoHash);
    const parsed = parseIp(peer.host);
    if (parsed === undefined) throw new PeerStoreError('bad-peer', `not an IP address: ${JSON.stringify(peer.host)}`);
    if (!Number.isInteger(peer.port) || peer.port < 1 || peer.port > 0xffff) {
      throw new PeerStoreError('bad-peer', `port must be an integer 1..65535, got ${String(peer.port)}`);
    }
    const ip = unmapIp(parsed);
    const ipKey = ip.toString('latin1');
    const now = this.clock.now();
    this.expire();

    const existing = this.swarms.get(key)?.peers.get(ipKey);
    if (existing !== undefined) {
      existing.port = peer.port;
      if (existing.seed !== seed) {
        removeFromBucket(existing);
        existing.seed = seed;
        addToBucket(existing);
      }
      existing.expiresAt = now + this.ttlMs;
      this.touch(existing);
      return 'refreshed';
    }

    const source = sourceKey(ip);
    if (this.perSource.of(source) >= this.maxEntriesPerSource) return 'rejected';

    // Each eviction may empty (and so drop) the target swarm: look it up again after each.
    let swarm = this.swarms.get(key);
    if (swarm !== undefined && swarm.peers.size >= this.maxPeersPerInfohash) {
      this.removeEntry(first(swarm.peers)!);
      swarm = this.swarms.get(key);
    }
    if (this.entries.size >= this.maxTotalPeers) {
      this.removeEntry(first(this.entries)!);
      swarm = this.swarms.get(key);
    }
    if (swarm === undefined) {
      if (this.swarms.size >= this.maxInfohashes) this.removeSwarm(first(this.swarms)!);
      swarm = { key, infoHash: ownedCopy(infoHash), peers: new Map(), buckets: [[], [], [], []], slot: this.swarmList.length };
      this.swarms.set(key, swarm);
      this.swarmList.push(swarm);
    }

    const entry: Entry = {
      swarm,
      ipKey,
      storeKey: key + ipKey,
      source,
      family: ip.length === 4 ? 4 : 6,
      host: formatIp(ip),
      bloomBits: bloomIndices(ip),
      port: peer.port,
      seed,
      expiresAt: now + this.ttlMs,
      slot: 0,
    };
    swarm.peers.set(ipKey, entry);
    this.entries.set(entry.storeKey, entry);
    this.perSource.add(source);
    addToBucket(entry);
    this.touch(entry);
    return 'stored';
  }

  /**
   * Up to `max` unexpired peers of `family`, a uniformly random subset (without replacement)
   * in random order. With `noseed`, non-seeds are drawn first and seeds only fill what is left.
   */
  getPeers(infoHash: Buffer, opts: GetPeersOptions): PeerAddress[] {
    const key = infohashKey(infoHash);
    if (opts.family !== 4 && opts.family !== 6) {
      throw new PeerStoreError('bad-argument', `family must be 4 or 6, got ${String(opts.family)}`);
    }
    if (!Number.isInteger(opts.max) || opts.max < 0) {
      throw new PeerStoreError('bad-argument', `max must be a non-negative integer, got ${String(opts.max)}`);
    }
    this.expire();
    const swarm = this.swarms.get(key);
    if (swarm === undefined) return [];
    const peers = swarm.buckets[bucketOf(opts.family, false)]!;
    const seeds = swarm.buckets[bucketOf(opts.family, true)]!;
    let picked: Entry[];
    if (opts.noseed === true) {
      picked = pick(this.random, [peers], opts.max);
      picked = picked.concat(pick(this.random, [seeds], opts.max - picked.length));
    } else {
      picked = pick(this.random, [peers, seeds], opts.max);
    }
    return picked.map((e) => ({ host: e.host, port: e.port }));
  }

  /** Whether any unexpired peer is stored for `infoHash`. */
  has(infoHash: Buffer): boolean {
    const key = infohashKey(infoHash);
    this.expire();
    return this.swarms.has(key);
  }

  /** Unexpired peers stored for `infoHash`, both families. */
  count(infoHash: Buffer): number {
    const key = infohashKey(infoHash);
    this.expire();
    return this.swarms.get(key)?.peers.size ?? 0;
  }

  /**
   * BEP 33 BFsd / BFpe over the unexpired entries of both families; undefined when nothing is
   * stored for `infoHash` (BEP 33 only includes them when the node has entries). No hashing
   * here: each entry's bit indices were computed when it was stored.
   */
  scrape(infoHash: Buffer): ScrapeFilters | undefined {
    const key = infohashKey(infoHash);
    this.expire();
    const swarm = this.swarms.get(key);
    if (swarm === undefined) return undefined;
    const seeds = new ScrapeBloom();
    const peers = new ScrapeBloom();
    for (const entry of swarm.peers.values()) (entry.seed ? seeds : peers).insertIndices(entry.bloomBits);
    return { seeds: seeds.toBuffer(), peers: peers.toBuffer() };
  }

  /**
   * BEP 51: up to `max` stored infohashes (copies), a uniformly random subset in random order,
   * or all of them when `num <= max`. Once the store holds more than fit, a subset is drawn at
   * most once per `interval` seconds and served (minus infohashes that have since gone) to
   * every request in that window, as BEP 51 allows: requests cost O(max), and an indexer
   * learns nothing by asking again early. A request for more than the cached subset holds
   * draws anew.
   */
  sample(max: number): SampleResult {
    if (!Number.isInteger(max) || max < 0) {
      throw new PeerStoreError('bad-argument', `max must be a non-negative integer, got ${String(max)}`);
    }
    this.expire();
    const num = this.swarms.size;
    const interval = this.sampleIntervalSeconds;
    let keys: string[];
    if (num <= max) {
      keys = [...this.swarms.keys()];
    } else {
      const now = this.clock.now();
      const cache = this.sampleCache;
      if (cache !== undefined && now < cache.until && cache.keys.length >= max) {
        keys = cache.keys.filter((k) => this.swarms.has(k)).slice(0, max);
      } else {
        keys = sampleIndices(this.random, num, max).map((i) => this.swarmList[i]!.key);
        this.sampleCache = interval > 0 ? { until: now + interval * 1000, keys } : undefined;
      }
    }
    return { samples: keys.map((k) => Buffer.from(this.swarms.get(k)!.infoHash)), num, interval };
  }

  /** Removes expired peers and the infohashes left empty; returns how many peers were removed. */
  expire(): number {
    return expireFront(this.entries, this.clock.now(), (entry) => this.removeEntry(entry));
  }

  /** What is stored now (after dropping what has expired). */
  get size(): { infohashes: number; peers: number } {
    this.expire();
    return { infohashes: this.swarms.size, peers: this.entries.size };
  }

  /** Moves an entry, and its swarm, to the most-recently-announced end of each order. */
  private touch(entry: Entry): void {
    const swarm = entry.swarm;
    swarm.peers.delete(entry.ipKey);
    swarm.peers.set(entry.ipKey, entry);
    this.entries.delete(entry.storeKey);
    this.entries.set(entry.storeKey, entry);
    this.swarms.delete(swarm.key);
    this.swarms.set(swarm.key, swarm);
  }

  private removeEntry(entry: Entry): void {
    const swarm = entry.swarm;
    swarm.peers.delete(entry.ipKey);
    this.entries.delete(entry.storeKey);
    removeFromBucket(entry);
    this.perSource.remove(entry.source);
    if (swarm.peers.size === 0) this.dropSwarm(swarm);
  }

  private removeSwarm(swarm: Swarm): void {
    // Removing the last entry drops the swarm itself.
    for (const entry of [...swarm.peers.values()]) this.removeEntry(entry);
  }

  private dropSwarm(swarm: Swarm): void {
    this.swarms.delete(swarm.key);
    const last = this.swarmList.pop()!;
    if (last !== swarm) {
      this.swarmList[swarm.slot] = last;
      last.slot = swarm.slot;
    }
  }
}

function positiveInt(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v <= 0) throw new PeerStoreError('bad-option', `${name} must be a positive integer, got ${String(value)}`);
  return v;
}

function infohashKey(infoHash: Buffer): string {
  if (!(infoHash instanceof Uint8Array) || infoHash.length !== ID_BYTES) {
    throw new PeerStoreError('bad-infohash', `an infohash is a ${ID_BYTES}-byte Buffer`);
  }
  return Buffer.from(infoHash.buffer, infoHash.byteOffset, infoHash.byteLength).toString('latin1');
}

function first<V>(map: Map<string, V>): V | undefined {
  for (const value of map.values()) return value;
  return undefined;
}

function addToBucket(entry: Entry): void {
  const bucket = entry.swarm.buckets[bucketOf(entry.family, entry.seed)]!;
  entry.slot = bucket.length;
  bucket.push(entry);
}

function removeFromBucket(entry: Entry): void {
  const bucket = entry.swarm.buckets[bucketOf(entry.family, entry.seed)]!;
  const last = bucket.pop()!;
  if (last !== entry) {
    bucket[entry.slot] = last;
    last.slot = entry.slot;
  }
}

/**
 * Up to `k` elements of the concatenation of `lists`, uniformly without replacement. Everything
 * when k covers it (order is then irrelevant and no randomness is spent).
 */
function pick<T>(random: RandomSource, lists: readonly (readonly T[])[], k: number): T[] {
  const total = lists.reduce((n, list) => n + list.length, 0);
  if (k >= total) return lists.flat() as T[];
  return sampleIndices(random, total, k).map((i) => {
    for (const list of lists) {
      if (i < list.length) return list[i]!;
      i -= list.length;
    }
    throw new Error('unreachable');
  });
}

/**
 * `k` distinct indices of [0, n), uniformly, in random order: the first k steps of a
 * Fisher-Yates shuffle over a virtual array whose displaced slots live in a map, so the cost
 * is O(k) whatever n is.
 */
function sampleIndices(random: RandomSource, n: number, k: number): number[] {
  const count = Math.min(k, n);
  const moved = new Map<number, number>();
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const j = i + randomInt(random, n - i);
    out.push(moved.get(j) ?? j);
    moved.set(j, moved.get(i) ?? i);
  }
  return out;
}
