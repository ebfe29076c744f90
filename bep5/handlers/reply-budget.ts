import { MAX_SEND_BYTES } from '../constants.js';

/**
 * How many variable-length items fit in one reply datagram of MAX_SEND_BYTES. The fixed part
 * is bounded from above: envelope (t up to 32 bytes, y, v, ip for IPv6) ~ 120 bytes, r's id
 * and token ~ 100 bytes; node lists are 26 / 38 bytes per entry; BEP 33's two filters 2 x 262.
 * The socket still refuses anything over the limit (error 202), so an error here is safe.
 */
const FIXED_OVERHEAD = 240;
const BLOOM_FIELDS = 2 * (6 + 4 + 256);

function spare(lists: { nodes: number; nodes6: number; scrape?: boolean }): number {
  return MAX_SEND_BYTES - FIXED_OVERHEAD - (lists.nodes * 26 + 10) - (lists.nodes6 * 38 + 10) - (lists.scrape ? BLOOM_FIELDS : 0);
}

/** get_peers `values`: each item is "6:" + 6 bytes (IPv4) or "18:" + 18 bytes (IPv6). */
export function valuesThatFit(family: 4 | 6, lists: { nodes: number; nodes6: number; scrape?: boolean }): number {
  return Math.max(0, Math.floor(spare(lists) / (family === 4 ? 8 : 21)));
}

/** sample_infohashes `samples`: one string of 20 bytes per sample, plus a short length prefix. */
export function samplesThatFit(lists: { nodes: number; nodes6: number }): number {
  return Math.max(0, Math.floor((spare(lists) - 16) / 20));
}
