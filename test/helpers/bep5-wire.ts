/**
 * The BEP 5 example values (https://www.bittorrent.org/beps/bep_0005.html) and a dictionary as
 * it arrives from the wire, shared by the tests of bep5/'s message layers (krpc-message-*,
 * queries-* and replies-*.test.ts).
 */
import { decode, encode, type BencodeDict, type Encodable } from '../../bep5/bencode.js';

/** The querying node's id in the BEP 5 examples. */
export const ID_A = Buffer.from('abcdefghij0123456789', 'latin1');
/** The answering node's id in the BEP 5 examples (also their target and info_hash). */
export const ID_R = Buffer.from('mnopqrstuvwxyz123456', 'latin1');
/** The token of the BEP 5 get_peers and announce_peer examples. */
export const TOKEN = Buffer.from('aoeusnth', 'latin1');
/** The transaction id of every BEP 5 example. */
export const AA = Buffer.from('aa', 'latin1');

/** The BEP 5 example ping query, its response and the generic error, as latin1 datagrams. */
export const PING_QUERY = 'd1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe';
export const PING_RESPONSE = 'd1:rd2:id20:mnopqrstuvwxyz123456e1:t2:aa1:y1:re';
export const GENERIC_ERROR = 'd1:eli201e23:A Generic Error Ocurrede1:t2:aa1:y1:ee';

/** A dictionary exactly as it would arrive: encoded, then decoded (Buffers, null-prototype dicts). */
export function asArrived(d: { readonly [key: string]: Encodable | undefined }): BencodeDict {
  return decode(encode(d)) as BencodeDict;
}

/** `n` bytes of `fill` (by default "a"). */
export const bytes = (n: number, fill = 0x61): Buffer => Buffer.alloc(n, fill);
