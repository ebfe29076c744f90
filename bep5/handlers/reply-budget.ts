import { MAX_INCOMING_TRANSACTION_ID_BYTES, MAX_SEND_BYTES } from '../constants.js';

/**
 * How many variable-length items fit in one reply datagram of MAX_SEND_BYTES, from the
 * largest possible fixed part (checked against real encodings in test/reply-budget.test.ts):
 * - envelope: `d`, `1:t` + up to 32-byte t, `1:y1:r`, `1:v4:` + v, `2:ip18:` + IPv6, `1:r`, `e`:
 *   at most 84 bytes;
 * - r's fixed keys: `d`, `2:id20:` + id, `5:token8:` + token (get_peers), `8:intervali21600e`,
 *   `3:numi<up to 10 digits>e`, the list / string headers, `e`: at most 96 bytes;
 * - node lists: `5:nodes` + length prefix + 26 per node, `6:nodes6` + prefix + 38 per node;
 * - BEP 33 filters: `4:BFsd256:` + 256 and `4:BFpe256:` + 256.
 * The socket still refuses anything over the limit (error 202), so an error here is safe.
 */
const ENVELOPE = 1 + 3 + (3 + MAX_INCOMING_TRANSACTION_ID_BYTES) + 6 + 9 + 25 + 3 + 1;
const R_FIXED = 96;
const BLOOM_FIELDS = 2 * (6 + 4 + 256);

function spare(lists: { nodes: number; nodes6: number; scrape?: boolean }): number {
  const nodes = lists.nodes > 0 ? 7 + 4 + lists.nodes * 26 : 0;
  const nodes6 = lists.nodes6 > 0 ? 8 + 4 + lists.nodes6 * 38 : 0;
  return MAX_SEND_BYTES - ENVELOPE - R_FIXED - nodes - nodes6 - (lists.scrape ? BLOOM_FIELDS : 0);
}

/** get_peers `values`: each item is "6:" + 6 bytes (IPv4) or "18:" + 18 bytes (IPv6). */
export function valuesThatFit(family: 4 | 6, lists: { nodes: number; nodes6: number; scrape?: boolean }): number {
  return Math.max(0, Math.floor(spare(lists) / (family === 4 ? 8 : 21)));
}

/** sample_infohashes `samples`: one string of 20 bytes per sample (its header is in R_FIXED). */
export function samplesThatFit(lists: { nodes: number; nodes6: number }): number {
  return Math.max(0, Math.floor(spare(lists) / 20));
}
