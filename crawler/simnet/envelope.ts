/**
 * The simulated DHT's envelope (issue 15): every datagram between a crawler and the simulator
 * travels over real UDP on loopback, prefixed with the virtual IPv4 address it is for (crawler →
 * simulator) or from (simulator → crawler). The crawler's own per-packet work (encoding,
 * decoding, syscalls) stays real; only the destination is virtual, so nothing ever leaves
 * 127.0.0.0/8 whatever addresses the simulated nodes hand out.
 *
 * Layout: 1 byte magic (0xd5), 4 bytes IPv4 (big-endian), 2 bytes port, then the KRPC datagram.
 */

export const ENVELOPE_MAGIC = 0xd5;
export const ENVELOPE_BYTES = 7;

export function wrap(ip: number, port: number, payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(ENVELOPE_BYTES + payload.length);
  out[0] = ENVELOPE_MAGIC;
  out.writeUInt32BE(ip >>> 0, 1);
  out.writeUInt16BE(port, 5);
  out.set(payload, ENVELOPE_BYTES);
  return out;
}

/** The virtual address and the payload (a view), or null for anything that is not an envelope. */
export function unwrap(datagram: Buffer): { ip: number; port: number; payload: Buffer } | null {
  if (datagram.length < ENVELOPE_BYTES || datagram[0] !== ENVELOPE_MAGIC) return null;
  return { ip: datagram.readUInt32BE(1), port: datagram.readUInt16BE(5), payload: datagram.subarray(ENVELOPE_BYTES) };
}

/** A 32-bit number as an IPv4 dotted quad. */
export function formatIpv4(ip: number): string {
  return `${ip >>> 24}.${(ip >>> 16) & 0xff}.${(ip >>> 8) & 0xff}.${ip & 0xff}`;
}

/** IPv4 dotted quad to a 32-bit number, or null. */
export function parseIpv4(host: string): number | null {
  const parts = host.split('.');
  if (parts.length !== 4) return null;
  let ip = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return null;
    ip = ip * 256 + Number(p);
  }
  return ip;
}
