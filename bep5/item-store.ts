import { immutableTarget, mutableTarget } from './bep44.js';
import { systemClock, type Clock } from './clock.js';
import { DEFAULT_ITEM_TTL_MS, DEFAULT_MAX_ITEM_BYTES, DEFAULT_MAX_ITEMS, DEFAULT_MAX_ITEMS_PER_SOURCE, ID_BYTES, ITEM_OVERHEAD_BYTES } from './constants.js';
import { Bep44Error } from './errors.js';
import { parseIp, sourceKey, unmapIp } from './ip.js';
import { SourceCounts, expireFront } from './store-bookkeeping.js';
import { ownedCopy } from './owned-copy.js';

/**
 * What BEP 44 put stores and get reads: immutable and mutable items in one map by target.
 *
 * Expiry: an item put (or re-put) at t lives for [t, t + ttlMs), 2 hours by default (BEP 44:
 * items "MAY expire in 2 hours" without a re-announcement). As in PeerStore, nothing runs on
 * timers: items are kept in put order, which is expiry order, and every public method first
 * drops the expired ones at the front; `expire()` does the same for the node's sweep.
 *
 * Mutable items (the caller has verified the signature: handlers/put.ts):
 * - with `cas` and an item stored, `cas` must be the stored seq ('cas-mismatch', error 301);
 * - a seq lower than the stored one is refused ('seq-too-low', error 302);
 * - the same seq with the same value refreshes the item's lifetime ('refreshed'); the same seq
 *   with another value is refused ('seq-conflict'): BEP 44 says a put whose seq is not higher
 *   MUST be rejected, and only "less than current" (302) has a code. A writer gets the same
 *   advice from it (read again, put a higher seq), so 302 it is;
 * - a higher seq replaces the value ('updated').
 * Immutable items: a re-put refreshes ('refreshed'). An item of the other kind under the same
 * target (a value whose SHA-1 is some key and salt's) is never replaced by an immutable put
 * ('rejected'), while a signed mutable put replaces an immutable item: only it proves a writer.
 *
 * Caps, as in PeerStore and for the same reasons: `maxItemsPerSource` items created per
 * source (an IPv4 address or IPv6 /64; re-puts and updates by anyone never count against a
 * quota, the item stays its creator's) make a new item beyond it 'rejected'; at `maxItems`
 * items or `maxBytes` bytes (values plus ITEM_OVERHEAD_BYTES each), a new item evicts the
 * least recently put ones. Every buffer kept is a copy: callers pass views into datagrams.
 */

export interface ItemStoreOptions {
  clock?: Clock;
  /** How long an item lives without a re-put, in ms. Default 2 hours. */
  ttlMs?: number;
  /** Default 4,000. */
  maxItems?: number;
  /** Values plus ITEM_OVERHEAD_BYTES per item. Default 4 MiB. */
  maxBytes?: number;
  /** Items one IPv4 address or IPv6 /64 may have created and still hold here. Default 32. */
  maxItemsPerSource?: number;
}

export interface StoredItem {
  readonly target: Buffer;
  /** The value's bencoded bytes. */
  readonly vBytes: Buffer;
  /** Mutable items: public key, sequence number and signature (the salt is not kept: BEP 44 never echoes it). */
  readonly k?: Buffer;
  readonly seq?: number;
  readonly sig?: Buffer;
}

export type ItemPutResult = 'stored' | 'updated' | 'refreshed' | 'rejected' | 'cas-mismatch' | 'seq-too-low' | 'seq-conflict';

/** A mutable put whose signature was verified. */
export interface MutablePut {
  k: Buffer;
  sig: Buffer;
  seq: number;
  vBytes: Buffer;
  salt?: Buffer;
  cas?: number;
}

interface Entry {
  key: string;
  target: Buffer;
  source: string;
  vBytes: Buffer;
  k?: Buffer;
  seq?: number;
  sig?: Buffer;
  expiresAt: number;
}

const cost = (e: { vBytes: Buffer }): number => e.vBytes.length + ITEM_OVERHEAD_BYTES;

export class ItemStore {
  private readonly clock: Clock;
  private readonly ttlMs: number;
  private readonly maxItems: number;
  private readonly maxBytes: number;
  private readonly maxItemsPerSource: number;
  /** By target (latin1), least recently put first. */
  private readonly items = new Map<string, Entry>();
  private readonly perSource = new SourceCounts();
  private bytes = 0;

  constructor(opts: ItemStoreOptions = {}) {
    this.clock = opts.clock ?? systemClock;
    this.ttlMs = positive('ttlMs', opts.ttlMs, DEFAULT_ITEM_TTL_MS);
    this.maxItems = positive('maxItems', opts.maxItems, DEFAULT_MAX_ITEMS);
    this.maxBytes = positive('maxBytes', opts.maxBytes, DEFAULT_MAX_ITEM_BYTES);
    this.maxItemsPerSource = positive('maxItemsPerSource', opts.maxItemsPerSource, DEFAULT_MAX_ITEMS_PER_SOURCE);
  }

  /** The unexpired item stored under `target` (20 bytes), if any. */
  get(target: Buffer): StoredItem | undefined {
    if (target.length !== ID_BYTES) throw new Bep44Error('bad-target', `a target is ${ID_BYTES} bytes`);
    this.expire();
    return this.items.get(target.toString('latin1'));
  }

  /** Stores `vBytes` (at most 1,000 bytes, checked by the caller) under its SHA-1, put by `host`. */
  putImmutable(vBytes: Buffer, host: string): ItemPutResult {
    const source = sourceOf(host);
    const target = immutableTarget(vBytes);
    this.expire();
    const existing = this.items.get(target.toString('latin1'));
    if (existing !== undefined) {
      if (existing.seq !== undefined) return 'rejected';
      this.refresh(existing);
      return 'refreshed';
    }
    return this.add({ key: target.toString('latin1'), target, source, vBytes: ownedCopy(vBytes), expiresAt: 0 });
  }

  /** Stores a mutable item (its signature already verified) under SHA-1(k ‖ salt), put by `host`. */
  putMutable(put: MutablePut, host: string): ItemPutResult {
    const source = sourceOf(host);
    const target = mutableTarget(put.k, put.salt);
    const key = target.toString('latin1');
    this.expire();
    const existing = this.items.get(key);
    if (existing === undefined) {
      return this.add({ key, target, source, vBytes: ownedCopy(put.vBytes), k: ownedCopy(put.k), seq: put.seq, sig: ownedCopy(put.sig), expiresAt: 0 });
    }
    if (existing.seq !== undefined) {
      if (put.cas !== undefined && put.cas !== existing.seq) return 'cas-mismatch';
      if (put.seq < existing.seq) return 'seq-too-low';
      if (put.seq === existing.seq) {
        if (!existing.vBytes.equals(put.vBytes)) return 'seq-conflict';
        this.refresh(existing);
        return 'refreshed';
      }
    }
    this.bytes -= cost(existing);
    existing.vBytes = ownedCopy(put.vBytes);
    existing.k = ownedCopy(put.k);
    existing.seq = put.seq;
    existing.sig = ownedCopy(put.sig);
    this.bytes += cost(existing);
    this.refresh(existing);
    this.evictFor(existing, 0);
    return 'updated';
  }

  /** Removes expired items; returns how many. */
  expire(): number {
    return expireFront(this.items, this.clock.now(), (entry) => this.remove(entry));
  }

  /** What is stored now (after dropping what has expired): items, and bytes as counted against maxBytes. */
  get size(): { items: number; bytes: number } {
    this.expire();
    return { items: this.items.size, bytes: this.bytes };
  }

  private add(entry: Entry): ItemPutResult {
    if (this.perSource.of(entry.source) >= this.maxItemsPerSource || cost(entry) > this.maxBytes) return 'rejected';
    this.evictFor(undefined, cost(entry));
    entry.expiresAt = this.clock.now() + this.ttlMs;
    this.items.set(entry.key, entry);
    this.bytes += cost(entry);
    this.perSource.add(entry.source);
    return 'stored';
  }

  /** Evicts the least recently put items (never `keep`) until `extra` more bytes and, for a new item, one more item fit. */
  private evictFor(keep: Entry | undefined, extra: number): void {
    const newItem = keep === undefined ? 1 : 0;
    for (const oldest of this.items.values()) {
      if (this.items.size + newItem <= this.maxItems && this.bytes + extra <= this.maxBytes) return;
      if (oldest !== keep) this.remove(oldest);
    }
  }

  /** A new lifetime, and the most recently put end of the order. */
  private refresh(entry: Entry): void {
    entry.expiresAt = this.clock.now() + this.ttlMs;
    this.items.delete(entry.key);
    this.items.set(entry.key, entry);
  }

  private remove(entry: Entry): void {
    this.items.delete(entry.key);
    this.bytes -= cost(entry);
    this.perSource.remove(entry.source);
  }
}

function sourceOf(host: string): string {
  const ip = parseIp(host);
  if (ip === undefined) throw new Bep44Error('bad-host', `not an IP address: ${JSON.stringify(host)}`);
  return sourceKey(unmapIp(ip));
}

function positive(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isFinite(v) || v <= 0) throw new Bep44Error('bad-option', `${name} must be a positive number, got ${String(value)}`);
  return v;
}
