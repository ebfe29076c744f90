import { setMaxListeners } from 'node:events';
import { systemClock } from '../bep5/clock.js';
import { type PeerAddress } from '../bep5/compact.js';
import { bogonReason } from '../bep5/ip.js';
import { ConnectionGate, sharedConnectionGate, type ReleaseConnection } from './connection-gate.js';
import {
  DEFAULT_MAX_ATTEMPTS_PER_IP_PER_FETCH,
  DEFAULT_MAX_PEERS_PER_FETCH,
  DEFAULT_PEERS_AT_ONCE,
  MAX_PEER_LABEL_CHARS,
} from './constants.js';
import {
  MetadataAbortError,
  MetadataError,
  MetadataFetchError,
  MetadataInvalidError,
  PeerAddressError,
  PeerIpLimitError,
  type PeerAttempt,
} from './errors.js';
import {
  checkInfohash,
  checkPeerAddress,
  fetchFromPeer,
  formatPeer,
  type FetchFromPeerOptions,
  type PeerFetchResult,
} from './fetch-from-peer.js';
import { type InfoSummary } from './info-dictionary.js';
import { positiveInteger, resolveLimits } from './limits.js';
import { displayText } from '../bep5/display-text.js';

/**
 * Fetches an infohash's metadata from its peers: a few at a time (`peersAtOnce`), each through
 * the process-wide ConnectionGate, until one delivers verified metadata; then the others are
 * aborted and closed before the call returns. Peers are tried in the order given, after
 * dropping invalid, non-public (unless `allowPrivate`) and duplicate addresses and capping
 * connections per IP and peers per fetch.
 */

export interface FetchMetadataOptions extends FetchFromPeerOptions {
  /** Process-wide limits; default: sharedConnectionGate(). */
  gate?: ConnectionGate;
  /** Peers connected at once for this infohash. */
  peersAtOnce?: number;
  /** Peers tried at most; the rest of the list is not looked at. */
  maxPeers?: number;
  /** Peers with the same IP tried at most (different ports). */
  maxAttemptsPerIp?: number;
  /**
   * Connect to loopback, private, link-local and other non-public addresses too. Off by
   * default: a peer list from the DHT is untrusted, and must not point us at the LAN.
   */
  allowPrivate?: boolean;
}

export interface FetchMetadataResult {
  /** The raw bencoded info dict; its SHA-1 is the infohash. */
  info: Buffer;
  parsed: InfoSummary;
  /** The peer that delivered it, `ip:port` or `[ipv6]:port`. */
  peer: string;
  /** That peer's client name (escaped), if it sent one. */
  client: string | undefined;
  /** Every peer tried or skipped, in the order they ended; the last 'OK' one delivered. */
  attempts: PeerAttempt[];
}

/**
 * Resolves with the first verified metadata. Rejects with MetadataInvalidError if the
 * metadata matched the infohash but is not a valid info dict (no other peer can do better),
 * MetadataAbortError if `signal` fired, or MetadataFetchError (with every attempt) if no peer
 * delivered.
 */
export async function fetchMetadata(
  infohash: Buffer,
  peers: readonly PeerAddress[],
  options: FetchMetadataOptions = {},
): Promise<FetchMetadataResult> {
  checkInfohash(infohash);
  const limits = resolveLimits(options.limits);
  const peersAtOnce = positiveInteger('peersAtOnce', options.peersAtOnce ?? DEFAULT_PEERS_AT_ONCE);
  const gate = options.gate ?? sharedConnectionGate();
  const clock = options.clock ?? systemClock;
  if (options.signal?.aborted) throw new MetadataAbortError(options.signal.reason);
  const attempts: PeerAttempt[] = [];
  const queue = planPeers(peers, options, attempts);

  const stop = new AbortController();
  // Each worker listens on it twice at most (gate wait, connection): not a leak.
  setMaxListeners(2 * peersAtOnce + 1, stop.signal);
  const onCallerAbort = (): void => stop.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onCallerAbort, { once: true });

  let winner: PeerFetchResult | undefined;
  let fatal: unknown;
  const tryOne = async (peer: PeerAddress): Promise<void> => {
    const label = formatPeer(peer);
    let release: ReleaseConnection;
    try {
      release = await gate.acquire(peer.host, stop.signal);
    } catch (err) {
      if (!(err instanceof MetadataAbortError)) attempts.push(failed(label, err as MetadataError, 0));
      return;
    }
    const started = clock.now();
    try {
      const result = await fetchFromPeer(infohash, peer, { ...options, limits, signal: stop.signal });
      attempts.push({ peer: label, code: 'OK', message: 'metadata verified', durationMs: clock.now() - started });
      winner ??= result;
      stop.abort();
    } catch (err) {
      // Peers cut short because another delivered (or the caller aborted) are not failures of theirs.
      if (err instanceof MetadataAbortError) return;
      if (!(err instanceof MetadataError) || err instanceof MetadataInvalidError) {
        fatal ??= err;
        stop.abort();
      }
      if (err instanceof MetadataError) attempts.push(failed(label, err, clock.now() - started));
    } finally {
      release();
    }
  };
  const worker = async (): Promise<void> => {
    for (let peer = queue.shift(); peer !== undefined && !stop.signal.aborted; peer = queue.shift()) await tryOne(peer);
  };
  try {
    await Promise.all(Array.from({ length: Math.min(peersAtOnce, queue.length) }, worker));
  } finally {
    options.signal?.removeEventListener('abort', onCallerAbort);
  }

  if (winner !== undefined) {
    return { info: winner.info, parsed: winner.parsed, peer: winner.peer, client: winner.client, attempts };
  }
  if (fatal !== undefined) throw fatal;
  if (options.signal?.aborted) throw new MetadataAbortError(options.signal.reason);
  throw new MetadataFetchError(attempts);
}

/**
 * The peers to try, in order: valid, public (unless allowPrivate), distinct, at most
 * maxAttemptsPerIp per IP and maxPeers in all. Each one left out is recorded as an attempt,
 * up to maxPeers of them, so a huge hostile list costs bounded work and memory.
 */
function planPeers(peers: readonly PeerAddress[], options: FetchMetadataOptions, attempts: PeerAttempt[]): PeerAddress[] {
  const maxPeers = positiveInteger('maxPeers', options.maxPeers ?? DEFAULT_MAX_PEERS_PER_FETCH);
  const maxPerIp = positiveInteger('maxAttemptsPerIp', options.maxAttemptsPerIp ?? DEFAULT_MAX_ATTEMPTS_PER_IP_PER_FETCH);
  const planned: PeerAddress[] = [];
  const seen = new Set<string>();
  const perIp = new Map<string, number>();
  let skipped = 0;
  for (const candidate of peers) {
    if (planned.length >= maxPeers || skipped >= maxPeers) break;
    let peer: PeerAddress;
    try {
      peer = checkPeerAddress(candidate);
      const bogon = options.allowPrivate === true ? undefined : bogonReason(peer.host);
      if (bogon !== undefined) throw new PeerAddressError(`not a public address (${bogon})`);
      const key = formatPeer(peer);
      if (seen.has(key)) continue;
      seen.add(key);
      const n = perIp.get(peer.host) ?? 0;
      if (n >= maxPerIp) throw new PeerIpLimitError('fetch');
      perIp.set(peer.host, n + 1);
    } catch (err) {
      skipped++;
      attempts.push(failed(describe(candidate), err as MetadataError, 0));
      continue;
    }
    planned.push(peer);
  }
  return planned;
}

function failed(peer: string, err: MetadataError, durationMs: number): PeerAttempt {
  return { peer, code: err.code, message: err.message, durationMs };
}

/** A label for an address that may be invalid: cut and escaped, so nothing raw or huge is shown. */
function describe(peer: PeerAddress): string {
  const text = `${String(peer.host).slice(0, MAX_PEER_LABEL_CHARS)}:${String(peer.port).slice(0, MAX_PEER_LABEL_CHARS)}`;
  return displayText(Buffer.from(text, 'utf8'));
}
