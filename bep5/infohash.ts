import { isHexId } from './node-id.js';
import { InfohashError } from './errors.js';

/**
 * A torrent as people write it: a v1 infohash as 40 hex characters (either case) or 32 base32
 * characters (RFC 4648, either case), or a magnet link carrying one
 * (`magnet:?xt=urn:btih:<hex|base32>&dn=...`). The CLI, the HTTP API and library users parse
 * it alike.
 */

export interface ParsedInfohash {
  infoHash: Buffer;
  /** The magnet link's `dn` (display name), when it had one. */
  displayName?: string;
}

const EXPECTED = 'an infohash (40 hex characters or 32 base32 characters) or a magnet link (magnet:?xt=urn:btih:...)';
const BASE32_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** Parses an infohash or magnet link; anything else is an InfohashError saying what was expected. */
export function parseInfohash(text: string): ParsedInfohash {
  const trimmed = text.trim();
  if (/^magnet:/i.test(trimmed)) return parseMagnet(trimmed);
  const infoHash = decodeHash(trimmed);
  if (infoHash === undefined) throw new InfohashError(`expected ${EXPECTED}, got ${quote(text)}`);
  return { infoHash };
}

/** 40 hex or 32 base32 characters as 20 bytes; undefined for anything else. */
export function decodeHash(text: string): Buffer | undefined {
  if (isHexId(text)) return Buffer.from(text, 'hex');
  if (/^[A-Za-z2-7]{32}$/.test(text)) return base32Decode(text.toUpperCase());
  return undefined;
}

function parseMagnet(link: string): ParsedInfohash {
  const q = link.indexOf('?');
  if (q < 0) throw new InfohashError(`magnet link without parameters: expected magnet:?xt=urn:btih:<infohash>, got ${quote(link)}`);
  let params: URLSearchParams;
  try {
    params = new URLSearchParams(link.slice(q + 1));
  } catch {
    throw new InfohashError(`malformed magnet link ${quote(link)}`);
  }
  let sawV2 = false;
  let displayName: string | undefined;
  let infoHash: Buffer | undefined;
  for (const [key, value] of params) {
    const k = key.toLowerCase();
    if (k === 'dn' && displayName === undefined && value !== '') displayName = value;
    // BEP 9 uses xt; the magnet draft numbers repeated topics xt.1, xt.2, ...
    if (!/^xt(\.\d+)?$/.test(k)) continue;
    const btih = /^urn:btih:(.*)$/i.exec(value);
    if (btih) {
      if (infoHash !== undefined) continue;
      infoHash = decodeHash(btih[1]!);
      if (infoHash === undefined) {
        throw new InfohashError(`magnet link's urn:btih: value must be 40 hex or 32 base32 characters, got ${quote(btih[1]!)}`);
      }
    } else if (/^urn:btmh:/i.test(value)) {
      sawV2 = true;
    }
  }
  if (infoHash === undefined) {
    throw new InfohashError(
      sawV2
        ? 'magnet link has only a v2 hash (urn:btmh:); a v1 infohash (xt=urn:btih:...) is needed'
        : `magnet link has no infohash: expected magnet:?xt=urn:btih:<infohash>, got ${quote(link)}`,
    );
  }
  return displayName === undefined ? { infoHash } : { infoHash, displayName };
}

function base32Decode(text: string): Buffer {
  const out = Buffer.alloc((text.length * 5) >>> 3);
  let bits = 0;
  let value = 0;
  let i = 0;
  for (const ch of text) {
    value = (value << 5) | BASE32_ALPHABET.indexOf(ch);
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out[i++] = (value >>> bits) & 0xff;
    }
  }
  return out;
}

function quote(text: string): string {
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 77)}...` : text);
}
