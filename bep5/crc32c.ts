/**
 * CRC-32C (Castagnoli), as BEP 42 requires; not the zlib CRC-32, whose polynomial differs.
 * Byte-at-a-time with one 256-entry table: BEP 42 hashes 4 or 8 bytes per check, so the
 * faster sliced variants would only add code.
 */

/** The Castagnoli polynomial 0x1EDC6F41, bit-reversed for LSB-first processing. */
const POLYNOMIAL_REFLECTED = 0x82f63b78;

const TABLE = buildTable();

function buildTable(): Uint32Array {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLYNOMIAL_REFLECTED : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
}

/**
 * The CRC-32C of `data` as an unsigned 32-bit number. To checksum data that arrives in
 * pieces, pass the previous result as `previous`: crc32c(b, crc32c(a)) === crc32c(a ++ b).
 */
export function crc32c(data: Uint8Array, previous = 0): number {
  let crc = ~previous >>> 0;
  for (let i = 0; i < data.length; i++) crc = TABLE[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
  return ~crc >>> 0;
}
