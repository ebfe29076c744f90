import { systemClock, type Clock } from './clock.js';
import type { NodeInfo } from './compact.js';
import {
  DEFAULT_BUCKET_SIZE,
  ID_BYTES,
  DEFAULT_FAILURES_BEFORE_BAD,
  DEFAULT_NODE_STALE_AFTER_MS,
  MAX_PERSISTED_NODES,
} from './constants.js';
import { type AddressScope, inAddressScope } from './address-scope.js';
import { parseIp, unmapIp } from './ip.js';
import { commonPrefixBits, compareDistance, ID_BITS, randomIdInRange } from './node-id.js';
import { cryptoRandom, type RandomSource } from './random.js';
import { RoutingTableError, type RoutingTableFailure } from './errors.js';
import { type RoutingTableJson, readTableJson, savedCandidates } from './table-file.js';

export type { RoutingTableJson } from './table-file.js';

/**
 * The BEP 5 routing table: pure bookkeeping (no sockets, no timers), time read from an injected
 * clock. The caller does the networking and reports what happened: responses, queries, timeouts.
 *
 * Layout. Buckets only ever split where our own ID falls, so the table is a list in which
 * bucket i (for i < last) holds exactly the IDs sharing i leading bits with our own ID, and the
 * last bucket holds every ID sharing at least `last` bits (it is the one containing our ID).
 * A bucket is therefore found from one common-prefix count, and the buckets come in a fixed
 * order of XOR distance from any target, which is what lets `closest` stop early.
 *
 * Trust. Only a node that answered one of our queries enters the table (BEP 5; BEP 43 read-only
 * nodes never answer, so they never enter). One entry per IP:port, one per ID; an established
 * entry is not displaced by a newcomer claiming its address or its ID until it has gone bad.
 *
 * Why this file is over 400 lines: buckets, replacement caches, the per-address and per-ID
 * indexes and the good/questionable/bad rules must change together on every event; each rule
 * reads and writes all of them, and the hostile-input tests (test/routing-table*.test.ts) hold
 * them to one invariant set. Split, the invariants would hold only across module boundaries.
 * What is not a table rule lives elsewhere: checking a saved table's entries (table-file.ts).
 */

export interface Contact {
  /** 20 bytes. */
  id: Buffer;
  /** As reported when the node first answered (IPv4-mapped and plain IPv4 count as one address). */
  host: string;
  port: number;
  /** Clock time of the last response to one of our queries. */
  lastResponse: number;
  /** Clock time of the last query the node sent us; -Infinity if it never has. */
  lastQuery: number;
  /** Consecutive timeouts since the last response. */
  failures: number;
  /** Clock time the node entered the table. */
  addedAt: number;
  /** The `v` it last sent, if any. */
  version?: Buffer;
  /** Round-trip time of its last response, if the caller measured it. */
  rttMs?: number;
}

export type ContactState = 'good' | 'questionable' | 'bad';

export interface RoutingTableOptions {
  /** Our node ID, 20 bytes. */
  ownId: Buffer;
  /** Nodes per bucket (BEP 5's K). Default 8. */
  k?: number;
  clock?: Clock;
  /** Silence after which a node is questionable and a bucket due for refresh. Default 15 min. */
  staleAfterMs?: number;
  /** Consecutive timeouts that make a node bad. Default 2 (BEP 5: try once more before discarding). */
  failuresBeforeBad?: number;
  /**
   * Accept private, loopback, link-local, CGNAT and documentation addresses (for LAN tests and
   * simulations). Addresses that can never be a unicast peer (0.0.0.0/8, ::, multicast,
   * 240/4 and broadcast) are rejected regardless. Default false.
   */
  allowPrivate?: boolean;
  /** Which addresses may enter (bep5/address-scope.ts); wins over allowPrivate. Default 'public'. */
  addressScope?: AddressScope;
  /** Newcomers remembered per full bucket, to replace nodes that go bad. Default k; 0 disables. */
  replacementCacheSize?: number;
  /** Source of refresh targets. Default: the OS CSPRNG. */
  random?: RandomSource;
}

export type RejectReason = 'own-id' | 'bogon' | 'port-zero' | 'address-taken' | 'id-moved' | 'bucket-full-of-good';

export type ResponseOutcome =
  | { status: 'added' | 'updated' }
  | { status: 'replaced'; evicted: Contact }
  | { status: 'full'; pingCandidates: Contact[] }
  | { status: 'rejected'; reason: RejectReason };

export interface BucketSnapshot {
  /**
   * Leading bits every ID in the bucket shares with the bucket's prefix: for the last bucket
   * that prefix is our own ID; for bucket i < last it is our ID with bit i flipped (so i + 1).
   */
  prefixBits: number;
  contacts: Contact[];
  /** Newcomers waiting in the bucket's replacement cache. */
  replacements: number;
  lastChanged: number;
}

/** A contact as stored: with its map keys, which never leave this module. */
interface Entry extends Contact {
  readonly idKey: string;
  readonly addressKey: string;
}

interface Bucket {
  /** At most k. */
  contacts: Entry[];
  /** At most replacementCacheSize, oldest response first. */
  replacements: Entry[];
  lastChanged: number;
}

/** Longest host text worth parsing: 45 characters of IPv6, '%' and a 64-character zone. */
const MAX_HOST_CHARS = 110;
/** Groups up to this size are sorted outright in `closest`; larger ones go through a heap. */
const SORT_OUTRIGHT = 32;

function fail(reason: RoutingTableFailure, detail: string): never {
  throw new RoutingTableError(reason, detail);
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** The map key of an ID: its hex. Undefined unless it is 20 bytes. */
function idKeyOf(id: unknown): string | undefined {
  if (!(id instanceof Uint8Array) || id.length !== ID_BYTES) return undefined;
  return Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString('hex');
}

/** IP bytes with IPv4-mapped addresses unmapped, so both spellings of one address agree. */
function ipBytes(host: unknown): Buffer | undefined {
  if (typeof host !== 'string' || host.length > MAX_HOST_CHARS) return undefined;
  const bytes = parseIp(host);
  return bytes === undefined ? undefined : unmapIp(bytes);
}

function addressKey(ip: Buffer, port: number): string {
  return `${ip.toString('hex')}/${port}`;
}

function isPort(port: unknown): port is number {
  return typeof port === 'number' && Number.isInteger(port) && port >= 0 && port <= 0xffff;
}

/** A copy the caller may keep or change without touching the table. */
function snapshot(e: Entry): Contact {
  const c: Contact = {
    id: Buffer.from(e.id),
    host: e.host,
    port: e.port,
    lastResponse: e.lastResponse,
    lastQuery: e.lastQuery,
    failures: e.failures,
    addedAt: e.addedAt,
  };
  if (e.version !== undefined) c.version = Buffer.from(e.version);
  if (e.rttMs !== undefined) c.rttMs = e.rttMs;
  return c;
}

function removeFrom<T>(list: T[], item: T): boolean {
  const at = list.indexOf(item);
  if (at === -1) return false;
  list.splice(at, 1);
  return true;
}

/** The `m` smallest of `items` under `cmp`, in order. Reorders `items`. O(n log m). */
function smallest<T>(items: T[], m: number, cmp: (a: T, b: T) => number): T[] {
  if (m <= 0) return [];
  if (items.length <= SORT_OUTRIGHT || items.length <= m) return items.sort(cmp).slice(0, m);
  // A max-heap of the m best so far: the root is the worst of them.
  const heap: T[] = [];
  const swap = (i: number, j: number): void => {
    const t = heap[i]!;
    heap[i] = heap[j]!;
    heap[j] = t;
  };
  for (const x of items) {
    if (heap.length < m) {
      heap.push(x);
      for (let i = heap.length - 1; i > 0; ) {
        const parent = (i - 1) >> 1;
        if (cmp(heap[parent]!, heap[i]!) >= 0) break;
        swap(i, parent);
        i = parent;
      }
    } else if (cmp(x, heap[0]!) < 0) {
      heap[0] = x;
      for (let i = 0; ; ) {
        const left = 2 * i + 1;
        const right = left + 1;
        let largest = i;
        if (left < heap.length && cmp(heap[left]!, heap[largest]!) > 0) largest = left;
        if (right < heap.length && cmp(heap[right]!, heap[largest]!) > 0) largest = right;
        if (largest === i) break;
        swap(i, largest);
        i = largest;
      }
    }
  }
  return heap.sort(cmp);
}

export class RoutingTable {
  private readonly self: Buffer;
  private readonly k: number;
  private readonly clock: Clock;
  private readonly random: RandomSource;
  private readonly staleAfterMs: number;
  private readonly failuresBeforeBad: number;
  private readonly addressScope: AddressScope;
  private readonly cacheSize: number;
  private readonly table: Bucket[];
  private readonly byId = new Map<string, Entry>();
  private readonly byAddress = new Map<string, Entry>();
  /** Replacement-cache entries of every bucket, by address (an entry's bucket follows from its ID). */
  private readonly cachedByAddress = new Map<string, Entry>();

  constructor(opts: RoutingTableOptions) {
    if (!isRecord(opts)) fail('bad-option', 'options must be an object');
    if (idKeyOf(opts.ownId) === undefined) fail('bad-option', 'ownId must be 20 bytes');
    const k = opts.k ?? DEFAULT_BUCKET_SIZE;
    if (!Number.isInteger(k) || k < 1) fail('bad-option', `k must be a positive integer, got ${String(k)}`);
    const staleAfterMs = opts.staleAfterMs ?? DEFAULT_NODE_STALE_AFTER_MS;
    if (!(staleAfterMs > 0) || !Number.isFinite(staleAfterMs)) {
      fail('bad-option', `staleAfterMs must be positive and finite, got ${String(staleAfterMs)}`);
    }
    const failuresBeforeBad = opts.failuresBeforeBad ?? DEFAULT_FAILURES_BEFORE_BAD;
    if (!Number.isInteger(failuresBeforeBad) || failuresBeforeBad < 1) {
      fail('bad-option', `failuresBeforeBad must be a positive integer, got ${String(failuresBeforeBad)}`);
    }
    const cacheSize = opts.replacementCacheSize ?? k;
    if (!Number.isInteger(cacheSize) || cacheSize < 0) {
      fail('bad-option', `replacementCacheSize must be a non-negative integer, got ${String(cacheSize)}`);
    }
    this.self = Buffer.from(opts.ownId);
    this.k = k;
    this.clock = opts.clock ?? systemClock;
    this.random = opts.random ?? cryptoRandom;
    this.staleAfterMs = staleAfterMs;
    this.failuresBeforeBad = failuresBeforeBad;
    this.addressScope = opts.addressScope ?? (opts.allowPrivate === true ? 'private' : 'public');
    this.cacheSize = cacheSize;
    this.table = [{ contacts: [], replacements: [], lastChanged: this.clock.now() }];
  }

  /** Our node ID (a copy). */
  get ownId(): Buffer {
    return Buffer.from(this.self);
  }

  /** Contacts in the table (replacement caches not counted). */
  get size(): number {
    return this.byId.size;
  }

  /**
   * A node answered one of our queries: the only way into the table (BEP 5: never because it
   * queried us). Throws TypeError for an ID that is not 20 bytes and RangeError for a port
   * outside 0..65535: a socket never reports those, so they are the caller's bug.
   */
  recordResponse(node: { id: Buffer; host: string; port: number; version?: Buffer; rttMs?: number }): ResponseOutcome {
    const idKey = idKeyOf(node.id);
    if (idKey === undefined) throw new TypeError('recordResponse: id must be 20 bytes');
    if (!isPort(node.port)) throw new RangeError(`recordResponse: bad port ${String(node.port)}`);
    if (this.self.equals(node.id)) return { status: 'rejected', reason: 'own-id' };
    if (node.port === 0) return { status: 'rejected', reason: 'port-zero' };
    const ip = this.admissibleIp(node.host);
    if (ip === undefined) return { status: 'rejected', reason: 'bogon' };
    const key = addressKey(ip, node.port);
    const now = this.clock.now();

    const sameId = this.byId.get(idKey);
    if (sameId !== undefined && sameId.addressKey === key) {
      sameId.failures = 0;
      sameId.lastResponse = now;
      if (node.version !== undefined) sameId.version = Buffer.from(node.version);
      if (node.rttMs !== undefined && Number.isFinite(node.rttMs) && node.rttMs >= 0) sameId.rttMs = node.rttMs;
      this.bucketOf(sameId.id).lastChanged = now;
      return { status: 'updated' };
    }
    // Decide before changing anything: both conflicts must be with bad entries to proceed.
    if (sameId !== undefined && !this.isBad(sameId)) return { status: 'rejected', reason: 'id-moved' };
    const sameAddress = this.byAddress.get(key);
    if (sameAddress !== undefined && !this.isBad(sameAddress)) return { status: 'rejected', reason: 'address-taken' };
    // Bad entries the newcomer contradicts: its own ID elsewhere, or someone else at its address.
    if (sameId !== undefined) this.detach(sameId);
    if (sameAddress !== undefined) this.detach(sameAddress);
    const evicted = sameId ?? sameAddress;

    const entry: Entry = {
      id: Buffer.from(node.id),
      host: node.host,
      port: node.port,
      lastResponse: now,
      lastQuery: -Infinity,
      failures: 0,
      addedAt: now,
      idKey,
      addressKey: key,
    };
    if (node.version !== undefined) entry.version = Buffer.from(node.version);
    if (node.rttMs !== undefined && Number.isFinite(node.rttMs) && node.rttMs >= 0) entry.rttMs = node.rttMs;

    const outcome = this.place(entry, evicted, now);
    // A bad entry evicted from another bucket leaves room there for a waiting replacement.
    if (sameAddress !== undefined) this.promote(this.bucketOf(sameAddress.id));
    return outcome;
  }

  /**
   * A node queried us: refreshes lastQuery of the entry with this ID at this address, if any.
   * Never adds (BEP 5), so unverified senders and BEP 43 read-only nodes stay out.
   */
  recordQuery(node: { id: Buffer; host: string; port: number }): void {
    const entry = this.find(node);
    if (entry !== undefined) entry.lastQuery = this.clock.now();
  }

  /**
   * A query of ours to this node (ID at address) timed out. Once the node is bad, and its bucket
   * has a replacement waiting, it is evicted and the most recently responded replacement takes
   * its place: that contact is returned. A bad node with no replacement stays (it is skipped by
   * `closest` and replaced by the next newcomer to its bucket). A matching replacement-cache
   * entry is dropped from the cache.
   */
  recordFailure(node: { id: Buffer; host: string; port: number }): Contact | undefined {
    const entry = this.find(node);
    if (entry === undefined) {
      this.forgetCached(node);
      return undefined;
    }
    entry.failures++;
    if (!this.isBad(entry)) return undefined;
    const bucket = this.bucketOf(entry.id);
    if (bucket.replacements.length === 0) return undefined;
    this.detach(entry);
    const promoted = this.promote(bucket);
    return promoted === undefined ? undefined : snapshot(promoted);
  }

  state(c: Contact): ContactState {
    if (c.failures >= this.failuresBeforeBad) return 'bad';
    const now = this.clock.now();
    if (now - c.lastResponse < this.staleAfterMs) return 'good';
    // Every contact has responded at some time: that is how it got in.
    if (Number.isFinite(c.lastResponse) && now - c.lastQuery < this.staleAfterMs) return 'good';
    return 'questionable';
  }

  /**
   * The `count` contacts closest to `target` by XOR distance, closest first; bad ones only with
   * `includeBad`; `filter` (which must not change what it is given) narrows further. Buckets are
   * visited in order of distance and the walk stops once `count` are found, so a typical call
   * touches a few buckets; the one group of buckets that ties at the first differing bit goes
   * through a bounded heap rather than a full sort. Throws for a target that is not 20 bytes.
   */
  closest(target: Uint8Array, count: number = this.k, options: { includeBad?: boolean; filter?: (c: Contact) => boolean } = {}): Contact[] {
    return this.closestEntries(target, count, options).map(snapshot);
  }

  /** As `closest`, but id/host/port only and without copies: for replies, which copy the bytes out anyway. */
  closestInfo(target: Uint8Array, count: number = this.k): Array<{ id: Buffer; host: string; port: number }> {
    return this.closestEntries(target, count, {}).map((e) => ({ id: e.id, host: e.host, port: e.port }));
  }

  private closestEntries(target: Uint8Array, count: number, options: { includeBad?: boolean; filter?: (c: Contact) => boolean }): Entry[] {
    if (!Number.isInteger(count) || count < 0) throw new RangeError(`closest: bad count ${String(count)}`);
    const last = this.table.length - 1;
    const d = Math.min(commonPrefixBits(target, this.self), last);
    if (count === 0) return [];
    const { includeBad = false, filter } = options;
    const cmp = (a: Entry, b: Entry): number => compareDistance(target, a.id, b.id);
    const out: Entry[] = [];
    /** Adds the best of buckets from..to (a group wholly closer than any later group); true when done. */
    const take = (from: number, to: number): boolean => {
      const group: Entry[] = [];
      for (let i = from; i <= to; i++) {
        for (const c of this.table[i]!.contacts) {
          if ((includeBad || !this.isBad(c)) && (filter === undefined || filter(c))) group.push(c);
        }
      }
      for (const c of smallest(group, count - out.length, cmp)) out.push(c);
      return out.length >= count;
    };
    // With the target sharing d bits with our ID (capped at last): contacts in bucket d share
    // more than d leading bits with the target (at least d when d = last), those in buckets
    // past d exactly d, those in bucket i < d exactly i. So: d, then d+1..last together, then down.
    if (!take(d, d) && (d === last || !take(d + 1, last))) {
      for (let i = d - 1; i >= 0 && !take(i, i); i--);
    }
    return out;
  }

  get(id: Uint8Array): Contact | undefined {
    const key = idKeyOf(id);
    const entry = key === undefined ? undefined : this.byId.get(key);
    return entry === undefined ? undefined : snapshot(entry);
  }

  /**
   * The contact at this address (IPv4-mapped and plain IPv4 alike), if any: for a caller that
   * knows only where a timed-out query went. Undefined for text that is not an IP literal.
   */
  getByAddress(host: string, port: number): Contact | undefined {
    const ip = ipBytes(host);
    if (ip === undefined || !isPort(port)) return undefined;
    const entry = this.byAddress.get(addressKey(ip, port));
    return entry === undefined ? undefined : snapshot(entry);
  }

  /**
   * Removes the contact with this ID, from the table or from a replacement cache. A slot freed
   * in the table is taken by the bucket's best replacement, if one waits. True if anything went.
   */
  remove(id: Uint8Array): boolean {
    const key = idKeyOf(id);
    if (key === undefined) return false;
    const entry = this.byId.get(key);
    if (entry === undefined) {
      const bucket = this.bucketOf(id);
      const cached = bucket.replacements.find((c) => c.idKey === key);
      if (cached === undefined) return false;
      this.uncache(bucket, cached);
      return true;
    }
    this.detach(entry);
    this.promote(this.bucketOf(id));
    return true;
  }

  /**
   * Buckets unchanged for staleAfterMs (no node added, replaced or answering, no touchBucket),
   * each with a random target ID inside its range for a refresh lookup.
   */
  bucketsNeedingRefresh(): Array<{ index: number; target: Buffer }> {
    const now = this.clock.now();
    const out: Array<{ index: number; target: Buffer }> = [];
    this.table.forEach((bucket, index) => {
      if (now - bucket.lastChanged < this.staleAfterMs) return;
      const { prefix, prefixBits } = this.rangeOf(index);
      out.push({ index, target: randomIdInRange(prefix, prefixBits, this.random) });
    });
    return out;
  }

  /** Marks the bucket containing `id` as refreshed now (after a lookup into its range). */
  touchBucket(id: Uint8Array): void {
    this.bucketOf(id).lastChanged = this.clock.now();
  }

  /** Snapshot for persistence and diagnostics, bucket 0 (farthest from us) first. */
  buckets(): BucketSnapshot[] {
    return this.table.map((bucket, index) => ({
      prefixBits: this.rangeOf(index).prefixBits,
      contacts: bucket.contacts.map(snapshot),
      replacements: bucket.replacements.length,
      lastChanged: bucket.lastChanged,
    }));
  }

  /** Every contact in the table, bad ones included (replacement caches not included). */
  all(): Contact[] {
    return this.table.flatMap((bucket) => bucket.contacts.map(snapshot));
  }

  /** Our ID and every contact that is not bad: what is worth pinging after a restart. */
  toJSON(): RoutingTableJson {
    const nodes: RoutingTableJson['nodes'] = [];
    for (const bucket of this.table) {
      for (const c of bucket.contacts) {
        if (!this.isBad(c)) nodes.push({ id: c.idKey, host: c.host, port: c.port });
      }
    }
    return { ownId: this.self.toString('hex'), nodes };
  }

  /**
   * Reads what toJSON wrote, from an untrusted file. The table comes back empty: saved nodes
   * must answer again before they are trusted, so they are returned as candidates to ping.
   * `opts.ownId` wins over the file's; the file's is used only without it. Entries that are not
   * objects, or have a bad id (not 40 hex), host (not an IP literal, or a bogon unless
   * allowPrivate), port (not an integer 1..65535), our own ID, or an ID or address already seen,
   * are skipped; only the first max(2,048, 160·k) entries are read. Throws RoutingTableError
   * ('bad-json') only if `json` is not an object with a `nodes` array, or if no valid own ID is
   * available ('bad-option' for a bad opts.ownId, as the constructor does).
   */
  static fromJSON(
    json: unknown,
    opts: Omit<RoutingTableOptions, 'ownId'> & { ownId?: Buffer },
  ): { table: RoutingTable; candidates: NodeInfo[] } {
    const { ownId, nodes } = readTableJson(json, opts.ownId);
    const table = new RoutingTable({ ...opts, ownId });
    const cap = Math.max(MAX_PERSISTED_NODES, ID_BITS * table.k);
    const candidates = savedCandidates(nodes, { ownId: table.self, cap, addressKey: (host, port) => table.savedAddressKey(host, port) });
    return { table, candidates };
  }

  // ---- internals ----

  private isBad(c: Contact): boolean {
    return c.failures >= this.failuresBeforeBad;
  }

  /** A saved node's address key, or undefined when it may not enter (fromJSON): a port of 1..65535, an admissible IP. */
  private savedAddressKey(host: unknown, port: unknown): string | undefined {
    if (!isPort(port) || port === 0) return undefined;
    const ip = this.admissibleIp(host);
    return ip === undefined ? undefined : addressKey(ip, port);
  }

  /** The IP bytes of a host we may add, or undefined (not an IP literal, or not allowed). */
  private admissibleIp(host: unknown): Buffer | undefined {
    const ip = ipBytes(host);
    if (ip === undefined) return undefined;
    if (!inAddressScope(this.addressScope, ip)) return undefined;
    return ip;
  }

  /**
   * Whether a node with this ID would get a slot without evicting anyone (its bucket has room,
   * can split, or holds a bad node): worth pinging an unknown querier to add it.
   */
  hasRoomFor(id: Uint8Array): boolean {
    if (id.length !== ID_BYTES || Buffer.compare(id, this.self) === 0) return false;
    const index = this.indexOf(id);
    const bucket = this.table[index]!;
    if (bucket.contacts.length < this.k) return true;
    if (index === this.table.length - 1 && this.table.length < ID_BITS) return true;
    return this.worstBad(bucket) !== undefined;
  }

  /** Contacts in the bucket this ID falls into. */
  bucketFill(id: Uint8Array): number {
    return this.table[this.indexOf(id)]!.contacts.length;
  }

  /** How many buckets lie between this ID's bucket and the nearest one (0: it falls in the nearest). */
  bucketsFromNearest(id: Uint8Array): number {
    return this.table.length - 1 - this.indexOf(id);
  }

  private indexOf(id: Uint8Array): number {
    return Math.min(commonPrefixBits(id, this.self), this.table.length - 1);
  }

  private bucketOf(id: Uint8Array): Bucket {
    return this.table[this.indexOf(id)]!;
  }

  private rangeOf(index: number): { prefix: Buffer; prefixBits: number } {
    const last = this.table.length - 1;
    if (index === last) return { prefix: this.self, prefixBits: last };
    const prefix = Buffer.from(this.self);
    prefix[index >>> 3] = prefix[index >>> 3]! ^ (0x80 >>> (index & 7));
    return { prefix, prefixBits: index + 1 };
  }

  /** The table entry with this ID at this address (both must match). */
  private find(node: { id: unknown; host: unknown; port: unknown }): Entry | undefined {
    const idKey = idKeyOf(node.id);
    const ip = ipBytes(node.host);
    if (idKey === undefined || ip === undefined || !isPort(node.port)) return undefined;
    const entry = this.byId.get(idKey);
    return entry !== undefined && entry.addressKey === addressKey(ip, node.port) ? entry : undefined;
  }

  /** Finds the newcomer a place: a free slot, a split, a bad node's slot, or the replacement cache. */
  private place(entry: Entry, evicted: Entry | undefined, now: number): ResponseOutcome {
    for (;;) {
      const index = this.indexOf(entry.id);
      const bucket = this.table[index]!;
      if (bucket.contacts.length < this.k) {
        this.attach(bucket, entry, now);
        return evicted === undefined ? { status: 'added' } : { status: 'replaced', evicted: snapshot(evicted) };
      }
      if (index === this.table.length - 1 && this.table.length < ID_BITS) {
        this.split();
        continue;
      }
      const bad = this.worstBad(bucket);
      if (bad !== undefined) {
        this.detach(bad);
        this.attach(bucket, entry, now);
        return { status: 'replaced', evicted: snapshot(bad) };
      }
      const questionable = bucket.contacts.filter((c) => this.state(c) === 'questionable');
      if (questionable.length === 0) return { status: 'rejected', reason: 'bucket-full-of-good' };
      questionable.sort((a, b) => lastSeen(a) - lastSeen(b));
      this.remember(bucket, entry);
      return { status: 'full', pingCandidates: questionable.map(snapshot) };
    }
  }

  /** Adds to the bucket and the indexes; drops cache entries it supersedes. */
  private attach(bucket: Bucket, entry: Entry, now: number): void {
    const cachedSameId = bucket.replacements.find((c) => c.idKey === entry.idKey);
    if (cachedSameId !== undefined) this.uncache(bucket, cachedSameId);
    const cachedSameAddress = this.cachedByAddress.get(entry.addressKey);
    if (cachedSameAddress !== undefined) this.uncache(this.bucketOf(cachedSameAddress.id), cachedSameAddress);
    bucket.contacts.push(entry);
    this.byId.set(entry.idKey, entry);
    this.byAddress.set(entry.addressKey, entry);
    bucket.lastChanged = now;
  }

  private detach(entry: Entry): void {
    removeFrom(this.bucketOf(entry.id).contacts, entry);
    this.byId.delete(entry.idKey);
    this.byAddress.delete(entry.addressKey);
  }

  /** The bad contact to replace first: most failures, then least recently seen. */
  private worstBad(bucket: Bucket): Entry | undefined {
    let worst: Entry | undefined;
    for (const c of bucket.contacts) {
      if (!this.isBad(c)) continue;
      if (worst === undefined || c.failures > worst.failures || (c.failures === worst.failures && lastSeen(c) < lastSeen(worst))) {
        worst = c;
      }
    }
    return worst;
  }

  /**
   * Puts a newcomer in the bucket's replacement cache. Newest wins: an older cache entry with
   * the same ID or address (in any bucket) gives way, and the oldest goes when the cache is full.
   * The caller has checked the table's own rules (the ID and address are not in the table).
   */
  private remember(bucket: Bucket, entry: Entry): void {
    if (this.cacheSize === 0) return;
    const sameId = bucket.replacements.find((c) => c.idKey === entry.idKey);
    if (sameId !== undefined) this.uncache(bucket, sameId);
    const sameAddress = this.cachedByAddress.get(entry.addressKey);
    if (sameAddress !== undefined) this.uncache(this.bucketOf(sameAddress.id), sameAddress);
    bucket.replacements.push(entry);
    this.cachedByAddress.set(entry.addressKey, entry);
    while (bucket.replacements.length > this.cacheSize) this.uncache(bucket, bucket.replacements[0]!);
  }

  private uncache(bucket: Bucket, entry: Entry): void {
    removeFrom(bucket.replacements, entry);
    if (this.cachedByAddress.get(entry.addressKey) === entry) this.cachedByAddress.delete(entry.addressKey);
  }

  private forgetCached(node: { id: unknown; host: unknown; port: unknown }): void {
    const ip = ipBytes(node.host);
    if (ip === undefined || !isPort(node.port)) return;
    const cached = this.cachedByAddress.get(addressKey(ip, node.port));
    if (cached !== undefined && cached.idKey === idKeyOf(node.id)) this.uncache(this.bucketOf(cached.id), cached);
  }

  /** Moves the most recently responded replacement into the bucket, if there is room and one. */
  private promote(bucket: Bucket): Entry | undefined {
    if (bucket.contacts.length >= this.k) return undefined;
    const best = bucket.replacements.at(-1);
    if (best === undefined) return undefined;
    this.uncache(bucket, best);
    const now = this.clock.now();
    best.addedAt = now;
    this.attach(bucket, best, now);
    return best;
  }

  /** Splits the last bucket (the one holding our ID); both halves keep its lastChanged. */
  private split(): void {
    const last = this.table.length - 1;
    const old = this.table[last]!;
    const far: Bucket = { contacts: [], replacements: [], lastChanged: old.lastChanged };
    const near: Bucket = { contacts: [], replacements: [], lastChanged: old.lastChanged };
    for (const c of old.contacts) (commonPrefixBits(c.id, this.self) === last ? far : near).contacts.push(c);
    for (const c of old.replacements) (commonPrefixBits(c.id, this.self) === last ? far : near).replacements.push(c);
    this.table[last] = far;
    this.table.push(near);
  }
}

/** When we last heard from a contact, in either direction. */
function lastSeen(c: Contact): number {
  return Math.max(c.lastResponse, c.lastQuery);
}
