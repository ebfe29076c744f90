import { keyedHash2, tableKey } from './fmix32.js';
import { type Clock, systemClock } from '../bep5/clock.js';

/** Slots in the table: 2.6 MB, room for the buckets of 100,000 recently queried addresses. */
const SLOTS = 1 << 17;
/** Slots looked at for one address (linear probing). */
const PROBES = 16;

/**
 * The crawler's per-IP politeness limit: a token bucket per IPv4 address, in typed memory.
 * IPv6 nodes get an instance of their own, keyed by ipv6RateKey (their /64), so an IPv6 key
 * never shares a bucket with an IPv4 address.
 * bep5's TokenBucketLimiter keeps a Map of string keys in LRU order, re-inserted on every
 * take: a sixth of the crawler's CPU at 10,000 queries a second. Here an address hashes to a
 * slot and a take is a few array reads.
 *
 * Forgetting a bucket is lossless once it has refilled to `burst` (a full bucket and no
 * bucket mean the same), and only addresses queried within the last burst / rate seconds hold
 * anything else: a few thousand at crawl rates, against 131,072 slots. A new address takes the
 * first free or full slot of the 16 it may use; only when all of them hold partly spent buckets
 * does it take the one with the most tokens, whose address may then get up to that many
 * queries early. That needs more than about 25,000 addresses queried within one refill
 * time (test/ipv4-rate-limiter.test.ts keeps 25,000 whole; at 50,000, 2 are lost).
 */
export class Ipv4RateLimiter {
  private readonly owner = new Uint32Array(SLOTS);
  private readonly tokens = new Float64Array(SLOTS);
  /** When the slot's tokens were last brought up to date (ms); -1 = free. */
  private readonly at = new Float64Array(SLOTS).fill(-1);
  private readonly clock: Clock;
  private readonly rate: number;
  private readonly burst: number;
  private readonly key = tableKey();

  constructor(options: { ratePerSecond: number; burst: number; clock?: Clock }) {
    if (!(options.ratePerSecond >= 0 && Number.isFinite(options.ratePerSecond))) throw new RangeError(`ratePerSecond must be a finite number >= 0, got ${options.ratePerSecond}`);
    if (!(options.burst >= 1 && Number.isFinite(options.burst))) throw new RangeError(`burst must be at least 1, got ${options.burst}`);
    this.rate = options.ratePerSecond / 1000;
    this.burst = options.burst;
    this.clock = options.clock ?? systemClock;
  }

  /** Takes one token from `ip`'s bucket (an IPv4 address as a 32-bit number); false if it has none. */
  take(ip: number): boolean {
    const now = this.clock.now();
    let slot = hash(ip, this.key);
    let spare = -1;
    let spareTokens = -1;
    for (let p = 0; p < PROBES; p++, slot = (slot + 1) & (SLOTS - 1)) {
      const at = this.at[slot]!;
      if (at >= 0 && this.owner[slot] === ip) {
        const tokens = Math.min(this.burst, this.tokens[slot]! + Math.max(0, now - at) * this.rate);
        this.at[slot] = Math.max(at, now);
        if (tokens < 1) {
          this.tokens[slot] = tokens;
          return false;
        }
        this.tokens[slot] = tokens - 1;
        return true;
      }
      // Slots are never freed, and an address takes the first free slot of its run, so past a
      // free slot the address is not in the table.
      const tokens = at < 0 ? this.burst : Math.min(this.burst, this.tokens[slot]! + Math.max(0, now - at) * this.rate);
      if (tokens > spareTokens) {
        spare = slot;
        spareTokens = tokens;
      }
      if (at < 0) break;
    }
    this.owner[spare] = ip;
    this.at[spare] = now;
    this.tokens[spare] = this.burst - 1;
    return true;
  }
}

/**
 * An address's first slot, keyed (fmix32.ts tableKey): with a fixed hash, a node could hand out
 * contacts whose addresses fill another address's 16 slots, so that its bucket is pushed out
 * again and again and it gets `burst` queries early each time.
 */
function hash(ip: number, key: number): number {
  return keyedHash2(ip, 0x2545f491, key) & (SLOTS - 1);
}

/**
 * The politeness unit of an IPv6 node (BEP 32), as a 32-bit key for its own Ipv4RateLimiter:
 * its /64, not its address. A /64 is what one host, or one customer, is given (RFC 6177), and
 * a host picks addresses in it at will (privacy addresses, one per process), so per address
 * one machine could be asked 2^64 times over. The 64 bits fold to 32: two /64s that fold alike
 * share a bucket, which is only ever stricter. On loopback (::1), where the nodes of a test
 * network all share the one address, each port is a node of its own.
 */
export function ipv6RateKey(ip: Uint8Array, port: number, key = 0): number {
  const high = ((ip[0]! << 24) | (ip[1]! << 16) | (ip[2]! << 8) | ip[3]!) >>> 0;
  const low = ((ip[4]! << 24) | (ip[5]! << 16) | (ip[6]! << 8) | ip[7]!) >>> 0;
  if (high === 0 && low === 0 && isIpv6Loopback(ip)) return (0xffff_0000 | port) >>> 0;
  // Keyed (the caller's tableKey), so that no /64 can be made to share another's bucket.
  return keyedHash2(high, low, key);
}

function isIpv6Loopback(ip: Uint8Array): boolean {
  for (let b = 0; b < 15; b++) if (ip[b] !== 0) return false;
  return ip[15] === 1;
}
