import { isBogon, isLoopback, parseIp, unmapIp } from './ip.js';

/**
 * Which addresses a node may send to and keep in its tables.
 *
 * - `public`: globally routable unicast only. What a node on the Internet wants: a hostile
 *   reply that lists 192.168.1.1 must not make it probe the user's LAN.
 * - `loopback`: public addresses and 127.0.0.0/8 / ::1, nothing else. For test networks on one
 *   machine: a testnet node that advertises 10.x or 192.168.x contacts still cannot make us
 *   send to them, which `private` would.
 * - `private`: every unicast address (private, CGNAT, link local, loopback too). For LANs.
 *   Unspecified, multicast, reserved and broadcast addresses stay refused.
 */
export type AddressScope = 'public' | 'loopback' | 'private';

export const ADDRESS_SCOPES: readonly AddressScope[] = ['public', 'loopback', 'private'];

/** Unspecified, multicast, reserved or broadcast: never a peer, whatever the scope. */
export function neverUnicast(ip: Uint8Array): boolean {
  if (ip.length === 4) return ip[0] === 0 || ip[0]! >= 224;
  return ip[0] === 0xff || ip.every((b) => b === 0);
}

/** Whether `host` (an IP literal, or its bytes) is inside `scope`. Anything else is refused. */
export function inAddressScope(scope: AddressScope, host: string | Uint8Array): boolean {
  const raw = typeof host === 'string' ? parseIp(host) : host;
  if (raw === undefined || (raw.length !== 4 && raw.length !== 16)) return false;
  // An IPv4-mapped IPv6 address is judged as the IPv4 address it carries.
  const bytes = unmapIp(raw);
  if (scope === 'private') return !neverUnicast(bytes);
  if (!isBogon(bytes)) return true;
  return scope === 'loopback' && isLoopback(bytes);
}
