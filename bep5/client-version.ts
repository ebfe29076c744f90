/**
 * What a node's `v` says about its client. Every reader of `v` (the crawler's census, the
 * index's API, the dashboard) decodes it the same way, so the decoder lives with the protocol.
 */

/** Longest version hex shown for a value that is not a BEP 20-style client code. */
const MAX_GARBAGE_HEX = 32;

const HEX = /^(?:[0-9a-fA-F]{2})+$/;
const isAsciiAlnum = (b: number): boolean => (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a);

/**
 * Decodes a hex-encoded `v`. The convention (BEP 20's client codes, as the DHT uses them) is
 * 4 bytes: two ASCII characters naming the client, then two version bytes. How the two bytes
 * encode a version is up to the client; the schemes known here:
 *
 * - "LT" libtorrent: major, then (minor << 4) | tiny, so 01 23 is "1.2.3".
 * - "DS" dhtscope (us): major, minor, so 00 01 is "0.1".
 *
 * Anything else with a two-character alphanumeric code keeps the two bytes as hex ("UT" +
 * "8d53"). A value of any other shape (wrong length, a non-alphanumeric code, not even hex)
 * becomes client "?" with its bytes in hex, cut to 16 bytes with a trailing "…". Never throws.
 */
export function decodeVersion(hex: string): { client: string; version: string } {
  // A string that is not hex (a hostile or corrupted record) is shown as its UTF-8 bytes.
  const bytes = HEX.test(hex) ? Buffer.from(hex, 'hex') : Buffer.from(hex, 'utf8');
  if (HEX.test(hex) && bytes.length === 4 && isAsciiAlnum(bytes[0]!) && isAsciiAlnum(bytes[1]!)) {
    const client = bytes.toString('latin1', 0, 2);
    const hi = bytes[2]!;
    const lo = bytes[3]!;
    if (client === 'LT') return { client, version: `${hi}.${lo >> 4}.${lo & 0x0f}` };
    if (client === 'DS') return { client, version: `${hi}.${lo}` };
    return { client, version: bytes.toString('hex', 2, 4) };
  }
  const shown = bytes.toString('hex');
  return { client: '?', version: shown.length > MAX_GARBAGE_HEX ? `${shown.slice(0, MAX_GARBAGE_HEX)}…` : shown };
}
