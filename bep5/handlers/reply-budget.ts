import { BEP44_PUBLIC_KEY_BYTES, BEP44_SIGNATURE_BYTES, ID_BYTES, MAX_BEP44_SEND_BYTES, MAX_INCOMING_TRANSACTION_ID_BYTES, MAX_SEND_BYTES, TOKEN_BYTES } from '../constants.js';

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

/**
 * BEP 44 get replies, sized exactly but for the envelope's worst case (ENVELOPE): `d`, the id,
 * our token (`5:token8:` + 8 bytes) and `e`; then the item's fields and the node lists.
 */
const GET_R_FIXED = 1 + (3 + 4 + ID_BYTES) + (7 + 2 + TOKEN_BYTES) + 1;

/** A node list's field: its key (`5:nodes`, `6:nodes6`), the string's length prefix and the entries; nothing when not sent. */
function listBytes(count: number | undefined, entryBytes: number, keyBytes: number): number {
  if (count === undefined) return 0;
  const body = count * entryBytes;
  return keyBytes + String(body).length + 1 + body;
}

/**
 * The fields a get reply spends on an item: `1:v` and the bencoded value, and for a mutable
 * item `1:k32:` + k, `3:seqi<seq>e` and `3:sig64:` + sig. With `vBytes` undefined, the seq
 * alone (a mutable item no newer than the query's `seq`).
 */
export function itemFieldBytes(vBytes: number | undefined, seq: number | undefined): number {
  const seqBytes = seq === undefined ? 0 : 7 + String(seq).length;
  if (vBytes === undefined) return seqBytes;
  const mutable = seq === undefined ? 0 : 6 + BEP44_PUBLIC_KEY_BYTES + 8 + BEP44_SIGNATURE_BYTES;
  return 3 + vBytes + seqBytes + mutable;
}

/** The most a get reply with these fields can take on the wire (node counts undefined: that list is not sent). */
export function getReplyBytes(itemBytes: number, lists: { nodes?: number; nodes6?: number }): number {
  return ENVELOPE + GET_R_FIXED + itemBytes + listBytes(lists.nodes, 26, 7) + listBytes(lists.nodes6, 38, 8);
}

/**
 * BEP 44 get replies carrying an item: how many of the nodes asked for fit beside it in
 * MAX_BEP44_SEND_BYTES. The other family's list gives way first, then the querier's own (the
 * one its lookup follows). A 1,000-byte mutable item leaves room for 6 IPv4 or 4 IPv6 nodes.
 */
export function nodesBesideItem(family: 4 | 6, lists: { nodes?: number; nodes6?: number }, itemBytes: number): { nodes?: number; nodes6?: number } {
  const out = { ...lists };
  const own = family === 4 ? 'nodes' : 'nodes6';
  const other = family === 4 ? 'nodes6' : 'nodes';
  while (getReplyBytes(itemBytes, out) > MAX_BEP44_SEND_BYTES) {
    const key = (out[other] ?? 0) > 0 ? other : own;
    if ((out[key] ?? 0) === 0) break; // nothing left to trim: the socket refuses it (202)
    out[key]! -= 1;
  }
  return out;
}
