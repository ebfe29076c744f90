import { decodePeer, encodePeer } from '../bep5/compact.js';
import { normalizeHost } from '../bep5/ip.js';

/**
 * Schema 5's peer lists: a field per infohash in an hour bucket (`{T}:p:<bucket>:<hour>`, see
 * indexer/SCHEMA.md), its value a run of entries
 *
 *   [1 byte n = 6 or 18][n bytes compact peer (BEP 5/32)][4 bytes seconds since the epoch]
 *
 * newest first, as lua/includes/packed-peers.lua writes them. 11 bytes per IPv4 peer, against
 * about 60 for a member of schema 4's per-infohash ZSET.
 */

export interface StoredPeer {
  /** `ip:port` or `[v6]:port` */
  address: string;
  /** Milliseconds (stored as whole seconds). */
  at: number;
}

/** The compact form of an `ip:port` / `[v6]:port` text, or null when it is not one. */
export function compactPeer(address: string): Buffer | null {
  const m = /^\[([0-9a-fA-F:.]+)\]:(\d{1,5})$/.exec(address) ?? /^([0-9.]+):(\d{1,5})$/.exec(address);
  if (m === null) return null;
  const host = normalizeHost(m[1]!);
  const port = Number(m[2]);
  if (host === undefined || port < 1 || port > 65_535) return null;
  try {
    return encodePeer({ host, port });
  } catch {
    return null;
  }
}

/** Reads a packed list; stops at the first malformed entry, as the script does. */
export function unpackPeers(bytes: Uint8Array): StoredPeer[] {
  const out: StoredPeer[] = [];
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  for (let i = 0; i < b.length; ) {
    const n = b[i]!;
    if ((n !== 6 && n !== 18) || i + n + 5 > b.length) break;
    const { host, port } = decodePeer(b.subarray(i + 1, i + 1 + n));
    out.push({ address: n === 6 ? `${host}:${port}` : `[${host}]:${port}`, at: b.readUInt32BE(i + 1 + n) * 1000 });
    i += n + 5;
  }
  return out;
}
