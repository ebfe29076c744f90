import { connect as netConnect, type Socket } from 'node:net';
import { systemClock, type Clock, type TimerHandle } from '../bep5/clock.js';
import { type PeerAddress } from '../bep5/compact.js';
import { normalizeHost } from '../bep5/ip.js';
import { cryptoRandom, type RandomSource } from '../bep5/random.js';
import { INFOHASH_BYTES } from './constants.js';
import {
  MetadataAbortError,
  PeerAddressError,
  PeerClosedError,
  PeerConnectError,
  PeerTimeoutError,
} from './errors.js';
import { type InfoSummary } from './info-dictionary.js';
import { InfoDictionaryParser } from './info-dictionary-parser.js';
import { resolveLimits, type MetadataLimits } from './limits.js';
import { MetadataExchange } from './metadata-exchange.js';
import { makePeerId } from './peer-wire.js';

/**
 * One TCP connection to one peer: connect, run the MetadataExchange (handshakes, ut_metadata
 * pieces, SHA-1 check), then decode the info dict. Every wait has a limit (connect, handshakes,
 * whole connection); every way out closes the socket and clears every timer.
 */

/** Opens a TCP connection; injectable so tests and benches can shape or count sockets. */
export type ConnectFn = (peer: PeerAddress) => Socket;

export const tcpConnect: ConnectFn = (peer) => netConnect({ host: peer.host, port: peer.port, noDelay: true });

export interface FetchFromPeerOptions {
  signal?: AbortSignal;
  /** Overrides of DEFAULT_LIMITS (constants.ts has each default and its reason). */
  limits?: Partial<MetadataLimits>;
  connect?: ConnectFn;
  clock?: Clock;
  /** For our peer id. */
  random?: RandomSource;
  /** Parses the verified info dict (default: the process's shared one, which moves big dicts off the event loop). */
  infoParser?: InfoDictionaryParser;
}

/** One per process: its worker thread is started only for a big dict, and exits when idle. */
export const sharedInfoParser = new InfoDictionaryParser();

export interface PeerFetchResult {
  /** The raw bencoded info dict; its SHA-1 is the infohash. */
  info: Buffer;
  parsed: InfoSummary;
  /** `ip:port` or `[ipv6]:port`. */
  peer: string;
  /** The peer's client name (`v` of its extended handshake), escaped; undefined if it sent none. */
  client: string | undefined;
  durationMs: number;
  bytesReceived: number;
}

/** `ip:port`, with brackets around IPv6. */
export function formatPeer(peer: PeerAddress): string {
  return peer.host.includes(':') ? `[${peer.host}]:${peer.port}` : `${peer.host}:${peer.port}`;
}

/** The address with its host in canonical form; PeerAddressError unless an IP literal and a port 1..65535. */
export function checkPeerAddress(peer: PeerAddress): PeerAddress {
  const host = typeof peer.host === 'string' ? normalizeHost(peer.host) : undefined;
  if (host === undefined) throw new PeerAddressError('not an IP address');
  if (!Number.isInteger(peer.port) || peer.port < 1 || peer.port > 65_535) throw new PeerAddressError('bad port');
  return { host, port: peer.port };
}

export function checkInfohash(infohash: Buffer): void {
  if (!Buffer.isBuffer(infohash) || infohash.length !== INFOHASH_BYTES) throw new TypeError('infohash must be a 20-byte Buffer');
}

/**
 * Fetches the info dict of `infohash` from one peer. Resolves only with metadata whose SHA-1
 * is the infohash and that decodes as an info dict; otherwise rejects with a MetadataError
 * (errors.ts) saying why, or MetadataAbortError if `signal` fires.
 */
export async function fetchFromPeer(infohash: Buffer, peer: PeerAddress, options: FetchFromPeerOptions = {}): Promise<PeerFetchResult> {
  checkInfohash(infohash);
  const limits = resolveLimits(options.limits);
  const address = checkPeerAddress(peer);
  const clock = options.clock ?? systemClock;
  const started = clock.now();
  const exchange = new MetadataExchange({ infohash, peerId: makePeerId(options.random ?? cryptoRandom), limits });
  const info = await runConnection(exchange, address, limits, clock, options);
  const parsed = await (options.infoParser ?? sharedInfoParser).parse(info, { maxListedFiles: limits.maxListedFiles });
  return {
    info,
    parsed,
    peer: formatPeer(address),
    client: exchange.client,
    durationMs: clock.now() - started,
    bytesReceived: exchange.bytesReceived,
  };
}

function runConnection(
  exchange: MetadataExchange,
  peer: PeerAddress,
  limits: MetadataLimits,
  clock: Clock,
  options: FetchFromPeerOptions,
): Promise<Buffer> {
  const signal = options.signal;
  if (signal?.aborted) return Promise.reject(new MetadataAbortError(signal.reason));
  return new Promise<Buffer>((resolve, reject) => {
    let socket: Socket;
    try {
      socket = (options.connect ?? tcpConnect)(peer);
    } catch (err) {
      reject(new PeerConnectError(err));
      return;
    }
    let settled = false;
    let connected = false;
    let handshakeTimer: TimerHandle | undefined;
    const settle = (err: Error | undefined, info?: Buffer): void => {
      if (settled) return;
      settled = true;
      clock.clearTimeout(totalTimer);
      clock.clearTimeout(connectTimer);
      if (handshakeTimer !== undefined) clock.clearTimeout(handshakeTimer);
      signal?.removeEventListener('abort', onAbort);
      // The 'error' listener stays: a late error on a destroyed socket must not become uncaught.
      socket.destroy();
      if (err === undefined) resolve(info as Buffer);
      else reject(err);
    };
    const onAbort = (): void => settle(new MetadataAbortError(signal?.reason));
    const totalTimer = clock.setTimeout(() => settle(new PeerTimeoutError('total', limits.totalTimeoutMs)), limits.totalTimeoutMs);
    const connectTimer = clock.setTimeout(() => settle(new PeerTimeoutError('connect', limits.connectTimeoutMs)), limits.connectTimeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });

    socket.once('connect', () => {
      if (settled) return;
      connected = true;
      clock.clearTimeout(connectTimer);
      handshakeTimer = clock.setTimeout(
        () => settle(new PeerTimeoutError('handshake', limits.handshakeTimeoutMs)),
        limits.handshakeTimeoutMs,
      );
      socket.write(exchange.opening());
    });
    socket.on('data', (chunk: Buffer) => {
      if (settled) return;
      let answers: Buffer[];
      try {
        answers = exchange.receive(chunk);
      } catch (err) {
        settle(err as Error);
        return;
      }
      if (exchange.state === 'done') {
        settle(undefined, exchange.metadata);
        return;
      }
      if (exchange.state === 'metadata' && handshakeTimer !== undefined) {
        clock.clearTimeout(handshakeTimer);
        handshakeTimer = undefined;
      }
      for (const bytes of answers) socket.write(bytes);
    });
    socket.on('error', (err) => settle(connected ? new PeerClosedError(err) : new PeerConnectError(err)));
    socket.on('close', () => settle(new PeerClosedError()));
  });
}
