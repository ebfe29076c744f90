import { type BencodeDict, type BencodeValue, type Encodable, encode } from './bencode.js';
import { decodePeer, encodePeer, type PeerAddress } from './compact.js';
import { CompactError, FieldError, MalformedMessageError } from './errors.js';
import { MAX_ERROR_MESSAGE_CHARS, MAX_INCOMING_TRANSACTION_ID_BYTES, MAX_VERSION_BYTES } from './constants.js';
import { getField, isDict, requireBytes, requireDict } from './fields.js';

/**
 * The KRPC envelope (BEP 5): `t`, `y` and the query / response / error body, plus the
 * top-level extras `v` (client version), `ip` (BEP 42: the address the sender sees us at)
 * and `ro` (BEP 43: read-only querier). Method-specific fields are checked in queries.ts and
 * replies.ts; this module only decides what kind of message a datagram is.
 */

interface Common {
  /** Transaction ID, echoed in the answer. A view into the datagram: copy to keep it. */
  t: Buffer;
  /** Client version, when present and a string (BEP 5 says "should"; not all send it). */
  v?: Buffer;
}

export interface IncomingQuery extends Common {
  y: 'q';
  /** The raw method name; may be one we do not know (answered with 204). */
  method: string;
  args: BencodeDict;
  /** BEP 43: the querier is read-only and must not enter routing tables. */
  readOnly: boolean;
}

export interface IncomingResponse extends Common {
  y: 'r';
  body: BencodeDict;
  /** BEP 42: our address as the responder saw it. */
  ip?: PeerAddress;
}

export interface IncomingError extends Common {
  y: 'e';
  code: number;
  message: string;
  ip?: PeerAddress;
}

export type IncomingMessage = IncomingQuery | IncomingResponse | IncomingError;

/** Top-level extras are informational: a malformed one is ignored, never fatal. */
function optionalVersion(msg: BencodeDict): Buffer | undefined {
  const v = getField(msg, 'v');
  return Buffer.isBuffer(v) && v.length <= MAX_VERSION_BYTES ? v : undefined;
}

function optionalAddress(msg: BencodeDict): PeerAddress | undefined {
  const ip = getField(msg, 'ip');
  if (!Buffer.isBuffer(ip)) return undefined;
  try {
    return decodePeer(ip);
  } catch (err) {
    if (err instanceof CompactError) return undefined;
    throw err;
  }
}

function errorBody(msg: BencodeDict): { code: number; message: string } {
  const e = getField(msg, 'e');
  if (!Array.isArray(e) || e.length < 1) throw new FieldError('e must be a list [code, message]');
  const [code, message] = e;
  if (typeof code !== 'number') throw new FieldError('error code must be an integer');
  // Deployed clients sometimes omit the message or send a non-string: keep the code anyway.
  const text = Buffer.isBuffer(message) ? truncate(message.subarray(0, MAX_ERROR_MESSAGE_CHARS * 4).toString('utf8')) : '';
  return { code, message: text };
}

/** Cuts to MAX_ERROR_MESSAGE_CHARS without leaving half a surrogate pair at the end. */
function truncate(text: string): string {
  if (text.length <= MAX_ERROR_MESSAGE_CHARS) return text;
  const cut = text.slice(0, MAX_ERROR_MESSAGE_CHARS);
  const last = cut.charCodeAt(cut.length - 1);
  return last >= 0xd800 && last <= 0xdbff ? cut.slice(0, -1) : cut;
}

/** Classifies a decoded datagram. Throws MalformedMessageError for anything unusable. */
export function parseMessage(value: BencodeValue): IncomingMessage {
  if (!isDict(value)) throw new MalformedMessageError('not a dictionary');
  let t: Buffer;
  try {
    t = requireBytes(value, 't', { min: 1, max: MAX_INCOMING_TRANSACTION_ID_BYTES });
  } catch (err) {
    throw new MalformedMessageError(err instanceof FieldError ? err.reason : String(err));
  }
  const y = getField(value, 'y');
  const kind = Buffer.isBuffer(y) && y.length === 1 ? String.fromCharCode(y[0]!) : undefined;
  const v = optionalVersion(value);
  try {
    switch (kind) {
      case 'q': {
        const q = requireBytes(value, 'q', { min: 1, max: 64 });
        const args = requireDict(value, 'a');
        const ro = getField(value, 'ro');
        return { y: 'q', t, v, method: q.toString('latin1'), args, readOnly: typeof ro === 'number' && ro !== 0 };
      }
      case 'r':
        return { y: 'r', t, v, body: requireDict(value, 'r'), ip: optionalAddress(value) };
      case 'e':
        return { y: 'e', t, v, ...errorBody(value), ip: optionalAddress(value) };
      default:
        throw new MalformedMessageError('y must be "q", "r" or "e"');
    }
  } catch (err) {
    if (err instanceof FieldError) throw new MalformedMessageError(err.reason, kind === 'q' ? t : undefined);
    throw err;
  }
}

export interface OutgoingExtras {
  v?: Buffer;
  /** BEP 43: mark our queries read-only. */
  readOnly?: boolean;
  /** BEP 42: the address we see the recipient at, on responses and errors. */
  ip?: PeerAddress;
}

export function encodeQueryMessage(t: Buffer, method: string, args: Encodable, extras: OutgoingExtras = {}): Buffer {
  return encode({ t, y: 'q', q: method, a: args, v: extras.v, ro: extras.readOnly ? 1 : undefined });
}

export function encodeResponseMessage(t: Buffer, r: Encodable, extras: OutgoingExtras = {}): Buffer {
  return encode({ t, y: 'r', r, v: extras.v, ip: extras.ip && encodePeer(extras.ip) });
}

export function encodeErrorMessage(t: Buffer, code: number, message: string, extras: OutgoingExtras = {}): Buffer {
  return encode({ t, y: 'e', e: [code, message], v: extras.v, ip: extras.ip && encodePeer(extras.ip) });
}
