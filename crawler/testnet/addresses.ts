/**
 * Testnet addresses: every node gets its own loopback address (any 127.x.y.z binds on Linux
 * without setup) and the standard port, as on the real DHT. Octets 0 and 255 are avoided.
 */
export const TESTNET_PORT = 6881;

/** Node `i` of a testnet whose addresses start in 127.<first>.*.*. */
export function testnetAddress(i: number, first = 20): string {
  const per = 254 * 254;
  const a = first + Math.floor(i / per);
  const rest = i % per;
  if (a > 254) throw new RangeError(`testnet too large for 127.${first}+ (node ${i})`);
  return `127.${a}.${1 + Math.floor(rest / 254)}.${1 + (rest % 254)}`;
}

/** The ID every testnet announcer queries with (they are clients, BEP 43 read-only). */
export const ANNOUNCER_ID = Buffer.alloc(20, 0xa5);
