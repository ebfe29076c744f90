import { decode, encode, type BencodeValue } from '../bep5/bencode.js';
import { BencodeDecodeError } from '../bep5/errors.js';
import { getField, isDict } from '../bep5/fields.js';
import {
  EXTENDED_HANDSHAKE_ID,
  MAX_CLIENT_NAME_BYTES,
  MAX_EXTENDED_HANDSHAKE_DEPTH,
  MESSAGE_ID,
} from './constants.js';
import { displayText } from '../bep5/display-text.js';
import { MetadataSizeInvalidError, PeerProtocolError } from './errors.js';
import { encodeMessage } from './peer-wire.js';

/**
 * BEP 10 extended handshake: what we send (ut_metadata only) and what we read from the
 * peer's (its ut_metadata id, metadata_size, client name). Unknown keys are ignored, as BEP 10
 * asks; the fields we use must have the right type or the handshake is a violation.
 */

export interface ExtendedHandshake {
  /** The id to put on ut_metadata messages we send this peer; 0 if it does not support (or disabled) it. */
  utMetadataId: number;
  /** BEP 9 metadata_size as sent (checked against limits by the caller); undefined if absent. */
  metadataSize: number | undefined;
  /** The peer's `v`, escaped for display and cut to MAX_CLIENT_NAME_BYTES; undefined if absent. */
  client: string | undefined;
}

/** Our extended handshake, framed: `{m: {ut_metadata: localId}}` and nothing else. */
export function encodeExtendedHandshake(localUtMetadataId: number): Buffer {
  const dict = encode({ m: { ut_metadata: localUtMetadataId } });
  return encodeMessage(MESSAGE_ID.extended, Buffer.concat([Buffer.from([EXTENDED_HANDSHAKE_ID]), dict]));
}

/** Parses the payload of an extended handshake (after the extended id byte). */
export function parseExtendedHandshake(payload: Buffer): ExtendedHandshake {
  let value: BencodeValue;
  try {
    value = decode(payload, { maxBytes: payload.length, maxDepth: MAX_EXTENDED_HANDSHAKE_DEPTH });
  } catch (err) {
    if (err instanceof BencodeDecodeError) throw new PeerProtocolError(`extended-handshake-bencode-${err.reason}`, err);
    throw err;
  }
  if (!isDict(value)) throw new PeerProtocolError('extended-handshake-not-a-dict');
  return {
    utMetadataId: readUtMetadataId(getField(value, 'm')),
    metadataSize: readMetadataSize(getField(value, 'metadata_size')),
    client: readClient(getField(value, 'v')),
  };
}

function readUtMetadataId(m: BencodeValue | undefined): number {
  if (m === undefined) return 0;
  if (!isDict(m)) throw new PeerProtocolError('extended-handshake-m-not-a-dict');
  const id = getField(m, 'ut_metadata');
  if (id === undefined) return 0;
  // BEP 10: the id goes in one byte; 0 means disabled.
  if (typeof id !== 'number' || id < 0 || id > 255) throw new PeerProtocolError('extended-handshake-bad-ut-metadata-id');
  return id;
}

function readMetadataSize(size: BencodeValue | undefined): number | undefined {
  if (size === undefined) return undefined;
  if (typeof size !== 'number') throw new MetadataSizeInvalidError('not an integer');
  return size;
}

function readClient(v: BencodeValue | undefined): string | undefined {
  if (!Buffer.isBuffer(v)) return undefined;
  return displayText(v.subarray(0, MAX_CLIENT_NAME_BYTES));
}
