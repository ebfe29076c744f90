import { createHmac, timingSafeEqual } from 'node:crypto';
import { systemClock, type Clock } from './clock.js';
import { DEFAULT_TOKEN_ROTATE_MS, TOKEN_BYTES } from './constants.js';
import { parseIp, unmapIp } from './ip.js';
import { cryptoRandom, type RandomSource } from './random.js';
import { TokenError } from './errors.js';

/**
 * BEP 5 write tokens: what get_peers hands out and announce_peer must bring back, proving the
 * announcer can receive packets at the IP it announces from.
 *
 * token = first 8 bytes of HMAC-SHA256(secret, IP bytes)
 *
 * - The IP is its 4- or 16-byte form, an IPv4-mapped address reduced to IPv4 (a dual-stack
 *   socket's view of an IPv4 peer is the same peer). The port is not bound: BEP 5 checks the
 *   IP only, and NATs change source ports between queries.
 * - HMAC rather than BEP 5's plain SHA-1(IP + secret): the same cost, and a keyed MAC is what
 *   "only we can mint these" means. Truncation to 8 bytes (TOKEN_BYTES) keeps replies small;
 *   a forger without the secret still has 1 chance in 2^64 per guess.
 * - The secret rotates every `rotateMs` (5 min), lazily on the next issue/verify: no timers.
 *   Rotation keeps the schedule (the epoch advances by exactly `rotateMs`, however late it is
 *   noticed), so the current and the previous secret together accept a token for 5 to 10
 *   minutes after issue, never longer. After 2 × rotateMs without use, every outstanding
 *   token is past its lifetime: a fresh secret starts a new epoch and the previous is dropped.
 * - Comparison is constant-time, after a (public) length check.
 */

export interface TokenIssuerOptions {
  clock?: Clock;
  random?: RandomSource;
  /** How often the secret changes, in ms; tokens are accepted for 1 to 2 times this. Default 5 min. */
  rotateMs?: number;
}

/** HMAC-SHA256 keys as long as the hash output (RFC 2104's recommended minimum). */
const SECRET_BYTES = 32;

export class TokenIssuer {
  /** Length of every token issued (and the only length verify accepts). */
  readonly tokenLength = TOKEN_BYTES;
  private readonly clock: Clock;
  private readonly random: RandomSource;
  private readonly rotateMs: number;
  private current: Buffer;
  private previous: Buffer | undefined;
  /** When the current secret's epoch began. */
  private epochStart: number;

  /** Tokens issued under the current secret, by IP: one HMAC per IP per rotation (cleared on rotation; bounded). */
  private readonly issued = new Map<string, Buffer>();

  constructor(opts: TokenIssuerOptions = {}) {
    this.clock = opts.clock ?? systemClock;
    this.random = opts.random ?? cryptoRandom;
    this.rotateMs = opts.rotateMs ?? DEFAULT_TOKEN_ROTATE_MS;
    if (!Number.isFinite(this.rotateMs) || this.rotateMs <= 0) {
      throw new TokenError('bad-option', `rotateMs must be a positive number, got ${String(opts.rotateMs)}`);
    }
    this.current = this.random.bytes(SECRET_BYTES);
    this.epochStart = this.clock.now();
  }

  /** The token for `host` (an IP literal, as in rinfo.address). Throws TokenError on non-IP text. */
  issue(host: string): Buffer {
    const ip = ipBytes(host);
    if (ip === undefined) throw new TokenError('bad-host', `not an IP address: ${JSON.stringify(host)}`);
    this.rotate();
    const key = ip.toString('latin1');
    let token = this.issued.get(key);
    if (token === undefined) {
      token = tag(this.current, ip);
      if (this.issued.size >= 4096) this.issued.clear();
      this.issued.set(key, token);
    }
    return token;
  }

  /** Whether `token` was issued to `host`'s IP within the last 5–10 minutes. False for anything malformed. */
  verify(host: string, token: Uint8Array): boolean {
    const ip = ipBytes(host);
    if (ip === undefined || token.length !== TOKEN_BYTES) return false;
    this.rotate();
    if (timingSafeEqual(tag(this.current, ip), token)) return true;
    return this.previous !== undefined && timingSafeEqual(tag(this.previous, ip), token);
  }

  private rotate(): void {
    const elapsed = this.clock.now() - this.epochStart;
    if (!(elapsed >= this.rotateMs)) return;
    if (elapsed < 2 * this.rotateMs) {
      this.previous = this.current;
      this.epochStart += this.rotateMs;
    } else {
      this.previous = undefined;
      this.epochStart = this.clock.now();
    }
    this.current = this.random.bytes(SECRET_BYTES);
    this.issued.clear();
  }
}

function ipBytes(host: string): Buffer | undefined {
  const bytes = parseIp(host);
  return bytes === undefined ? undefined : unmapIp(bytes);
}

function tag(secret: Buffer, ip: Buffer): Buffer {
  return createHmac('sha256', secret).update(ip).digest().subarray(0, TOKEN_BYTES);
}
