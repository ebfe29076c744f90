/**
 * What the peer-store tests (peer-store-*.test.ts) share: a store on a manual clock with a
 * seeded random source, numbered infohashes and IPv4 addresses.
 */
import { ManualClock } from '../../bep5/clock.js';
import type { PeerAddress } from '../../bep5/compact.js';
import { PeerStore, type PeerStoreOptions } from '../../bep5/peer-store.js';
import { seededRandom } from '../../bep5/random.js';

/** One minute in ms. */
export const MIN = 60_000;

/** A store on a ManualClock with seeded randomness (`seed`); `opts` as PeerStore takes them. */
export function setup(opts: PeerStoreOptions = {}, seed = 1): { clock: ManualClock; store: PeerStore } {
  const clock = new ManualClock();
  return { clock, store: new PeerStore({ clock, random: seededRandom(seed), ...opts }) };
}

/** A distinct infohash per n: 0xab, then zeros, then n in the last four bytes. */
export function ih(n: number): Buffer {
  const b = Buffer.alloc(20);
  b.writeUInt32BE(n >>> 0, 16);
  b[0] = 0xab;
  return b;
}

/** A distinct public-looking IPv4 address per n (< 2^24). */
export const v4 = (n: number): string => `${10 + (n >>> 16)}.${(n >>> 8) & 0xff}.${n & 0xff}.1`;
/** A peer at `host`, port 6881 unless given. */
export const peer = (host: string, port = 6881): PeerAddress => ({ host, port });
