/**
 * What the routing-table tests (routing-table-*.test.ts) share: a table whose own id is all
 * zeros on a manual clock, numbered public addresses, and ids placed at a chosen distance.
 */
import { ManualClock } from '../../bep5/clock.js';
import { idToHex } from '../../bep5/node-id.js';
import { seededRandom } from '../../bep5/random.js';
import { RoutingTable, type Contact, type RoutingTableOptions } from '../../bep5/routing-table.js';

/** The port of every numbered contact, and the own id (all zeros) of `table()`. */
export const PORT = 6881;
export const ZERO = Buffer.alloc(20);

/** A public IPv4 address per integer (1.0.0.0/8 is not a bogon). */
export const host = (i: number): string => `1.${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}`;

/** An id in bucket 0 of a table whose own id is all zeros (top bit set), numbered n. */
export function farId(n: number): Buffer {
  const id = Buffer.alloc(20);
  id[0] = 0x80;
  id.writeUInt32BE(n, 16);
  return id;
}

/** `own` with bit `cpl` flipped and the bits after it taken from `tail`: commonPrefixBits = cpl. */
export function idAt(own: Uint8Array, cpl: number, tail: Uint8Array): Buffer {
  const id = Buffer.from(tail);
  for (let i = 0; i < 20; i++) {
    const start = i * 8;
    if (start + 8 <= cpl) id[i] = own[i]!;
    else if (start <= cpl) {
      const keep = (0xff << (8 - (cpl - start))) & 0xff; // bits before cpl from own
      const flip = 0x80 >>> (cpl - start);
      id[i] = (own[i]! & keep) | (~own[i]! & flip) | (tail[i]! & ~keep & ~flip & 0xff);
    }
  }
  return id;
}

/** A table with own id ZERO on a ManualClock, with seeded randomness; `opts` override those. */
export function table(opts: Partial<RoutingTableOptions> = {}): { rt: RoutingTable; clock: ManualClock } {
  const clock = new ManualClock();
  return { rt: new RoutingTable({ ownId: ZERO, clock, random: seededRandom(1), ...opts }), clock };
}

/** The contacts' ids in hex, in order. */
export const hexes = (cs: readonly Contact[]): string[] => cs.map((c) => idToHex(c.id));
