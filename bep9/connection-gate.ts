import { systemClock, type Clock, type TimerHandle } from '../bep5/clock.js';
import { RateBudget, TokenBucketLimiter } from '../bep5/rate-limit.js';
import {
  DEFAULT_CONNECT_BURST,
  DEFAULT_CONNECTS_PER_SECOND,
  DEFAULT_IP_ATTEMPT_BURST,
  DEFAULT_IP_ATTEMPTS_PER_MINUTE,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_CONNECTIONS_PER_IP,
  DEFAULT_MAX_TRACKED_IPS,
} from './constants.js';
import { MetadataAbortError, PeerIpLimitError } from './errors.js';
import { positiveInteger } from './limits.js';

/**
 * Process-wide limits on outgoing peer connections, shared by every fetch, so that many
 * concurrent fetches never overrun a home router's connection table (or our memory):
 *
 * - at most `maxConnections` open at once, and `maxConnectionsPerIp` to one IP;
 * - new connections paced at `connectsPerSecond` (burst `connectBurst`), because a router keeps
 *   an entry for a while after each one closes;
 * - `ipAttemptsPerMinute` attempts per IP (burst `ipAttemptBurst`); past it, `acquire` fails
 *   at once with PeerIpLimitError rather than waiting, so a fetch moves on to other peers.
 *
 * Waiters are served in arrival order, except that one waiting for a busy IP does not hold up
 * those behind it. One timer serves all waiters while the pace is the limit.
 */

export interface ConnectionGateOptions {
  maxConnections?: number;
  maxConnectionsPerIp?: number;
  connectsPerSecond?: number;
  connectBurst?: number;
  ipAttemptsPerMinute?: number;
  ipAttemptBurst?: number;
  /** IPs whose attempt budget is remembered (least recently used forgotten first). */
  maxTrackedIps?: number;
  clock?: Clock;
}

/** Gives the slot back; calling it more than once does nothing. */
export type ReleaseConnection = () => void;

interface Waiter {
  ip: string;
  resolve: (release: ReleaseConnection) => void;
  /** Stops listening for the caller's abort (once granted). */
  unlisten: () => void;
}

export class ConnectionGate {
  private readonly maxConnections: number;
  private readonly maxPerIp: number;
  private readonly pace: RateBudget;
  private readonly ipAttempts: TokenBucketLimiter;
  private readonly clock: Clock;
  private readonly openPerIp = new Map<string, number>();
  private readonly waiters: Waiter[] = [];
  private open = 0;
  private timer: TimerHandle | undefined;

  constructor(options: ConnectionGateOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.maxConnections = positiveInteger('maxConnections', options.maxConnections ?? DEFAULT_MAX_CONNECTIONS);
    this.maxPerIp = positiveInteger('maxConnectionsPerIp', options.maxConnectionsPerIp ?? DEFAULT_MAX_CONNECTIONS_PER_IP);
    const connectsPerSecond = options.connectsPerSecond ?? DEFAULT_CONNECTS_PER_SECOND;
    // Zero would strand every waiter once the burst is spent.
    if (!(connectsPerSecond > 0)) throw new RangeError(`connectsPerSecond must be > 0, got ${String(connectsPerSecond)}`);
    this.pace = new RateBudget({
      ratePerSecond: connectsPerSecond,
      burst: positiveInteger('connectBurst', options.connectBurst ?? DEFAULT_CONNECT_BURST),
      clock: this.clock,
    });
    this.ipAttempts = new TokenBucketLimiter({
      ratePerSecond: (options.ipAttemptsPerMinute ?? DEFAULT_IP_ATTEMPTS_PER_MINUTE) / 60,
      burst: options.ipAttemptBurst ?? DEFAULT_IP_ATTEMPT_BURST,
      maxKeys: options.maxTrackedIps ?? DEFAULT_MAX_TRACKED_IPS,
      clock: this.clock,
    });
  }

  /** Connections open now (granted and not yet released). */
  get active(): number {
    return this.open;
  }

  get waiting(): number {
    return this.waiters.length;
  }

  /**
   * Resolves with a release function once a connection to `ip` (canonical form) may be
   * opened. Rejects at once with PeerIpLimitError if this IP's attempt budget is spent, or
   * with MetadataAbortError if `signal` fires first.
   */
  acquire(ip: string, signal?: AbortSignal): Promise<ReleaseConnection> {
    if (signal?.aborted) return Promise.reject(new MetadataAbortError(signal.reason));
    if (!this.ipAttempts.take(ip)) return Promise.reject(new PeerIpLimitError('process'));
    return new Promise((resolve, reject) => {
      const leave = (): void => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new MetadataAbortError(signal?.reason));
      };
      signal?.addEventListener('abort', leave, { once: true });
      const waiter: Waiter = { ip, resolve, unlisten: () => signal?.removeEventListener('abort', leave) };
      this.waiters.push(waiter);
      this.pump();
    });
  }

  private pump(): void {
    let i = 0;
    while (i < this.waiters.length && this.open < this.maxConnections) {
      const waiter = this.waiters[i] as Waiter;
      if ((this.openPerIp.get(waiter.ip) ?? 0) >= this.maxPerIp) {
        i++;
        continue;
      }
      if (!this.pace.take()) {
        this.wakeWhenPaced();
        return;
      }
      this.waiters.splice(i, 1);
      this.grant(waiter);
    }
  }

  private grant(waiter: Waiter): void {
    waiter.unlisten();
    this.open++;
    this.openPerIp.set(waiter.ip, (this.openPerIp.get(waiter.ip) ?? 0) + 1);
    let released = false;
    waiter.resolve(() => {
      if (released) return;
      released = true;
      this.open--;
      const left = (this.openPerIp.get(waiter.ip) ?? 1) - 1;
      if (left === 0) this.openPerIp.delete(waiter.ip);
      else this.openPerIp.set(waiter.ip, left);
      this.pump();
    });
  }

  private wakeWhenPaced(): void {
    if (this.timer !== undefined) return;
    // Finite: the rate is positive and one connection costs 1 <= burst.
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      this.pump();
    }, this.pace.waitMs());
  }
}

let shared: ConnectionGate | undefined;

/** The gate every fetch uses unless given its own: one per process, with the defaults. */
export function sharedConnectionGate(): ConnectionGate {
  shared ??= new ConnectionGate();
  return shared;
}
