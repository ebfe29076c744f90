import { decode, encode, type BencodeValue } from '../bep5/bencode.js';
import { BencodeDecodeError, FieldError } from '../bep5/errors.js';
import { isDict, requireInt, optionalInt } from '../bep5/fields.js';
import {
  MAX_METADATA_PIECE_INDEX,
  MAX_UT_METADATA_HEADER_BYTES,
  MAX_UT_METADATA_HEADER_DEPTH,
  MESSAGE_ID,
  UT_METADATA_MSG,
} from './constants.js';
import { PeerProtocolError } from './errors.js';
import { encodeMessage } from './peer-wire.js';

/**
 * BEP 9 ut_metadata messages. Each is an extended message (BEP 10) whose payload is a bencoded
 * dict — {msg_type, piece[, total_size]} — followed, for `data` only, by the piece's raw bytes.
 * The dict's end is found with a bounded scan, then the dict itself goes through the strict
 * decoder.
 */

export type UtMetadataMessage =
  | { type: 'request'; piece: number }
  | { type: 'data'; piece: number; totalSize: number | undefined; data: Buffer }
  | { type: 'reject'; piece: number }
  /** BEP 9: an unrecognised msg_type must be ignored. */
  | { type: 'unknown'; msgType: number };

/** A request for `piece`, framed, addressed with the peer's ut_metadata id. */
export function encodeMetadataRequest(peerUtMetadataId: number, piece: number): Buffer {
  return utMetadataMessage(peerUtMetadataId, { msg_type: UT_METADATA_MSG.request, piece });
}

/** A reject for `piece` (what BEP 9 requires of a peer without the metadata: us). */
export function encodeMetadataReject(peerUtMetadataId: number, piece: number): Buffer {
  return utMetadataMessage(peerUtMetadataId, { msg_type: UT_METADATA_MSG.reject, piece });
}

function utMetadataMessage(extendedId: number, dict: { msg_type: number; piece: number }): Buffer {
  return encodeMessage(MESSAGE_ID.extended, Buffer.concat([Buffer.from([extendedId]), encode(dict)]));
}

/**
 * Parses the payload of a ut_metadata message (after the extended id byte). `data` of a data
 * message is a view into `payload`: copy it to keep it.
 */
export function parseUtMetadata(payload: Buffer): UtMetadataMessage {
  const headerEnd = bencodedDictEnd(payload, Math.min(payload.length, MAX_UT_METADATA_HEADER_BYTES));
  let header: BencodeValue;
  try {
    header = decode(payload.subarray(0, headerEnd), { maxBytes: MAX_UT_METADATA_HEADER_BYTES, maxDepth: MAX_UT_METADATA_HEADER_DEPTH });
  } catch (err) {
    if (err instanceof BencodeDecodeError) throw new PeerProtocolError(`ut-metadata-bencode-${err.reason}`, err);
    throw err;
  }
  if (!isDict(header)) throw new PeerProtocolError('ut-metadata-not-a-dict');
  try {
    const msgType = requireInt(header, 'msg_type', { min: 0 });
    const rest = payload.length - headerEnd;
    if (msgType === UT_METADATA_MSG.data) {
      const piece = requireInt(header, 'piece', { min: 0, max: MAX_METADATA_PIECE_INDEX });
      const totalSize = optionalInt(header, 'total_size');
      return { type: 'data', piece, totalSize, data: payload.subarray(headerEnd) };
    }
    if (msgType === UT_METADATA_MSG.request || msgType === UT_METADATA_MSG.reject) {
      const piece = requireInt(header, 'piece', { min: 0, max: MAX_METADATA_PIECE_INDEX });
      if (rest !== 0) throw new PeerProtocolError('ut-metadata-trailing-bytes');
      return { type: msgType === UT_METADATA_MSG.request ? 'request' : 'reject', piece };
    }
    return { type: 'unknown', msgType };
  } catch (err) {
    if (err instanceof FieldError) throw new PeerProtocolError(`ut-metadata-field: ${err.reason}`, err);
    throw err;
  }
}

const CH_0 = 0x30;
const CH_9 = 0x39;
const CH_COLON = 0x3a;
const CH_D = 0x64;
const CH_E = 0x65;
const CH_I = 0x69;
const CH_L = 0x6c;

/**
 * Where the bencoded dict at the start of `buf` ends, looking at no more than `limit` bytes.
 * Only finds the boundary (the strict decoder checks the content), so it is deliberately loose
 * about what it skips; every step advances, so it is linear in `limit`.
 */
function bencodedDictEnd(buf: Buffer, limit: number): number {
  const view = buf.subarray(0, limit);
  if (view[0] !== CH_D) throw new PeerProtocolError('ut-metadata-header-not-a-dict');
  let depth = 0;
  let pos = 0;
  while (pos < view.length) {
    const c = view[pos] as number;
    if (c === CH_D || c === CH_L) {
      depth++;
      pos++;
    } else if (c === CH_E) {
      depth--;
      pos++;
      if (depth === 0) return pos;
    } else if (c === CH_I) {
      const end = view.indexOf(CH_E, pos + 1);
      if (end === -1) break;
      pos = end + 1;
    } else if (c >= CH_0 && c <= CH_9) {
      pos = skipString(view, pos);
    } else {
      throw new PeerProtocolError('ut-metadata-header-unexpected-byte');
    }
  }
  throw new PeerProtocolError(view.length < buf.length ? 'ut-metadata-header-too-long' : 'ut-metadata-header-truncated');
}

/** Past `<len>:<bytes>` at `pos`; may point beyond the view when the string does not fit. */
function skipString(view: Buffer, pos: number): number {
  let len = 0;
  let c = view[pos];
  while (c !== undefined && c >= CH_0 && c <= CH_9) {
    len = len * 10 + (c - CH_0);
    if (len > view.length) return view.length + 1;
    c = view[++pos];
  }
  if (c === undefined) return pos;
  if (c !== CH_COLON) throw new PeerProtocolError('ut-metadata-header-bad-string');
  return pos + 1 + len;
}
