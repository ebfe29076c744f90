import { createHash } from 'node:crypto';
import { METADATA_PIECE_BYTES } from './constants.js';
import { MetadataHashMismatchError, MetadataPieceInvalidError } from './errors.js';

/**
 * Collects the pieces of one peer's metadata (BEP 9): hands out piece indexes to request (at
 * most `window` outstanding), accepts each requested piece exactly once at exactly its size,
 * and assembles and verifies the result. Memory grows only with what the peer actually sent
 * (copies of accepted pieces), never with what it claimed, so a peer that announces the
 * maximum size and sends one piece costs one piece.
 */
export class MetadataAssembler {
  readonly pieceCount: number;
  private readonly pieces: (Buffer | undefined)[];
  private readonly outstanding = new Set<number>();
  private nextToRequest = 0;
  private received = 0;
  private receivedBytes = 0;

  constructor(
    readonly size: number,
    private readonly window: number,
  ) {
    this.pieceCount = Math.ceil(size / METADATA_PIECE_BYTES);
    this.pieces = new Array<Buffer | undefined>(this.pieceCount).fill(undefined);
  }

  get complete(): boolean {
    return this.received === this.pieceCount;
  }

  /** Bytes of metadata held (at most `size`). */
  get bufferedBytes(): number {
    return this.receivedBytes;
  }

  /** Piece indexes to request now, and marks them outstanding. */
  takeRequests(): number[] {
    const out: number[] = [];
    while (this.outstanding.size < this.window && this.nextToRequest < this.pieceCount) {
      this.outstanding.add(this.nextToRequest);
      out.push(this.nextToRequest++);
    }
    return out;
  }

  isOutstanding(piece: number): boolean {
    return this.outstanding.has(piece);
  }

  /** Accepts one data message; `data` is copied. Throws MetadataPieceInvalidError if it is not what we asked for. */
  accept(piece: number, totalSize: number | undefined, data: Buffer): void {
    if (!this.outstanding.has(piece)) throw new MetadataPieceInvalidError(piece, 'not requested');
    // BEP 9: total_size has the meaning of the handshake's metadata_size; a mismatch is a lie about one of them.
    if (totalSize !== this.size) throw new MetadataPieceInvalidError(piece, `total_size ${String(totalSize)} is not metadata_size ${this.size}`);
    const expected = this.pieceLength(piece);
    if (data.length !== expected) throw new MetadataPieceInvalidError(piece, `${data.length} bytes, expected ${expected}`);
    this.outstanding.delete(piece);
    this.pieces[piece] = Buffer.from(data);
    this.received++;
    this.receivedBytes += data.length;
  }

  /** The whole metadata once complete, verified: its SHA-1 must be `infohash`. */
  assemble(infohash: Buffer): Buffer {
    if (!this.complete) throw new Error('metadata not complete');
    const metadata = Buffer.concat(this.pieces as Buffer[], this.size);
    this.pieces.fill(undefined);
    const digest = createHash('sha1').update(metadata).digest();
    if (!digest.equals(infohash)) throw new MetadataHashMismatchError(infohash.toString('hex'), digest.toString('hex'));
    return metadata;
  }

  private pieceLength(piece: number): number {
    return piece === this.pieceCount - 1 ? this.size - piece * METADATA_PIECE_BYTES : METADATA_PIECE_BYTES;
  }
}
