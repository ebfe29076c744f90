import {
  EXTENSION_PROTOCOL_BIT,
  EXTENSION_PROTOCOL_BYTE,
  HANDSHAKE_BYTES,
  INFOHASH_BYTES,
  MESSAGE_ID,
  PEER_ID_BYTES,
  PEER_ID_PREFIX,
  PROTOCOL_STRING,
} from './constants.js';
import { PeerMessageTooLargeError, PeerProtocolError, PeerTooManyMessagesError } from './errors.js';
import { type RandomSource } from '../bep5/random.js';

/**
 * The BEP 3 peer wire, as far as fetching metadata needs it: the 68-byte handshake, then
 * messages framed as <uint32 length><id byte><payload>. WireReader turns a byte stream into
 * those events with a hard bound on memory: it holds at most one handshake or one message
 * (a 4-byte length prefix, then exactly `length` bytes, allocated once the prefix has been
 * checked against the limit), however the stream is split into chunks.
 */

const PROTOCOL = Buffer.from(PROTOCOL_STRING, 'latin1');
const LENGTH_PREFIX_BYTES = 4;

export interface Handshake {
  reserved: Buffer;
  infohash: Buffer;
  peerId: Buffer;
  /** BEP 10: reserved[5] & 0x10. */
  supportsExtensions: boolean;
}

/** Our handshake: only the extension protocol bit is set (we support nothing else). */
export function encodeHandshake(infohash: Uint8Array, peerId: Uint8Array): Buffer {
  if (infohash.length !== INFOHASH_BYTES || peerId.length !== PEER_ID_BYTES) {
    throw new RangeError('infohash and peer id must be 20 bytes');
  }
  const out = Buffer.alloc(HANDSHAKE_BYTES);
  out[0] = PROTOCOL.length;
  PROTOCOL.copy(out, 1);
  const reserved = 1 + PROTOCOL.length;
  out[reserved + EXTENSION_PROTOCOL_BYTE] = EXTENSION_PROTOCOL_BIT;
  out.set(infohash, reserved + 8);
  out.set(peerId, reserved + 8 + INFOHASH_BYTES);
  return out;
}

/** Parses exactly HANDSHAKE_BYTES bytes. The result's buffers are copies (the input may be reused). */
export function parseHandshake(bytes: Uint8Array): Handshake {
  if (bytes.length !== HANDSHAKE_BYTES) throw new PeerProtocolError('handshake-length');
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf[0] !== PROTOCOL.length || !buf.subarray(1, 1 + PROTOCOL.length).equals(PROTOCOL)) {
    // Also what an encrypted (MSE) or HTTP answer looks like: neither can carry ut_metadata for us.
    throw new PeerProtocolError('handshake-protocol-string');
  }
  const at = 1 + PROTOCOL.length;
  const reserved = Buffer.from(buf.subarray(at, at + 8));
  return {
    reserved,
    infohash: Buffer.from(buf.subarray(at + 8, at + 8 + INFOHASH_BYTES)),
    peerId: Buffer.from(buf.subarray(at + 8 + INFOHASH_BYTES, HANDSHAKE_BYTES)),
    supportsExtensions: ((reserved[EXTENSION_PROTOCOL_BYTE] as number) & EXTENSION_PROTOCOL_BIT) !== 0,
  };
}

/** A fresh peer id: our client prefix and 12 random bytes. */
export function makePeerId(random: RandomSource): Buffer {
  const prefix = Buffer.from(PEER_ID_PREFIX, 'latin1');
  return Buffer.concat([prefix, random.bytes(PEER_ID_BYTES - prefix.length)]);
}

/** One framed message: <length = 1 + payload><id><payload>. */
export function encodeMessage(id: number, payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(LENGTH_PREFIX_BYTES + 1 + payload.length);
  out.writeUInt32BE(1 + payload.length, 0);
  out[LENGTH_PREFIX_BYTES] = id;
  out.set(payload, LENGTH_PREFIX_BYTES + 1);
  return out;
}

/** Payload lengths fixed by BEP 3 (and BEP 5's port message), checked so a malformed one ends the connection. */
const FIXED_PAYLOAD_LENGTH = new Map<number, number>([
  [MESSAGE_ID.choke, 0],
  [MESSAGE_ID.unchoke, 0],
  [MESSAGE_ID.interested, 0],
  [MESSAGE_ID.notInterested, 0],
  [MESSAGE_ID.have, 4],
  [MESSAGE_ID.request, 12],
  [MESSAGE_ID.cancel, 12],
  [MESSAGE_ID.port, 2],
]);

/**
 * Checks a message we are going to ignore. We never request blocks, so a `piece` message is
 * always a violation; known fixed-size messages must have their size; unknown ids (other
 * extensions we did not negotiate, e.g. BEP 6 or BEP 52 messages) pass, bounded by the
 * framing limits.
 */
export function checkIgnoredMessage(id: number, payloadLength: number): void {
  if (id === MESSAGE_ID.piece) throw new PeerProtocolError('unrequested-piece-message');
  const fixed = FIXED_PAYLOAD_LENGTH.get(id);
  if (fixed !== undefined && fixed !== payloadLength) throw new PeerProtocolError(`bad-length-message-${id}`);
}

export interface WireLimits {
  /** Largest length prefix accepted (id byte included). */
  maxMessageLength: number;
  /** Messages accepted after the handshake, keep-alives included. */
  maxMessages: number;
}

export interface WireHandler {
  handshake(handshake: Handshake): void;
  /** `payload` may be a view into the socket's chunk: copy what must outlive the call. */
  message(id: number, payload: Buffer): void;
  keepAlive(): void;
}

/**
 * Incremental parser of one connection's incoming bytes. `push` delivers every complete event
 * to the handler synchronously and throws a MetadataError on a violation (the connection is
 * then useless: stop feeding it). `stop()` makes it drop the rest of the stream, e.g. once
 * the metadata is complete.
 */
export class WireReader {
  private handshakeBuf: Buffer | undefined = Buffer.alloc(HANDSHAKE_BYTES);
  private handshakeFilled = 0;
  private readonly prefix = Buffer.alloc(LENGTH_PREFIX_BYTES);
  private prefixFilled = 0;
  private body: Buffer | undefined;
  private bodyFilled = 0;
  private count = 0;
  private stopped = false;

  constructor(
    private readonly limits: WireLimits,
    private readonly handler: WireHandler,
  ) {}

  /** Messages seen after the handshake (keep-alives included). */
  get messages(): number {
    return this.count;
  }

  /** Bytes this reader holds for incomplete input: at most 4 + maxMessageLength (or 68 before the handshake). */
  get bufferedBytes(): number {
    if (this.handshakeBuf !== undefined) return this.handshakeFilled;
    return this.prefixFilled + (this.body?.length ?? 0);
  }

  stop(): void {
    this.stopped = true;
    this.handshakeBuf = undefined;
    this.body = undefined;
  }

  push(chunk: Buffer): void {
    let pos = 0;
    while (pos < chunk.length && !this.stopped) {
      if (this.handshakeBuf !== undefined) pos = this.readHandshake(chunk, pos);
      else if (this.body === undefined) pos = this.readPrefix(chunk, pos);
      else pos = this.readBody(chunk, pos);
    }
  }

  private readHandshake(chunk: Buffer, pos: number): number {
    const buf = this.handshakeBuf as Buffer;
    const n = Math.min(HANDSHAKE_BYTES - this.handshakeFilled, chunk.length - pos);
    chunk.copy(buf, this.handshakeFilled, pos, pos + n);
    this.handshakeFilled += n;
    if (this.handshakeFilled === HANDSHAKE_BYTES) {
      this.handshakeBuf = undefined;
      this.handler.handshake(parseHandshake(buf));
    }
    return pos + n;
  }

  private readPrefix(chunk: Buffer, pos: number): number {
    let length: number;
    if (this.prefixFilled === 0 && chunk.length - pos >= LENGTH_PREFIX_BYTES) {
      length = chunk.readUInt32BE(pos);
      pos += LENGTH_PREFIX_BYTES;
    } else {
      const n = Math.min(LENGTH_PREFIX_BYTES - this.prefixFilled, chunk.length - pos);
      chunk.copy(this.prefix, this.prefixFilled, pos, pos + n);
      this.prefixFilled += n;
      pos += n;
      if (this.prefixFilled < LENGTH_PREFIX_BYTES) return pos;
      this.prefixFilled = 0;
      length = this.prefix.readUInt32BE(0);
    }
    if (++this.count > this.limits.maxMessages) throw new PeerTooManyMessagesError(this.limits.maxMessages);
    if (length === 0) {
      this.handler.keepAlive();
      return pos;
    }
    if (length > this.limits.maxMessageLength) throw new PeerMessageTooLargeError(length, this.limits.maxMessageLength);
    if (chunk.length - pos >= length) {
      // The whole message is in this chunk: hand out a view, no copy.
      this.handler.message(chunk[pos] as number, chunk.subarray(pos + 1, pos + length));
      return pos + length;
    }
    this.body = Buffer.allocUnsafe(length);
    this.bodyFilled = 0;
    return pos;
  }

  private readBody(chunk: Buffer, pos: number): number {
    const body = this.body as Buffer;
    const n = Math.min(body.length - this.bodyFilled, chunk.length - pos);
    chunk.copy(body, this.bodyFilled, pos, pos + n);
    this.bodyFilled += n;
    if (this.bodyFilled === body.length) {
      this.body = undefined;
      this.handler.message(body[0] as number, body.subarray(1));
    }
    return pos + n;
  }
}
