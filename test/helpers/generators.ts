/**
 * Numbered test values: the n-th infohash, node ID or address of a fixture, the same for the
 * same n in every run (so expected values can be written down). Each file picks its own lead
 * letter or network, which keeps one file's values apart from another's in a shared Redis.
 */

/** A 40-hex infohash: `lead` (one hex digit) then n in hex, zero-padded to 39 digits. */
export const infohashes =
  (lead: string) =>
  (n: number): string =>
    `${lead}${n.toString(16).padStart(39, '0')}`;

/** A 40-hex node ID: n in hex, zero-padded. */
export const nodeIdHex = (n: number): string => n.toString(16).padStart(40, '0');

/** A distinct node address "10.a.b.c:6881" per n (< 2^24). */
export const nodeAddress = (n: number): string => `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}:6881`;

/** "ip:port" in the /24 `net24` (three octets), the host byte n as given: callers keep n below 256. */
export const hostIn =
  (net24: string, port = 6881) =>
  (n: number): string =>
    `${net24}.${n}:${port}`;

/** "ip:port" in the /24 `net24`, the host byte n mod 256 (any n gives a valid address). */
export const hostInWrapped =
  (net24: string, port = 6881) =>
  (n: number): string =>
    `${net24}.${n & 255}:${port}`;

/** A peer "ip:port" in the /24 `net24`: host n mod 256, port `basePort` + n (distinct per n). */
export const peerIn =
  (net24: string, basePort: number) =>
  (n: number): string =>
    `${net24}.${n & 255}:${basePort + n}`;

/** A peer in 192.0.2.0/24 (TEST-NET-1): host n mod 250, port 1000 + n. */
export const testNetPeer = (n: number): string => `192.0.2.${n % 250}:${1000 + n}`;
