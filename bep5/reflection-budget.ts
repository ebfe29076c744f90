import { type Clock, systemClock } from './clock.js';
import { BEP44_REFLECTION_ALLOWANCE_BYTES, BEP44_REFLECTION_RATIO, BEP44_REFLECTION_SLOTS, BEP44_REFLECTION_WINDOW_MS } from './constants.js';
import { parseIp, unmapIp } from './ip.js';
import { type RandomSource, cryptoRandom } from './random.js';

/**
 * BEP 44's reflection budget: a get reply can carry 1,000 bytes of `v` for a 100-byte query,
 * so a spoofed get would make us a tenfold amplifier. For a source that has not proved its
 * address (the node asks this only for those), the bytes of replies carrying `v` stay within
 * `allowance` + `ratio` x the bytes of the get queries it sent, over a window: each query adds
 * ratio x its size to the source's credit, each reply with `v` spends its size, and a reply it
 * cannot pay for goes out without `v` (nodes and token only). A source silent for `windowMs`
 * starts over with the allowance, one full reply, so an honest lookup (one get per node, to
 * nodes that mostly do not know it) gets the item. Credit is capped at four allowances, so
 * what a source saved up cannot come back as one large burst.
 *
 * Memory is fixed, as in crawler/ipv4-rate-limiter.ts: a table of `slots` typed-array slots
 * keyed by source (an IPv4 address, or an IPv6 /64), 25 bytes each. A source hashes (with a
 * random key, so nobody can aim at another's slots) to a run of 8 slots and takes the first
 * that is free or silent for a window; only when all 8 are busy does it take the least
 * recently seen, whose source then starts over with the allowance. Spoofed sources cost the
 * attacker a packet each and buy one allowance each, the same as without a table.
 */

const PROBES = 8;

export interface ReflectionBudgetOptions {
  clock?: Clock;
  random?: RandomSource;
  /** Reply bytes allowed per query byte received. Default 3. */
  ratio?: number;
  /** Credit of a source new in the window. Default one full BEP 44 datagram (1,452 bytes). */
  allowanceBytes?: number;
  /** Default 60 s. */
  windowMs?: number;
  /** Default 16,384 (rounded up to a power of two). */
  slots?: number;
}

export class ReflectionBudget {
  private readonly clock: Clock;
  private readonly ratio: number;
  private readonly allowance: number;
  private readonly maxCredit: number;
  private readonly windowMs: number;
  private readonly mask: number;
  private readonly hashKey: number;
  /** The source's first 4 bytes, its next 4 (IPv6 /64), and its family (0: free slot). */
  private readonly ownerHigh: Uint32Array;
  private readonly ownerLow: Uint32Array;
  private readonly family: Uint8Array;
  private readonly credit: Float64Array;
  private readonly seenAt: Float64Array;

  constructor(opts: ReflectionBudgetOptions = {}) {
    this.clock = opts.clock ?? systemClock;
    this.ratio = opts.ratio ?? BEP44_REFLECTION_RATIO;
    this.allowance = opts.allowanceBytes ?? BEP44_REFLECTION_ALLOWANCE_BYTES;
    this.maxCredit = 4 * this.allowance;
    this.windowMs = opts.windowMs ?? BEP44_REFLECTION_WINDOW_MS;
    for (const [name, v] of [['ratio', this.ratio], ['allowanceBytes', this.allowance], ['windowMs', this.windowMs]] as const) {
      if (!Number.isFinite(v) || v < 0) throw new RangeError(`${name} must be a finite number >= 0, got ${String(v)}`);
    }
    let size = PROBES;
    while (size < (opts.slots ?? BEP44_REFLECTION_SLOTS)) size *= 2;
    this.mask = size - 1;
    this.hashKey = (opts.random ?? cryptoRandom).bytes(4).readUInt32BE(0);
    this.ownerHigh = new Uint32Array(size);
    this.ownerLow = new Uint32Array(size);
    this.family = new Uint8Array(size);
    this.credit = new Float64Array(size);
    this.seenAt = new Float64Array(size);
  }

  /**
   * A get query of `queryBytes` arrived from `host`: its credit grows by ratio x queryBytes.
   * Then, if `replyBytes` > 0 (the reply would carry `v`), whether the credit pays for such a
   * reply (and it is spent); a false answer means: reply without `v`. Non-IP text: false.
   */
  allow(host: string, queryBytes: number, replyBytes: number): boolean {
    const parsed = parseIp(host);
    if (parsed === undefined) return false;
    const ip = unmapIp(parsed);
    const family = ip.length === 4 ? 4 : 6;
    const high = ip.readUInt32BE(0);
    const low = family === 4 ? 0 : ip.readUInt32BE(4);
    const now = this.clock.now();
    const slot = this.slotOf(family, high, low, now);
    const credit = Math.min(this.maxCredit, this.credit[slot]! + this.ratio * Math.max(0, queryBytes));
    this.seenAt[slot] = now;
    if (replyBytes <= 0 || credit < replyBytes) {
      this.credit[slot] = credit;
      return replyBytes <= 0;
    }
    this.credit[slot] = credit - replyBytes;
    return true;
  }

  /** The source's slot, taken and given the allowance if the source had none or was silent for a window. */
  private slotOf(family: number, high: number, low: number, now: number): number {
    let slot = hash(high ^ this.hashKey, low, family) & this.mask;
    let spare = -1;
    let spareSeen = Infinity;
    for (let p = 0; p < PROBES; p++, slot = (slot + 1) & this.mask) {
      const stale = this.family[slot] === 0 || now - this.seenAt[slot]! >= this.windowMs;
      if (this.family[slot] === family && this.ownerHigh[slot] === high && this.ownerLow[slot] === low) {
        if (stale) this.credit[slot] = this.allowance;
        return slot;
      }
      const seen = stale ? -Infinity : this.seenAt[slot]!;
      if (seen < spareSeen) {
        spare = slot;
        spareSeen = seen;
      }
    }
    this.family[spare] = family;
    this.ownerHigh[spare] = high;
    this.ownerLow[spare] = low;
    this.credit[spare] = this.allowance;
    return spare;
  }
}

function hash(a: number, b: number, c: number): number {
  let h = Math.imul(a, 0x9e3779b1) ^ Math.imul(b ^ (c << 16), 0x85ebca6b);
  h ^= h >>> 15;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 13)) >>> 0;
}
