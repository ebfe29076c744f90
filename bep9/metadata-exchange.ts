import { EXTENDED_HANDSHAKE_ID, INFOHASH_BYTES, LOCAL_UT_METADATA_ID, MAX_REJECTS_SENT, MESSAGE_ID } from './constants.js';
import {
  MetadataSizeInvalidError,
  MetadataTooLargeError,
  PeerMetadataRejectedError,
  PeerNoMetadataExtensionError,
  PeerProtocolError,
} from './errors.js';
import { encodeExtendedHandshake, parseExtendedHandshake } from './extension-handshake.js';
import { type MetadataLimits } from './limits.js';
import { MetadataAssembler } from './metadata-assembler.js';
import { checkIgnoredMessage, encodeHandshake, type Handshake, WireReader, type WireHandler } from './peer-wire.js';
import { encodeMetadataReject, encodeMetadataRequest, parseUtMetadata, type UtMetadataMessage } from './ut-metadata.js';

/**
 * The protocol of one metadata connection, without any I/O (bytes in, bytes out), so it can
 * be driven by a socket, a test or a fuzzer alike:
 *
 *   us → handshake (extension bit)        peer → handshake (same infohash, extension bit)
 *   us → extended handshake {m: {ut_metadata}}
 *                                         peer → extended handshake {m: {ut_metadata}, metadata_size}
 *   us → request piece 0..n (a window)    peer → data piece i (+ total_size) ...
 *   all pieces in → SHA-1 must equal the infohash → done.
 *
 * Any violation throws a MetadataError from `receive` and the connection should be closed.
 * Other BEP 3 messages (bitfield, have, choke, ...) are checked for their size, counted and
 * ignored; we never send interested or request content.
 */

export type ExchangeState = 'handshake' | 'extended-handshake' | 'metadata' | 'done';

export interface ExchangeOptions {
  infohash: Buffer;
  peerId: Buffer;
  limits: MetadataLimits;
}

export class MetadataExchange implements WireHandler {
  private readonly reader: WireReader;
  private current: ExchangeState = 'handshake';
  private assembler: MetadataAssembler | undefined;
  private peerUtMetadataId = 0;
  private outgoing: Buffer[] = [];
  private rejectsSent = 0;
  private verified: Buffer | undefined;
  /** The peer's client name from its extended handshake (escaped), if it sent one. */
  client: string | undefined;
  /** Messages checked and ignored (bitfield, have, unknown extensions...). */
  ignoredMessages = 0;
  bytesReceived = 0;

  constructor(private readonly options: ExchangeOptions) {
    if (options.infohash.length !== INFOHASH_BYTES) throw new RangeError('infohash must be 20 bytes');
    this.reader = new WireReader(options.limits, this);
  }

  get state(): ExchangeState {
    return this.current;
  }

  /** The verified info dict once `state` is 'done'. */
  get metadata(): Buffer | undefined {
    return this.verified;
  }

  /** The metadata size the peer announced, once its extended handshake is in. */
  get metadataSize(): number | undefined {
    return this.assembler?.size;
  }

  /** Bytes held for this connection: one incomplete message plus the metadata pieces received. */
  get bufferedBytes(): number {
    return this.reader.bufferedBytes + (this.assembler?.bufferedBytes ?? 0);
  }

  /** Messages received after the handshake. */
  get messages(): number {
    return this.reader.messages;
  }

  /** What to send first, right after connecting: our handshake. */
  opening(): Buffer {
    return encodeHandshake(this.options.infohash, this.options.peerId);
  }

  /** Feeds bytes from the peer; returns what to send in answer (possibly nothing). Throws a MetadataError on a violation. */
  receive(chunk: Buffer): Buffer[] {
    this.bytesReceived += chunk.length;
    this.reader.push(chunk);
    const out = this.outgoing;
    this.outgoing = [];
    return out;
  }

  handshake(handshake: Handshake): void {
    if (!handshake.infohash.equals(this.options.infohash)) throw new PeerProtocolError('handshake-infohash-mismatch');
    if (!handshake.supportsExtensions) throw new PeerNoMetadataExtensionError('no-extension-protocol');
    this.current = 'extended-handshake';
    this.outgoing.push(encodeExtendedHandshake(LOCAL_UT_METADATA_ID));
  }

  keepAlive(): void {}

  message(id: number, payload: Buffer): void {
    if (id !== MESSAGE_ID.extended) {
      checkIgnoredMessage(id, payload.length);
      this.ignoredMessages++;
      return;
    }
    const extendedId = payload[0];
    if (extendedId === undefined) throw new PeerProtocolError('extended-message-empty');
    const body = payload.subarray(1);
    if (extendedId === EXTENDED_HANDSHAKE_ID && this.current === 'extended-handshake') this.extendedHandshake(body);
    else if (extendedId === LOCAL_UT_METADATA_ID && this.current === 'metadata') this.utMetadata(parseUtMetadata(body));
    // BEP 10 lets us ignore repeated handshakes; other ids are extensions we never offered.
    else this.ignoredMessages++;
  }

  private extendedHandshake(body: Buffer): void {
    const hs = parseExtendedHandshake(body);
    this.client = hs.client;
    if (hs.utMetadataId === 0) throw new PeerNoMetadataExtensionError('no-ut-metadata');
    const size = hs.metadataSize;
    if (size === undefined) throw new PeerNoMetadataExtensionError('no-metadata-size');
    if (size <= 0) throw new MetadataSizeInvalidError(String(size));
    if (size > this.options.limits.maxMetadataSize) throw new MetadataTooLargeError(size, this.options.limits.maxMetadataSize);
    this.peerUtMetadataId = hs.utMetadataId;
    this.assembler = new MetadataAssembler(size, this.options.limits.requestWindow);
    this.current = 'metadata';
    this.requestMore(this.assembler);
  }

  private utMetadata(msg: UtMetadataMessage): void {
    const assembler = this.assembler as MetadataAssembler;
    switch (msg.type) {
      case 'data':
        assembler.accept(msg.piece, msg.totalSize, msg.data);
        if (assembler.complete) this.finish(assembler);
        else this.requestMore(assembler);
        return;
      case 'reject':
        if (assembler.isOutstanding(msg.piece)) throw new PeerMetadataRejectedError(msg.piece);
        this.ignoredMessages++;
        return;
      case 'request':
        // BEP 9: we do not have the metadata, so we must reject; past a few, only count.
        if (this.rejectsSent < MAX_REJECTS_SENT) {
          this.rejectsSent++;
          this.outgoing.push(encodeMetadataReject(this.peerUtMetadataId, msg.piece));
        }
        this.ignoredMessages++;
        return;
      case 'unknown':
        this.ignoredMessages++;
        return;
    }
  }

  private requestMore(assembler: MetadataAssembler): void {
    for (const piece of assembler.takeRequests()) this.outgoing.push(encodeMetadataRequest(this.peerUtMetadataId, piece));
  }

  private finish(assembler: MetadataAssembler): void {
    this.verified = assembler.assemble(this.options.infohash);
    this.current = 'done';
    this.reader.stop();
  }
}
