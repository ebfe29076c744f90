import { crc32c } from './crc32c.js';
import {
  findRange,
  IPV4_LINK_LOCAL,
  IPV4_LOOPBACK,
  IPV4_PRIVATE,
  IPV6_LINK_LOCAL,
  IPV6_LOOPBACK,
  IPV6_PRIVATE,
  parseIp,
  unmapIp,
  type IpInput,
  type IpRange,
} from './ip.js';
import { ID_BYTES } from './constants.js';
import { randomId } from './node-id.js';
import { cryptoRandom, type RandomSource } from './random.js';
import { Bep42Error } from './errors.js';

/**
 * BEP 42: a node ID's top 21 bits are tied to the node's external IP through CRC-32C, so
 * nobody can cheaply place many IDs next to a chosen infohash. Byte 19 holds the random
 * number r whose low 3 bits went into the hash, so anyone can recheck the ID.
 *
 * IPv4-mapped addresses count as their IPv4 address throughout: a dual-stack socket reports
 * IPv4 peers that way, and they chose their ID from the IPv4 address.
 */

/**
 * Addresses whose IDs are not checked. IPv4 is the BEP's own list. For IPv6 the BEP lists
 * nothing; the equivalents (loopback, unique-local, link-local) are exempt for the same reason:
 * a node there cannot know its external address, and nobody outside can reach it anyway.
 * CGNAT 100.64/10 is not exempt (the BEP does not list it; such nodes are seen by the rest of
 * the DHT under their carrier's public address, which is what they should derive from).
 */
export const BEP42_EXEMPT_IPV4: readonly IpRange[] = [...IPV4_PRIVATE, ...IPV4_LINK_LOCAL, ...IPV4_LOOPBACK];
export const BEP42_EXEMPT_IPV6: readonly IpRange[] = [...IPV6_LOOPBACK, ...IPV6_PRIVATE, ...IPV6_LINK_LOCAL];

/** The address bytes BEP 42 works on: IPv4-mapped becomes IPv4. Undefined if not an IP. */
function bep42Bytes(host: IpInput): Buffer | undefined {
  if (typeof host === 'string') {
    const parsed = parseIp(host);
    return parsed === undefined ? undefined : unmapIp(parsed);
  }
  return host.length === 4 || host.length === 16 ? unmapIp(host) : undefined;
}

/** True for the private, loopback and link-local addresses listed above; false for non-IPs. */
export function isBep42Exempt(host: IpInput): boolean {
  const bytes = bep42Bytes(host);
  if (bytes === undefined) return false;
  return findRange(bytes, bytes.length === 4 ? BEP42_EXEMPT_IPV4 : BEP42_EXEMPT_IPV6) !== undefined;
}

const IPV4_MASK = [0x03, 0x0f, 0x3f, 0xff];
const IPV6_MASK = [0x01, 0x03, 0x07, 0x0f, 0x1f, 0x3f, 0x7f, 0xff];

/**
 * crc32c((ip & mask) | (r << top)) over the 4 octets of IPv4 or the first 8 of IPv6, as the
 * reference implementation does. Only r's low 3 bits are used. Only the top 21 bits of the
 * result constrain the ID. An IPv4-mapped 16-byte address is hashed as its IPv4.
 */
export function bep42Prefix(ipBytes: Uint8Array, r: number): number {
  if (ipBytes.length !== 4 && ipBytes.length !== 16) {
    throw new Bep42Error('bad-address-length', `an IP address has 4 or 16 bytes, not ${ipBytes.length}`);
  }
  const ip = unmapIp(ipBytes);
  const mask = ip.length === 4 ? IPV4_MASK : IPV6_MASK;
  const masked = Buffer.allocUnsafe(mask.length);
  for (let i = 0; i < mask.length; i++) masked[i] = ip[i]! & mask[i]!;
  // r << 29 (IPv4) or r << 61 (IPv6) lands in the top 3 bits of the first octet, which the
  // mask has cleared in both cases.
  masked[0] = masked[0]! | ((r & 0x07) << 5);
  return crc32c(masked);
}

/** Top 21 bits of `id` against those of the CRC: bytes 0 and 1 whole, then 5 bits of byte 2. */
function matchesCrc(id: Uint8Array, crc: number): boolean {
  return id[0] === crc >>> 24 && id[1] === ((crc >>> 16) & 0xff) && (id[2]! & 0xf8) === ((crc >>> 8) & 0xf8);
}

/**
 * A node ID that BEP 42 accepts for `host`. For an exempt address the check does not apply,
 * so this returns a plain random ID; a node there should regenerate once it learns its
 * external address (from `ip` fields several nodes agree on).
 */
export function generateBep42Id(host: IpInput, random: RandomSource = cryptoRandom): Buffer {
  const ip = bep42Bytes(host);
  if (ip === undefined) throw new Bep42Error('bad-host', `not an IP address: ${describe(host)}`);
  const id = randomId(random);
  if (isBep42Exempt(ip)) return id;
  const r = id[ID_BYTES - 1]!;
  const crc = bep42Prefix(ip, r);
  id[0] = crc >>> 24;
  id[1] = (crc >>> 16) & 0xff;
  id[2] = ((crc >>> 8) & 0xf8) | (id[2]! & 0x07);
  return id;
}

/**
 * Whether `id` is derived from `host`, ignoring exemptions: for telling whether a private-range
 * node happens to have an ID valid for that address, or for checking our own ID against the
 * external address peers report. False for non-IPs and IDs that are not 20 bytes.
 */
export function matchesBep42(id: Uint8Array, host: IpInput): boolean {
  const ip = bep42Bytes(host);
  if (ip === undefined || id.length !== ID_BYTES) return false;
  return matchesCrc(id, bep42Prefix(ip, id[ID_BYTES - 1]!));
}

/**
 * The enforcement check: true if `host` is exempt, or `id` matches it. False for non-IPs and
 * IDs that are not 20 bytes (an exempt host still needs a well-formed ID).
 */
export function isBep42Compliant(id: Uint8Array, host: IpInput): boolean {
  if (id.length !== ID_BYTES) return false;
  return isBep42Exempt(host) || matchesBep42(id, host);
}

function describe(host: IpInput): string {
  return typeof host === 'string' ? JSON.stringify(host) : `${host.length} bytes`;
}
