import { type EventEmitter } from 'node:events';
import { type Clock, type TimerHandle } from '../bep5/clock.js';

/**
 * Whether Redis takes the discovery producer's adds: a state machine with three states.
 *
 * Redis is "down" when an add fails, or takes over deliveryTimeoutMs, or the client is not
 * ready for that long: a reconnect blip is not an outage. The crawl does not notice an outage
 * (the backlog holds the batches meanwhile, workers/delivery-backlog.ts). Every
 * redeliveryIntervalMs one add probes Redis; the first success ends the outage and the backlog
 * goes out oldest first. An outage is logged once, when it begins, and once when it ends, with
 * what it cost: the batches spooled and the events dropped since the previous recovery.
 */

export interface RedisHealthEvents {
  outage: [{ reason: string }];
  recovered: [{ downMs: number; spooledBatches: number; droppedEvents: number }];
}

/**
 * - up: adds go out. `grace` runs while the client is not ready and batches wait: if the client
 *   is still not ready when it fires, Redis is down.
 * - down since `since`: `retry` fires every redeliveryIntervalMs and probes.
 * - stopped: the producer closed; nothing changes any more, and `wasUp` is what it last knew.
 */
export type RedisHealthState =
  | { readonly kind: 'up'; readonly grace: TimerHandle | null }
  | { readonly kind: 'down'; readonly since: number; readonly retry: TimerHandle }
  | { readonly kind: 'stopped'; readonly wasUp: boolean };

export interface RedisHealthOptions {
  clock: Clock;
  deliveryTimeoutMs: number;
  redeliveryIntervalMs: number;
  /** Where batches go during an outage, for its log line. */
  spoolDir: string;
  log: (line: string) => void;
  /** Where 'outage' and 'recovered' are emitted (the producer, to its listeners). */
  events: Pick<EventEmitter<RedisHealthEvents>, 'emit'>;
  /** Whether the client is connected and ready for commands. */
  clientReady(): boolean;
  /** Adds whose promise has not settled. */
  inflight(): number;
  /**
   * Sends one add as a probe, or reads a batch back from the spool for the next retry to probe
   * with. False when there is nothing to deliver at all.
   */
  probe(): boolean;
  /** Starts adds: Redis is back, or the client became ready within the grace time. */
  resume(): void;
  /** The state changed: wakes whoever waits on it. */
  changed(): void;
}

export class RedisHealth {
  private state: RedisHealthState = { kind: 'up', grace: null };
  private outageCount = 0;
  /** Since the last recovery: the drop notice is logged once, the counts go into 'recovered'. */
  private dropNoticed = false;
  private spooledSince = 0;
  private droppedSince = 0;

  constructor(private readonly o: RedisHealthOptions) {}

  get up(): boolean {
    return this.state.kind === 'stopped' ? this.state.wasUp : this.state.kind === 'up';
  }

  /** Outages begun so far. */
  get outages(): number {
    return this.outageCount;
  }

  /** Not connected with work to do: down once that lasts deliveryTimeoutMs (a reconnect blip is not an outage). */
  notReady(): void {
    if (this.state.kind !== 'up' || this.state.grace !== null) return;
    const waiting = {
      kind: 'up',
      grace: this.o.clock.setTimeout(() => {
        if (this.state !== waiting) return;
        this.state = { kind: 'up', grace: null };
        if (this.o.clientReady()) this.o.resume();
        else this.down('not connected');
      }, this.o.deliveryTimeoutMs),
    } as const;
    this.state = waiting;
  }

  /** An add failed or timed out, or the client stayed not ready: the outage begins (nothing while down or stopped). */
  down(reason: string): void {
    const s = this.state;
    if (s.kind !== 'up') return;
    if (s.grace !== null) this.o.clock.clearTimeout(s.grace);
    this.state = { kind: 'down', since: this.o.clock.now(), retry: this.scheduleRetry() };
    this.outageCount++;
    this.o.log(`discoveries: Redis is unreachable (${reason}); holding batches in memory, then in ${this.o.spoolDir}`);
    this.o.events.emit('outage', { reason });
    this.o.changed();
  }

  /** Redis acknowledged an add: that ends an outage. */
  delivered(): void {
    if (this.state.kind === 'down') this.recover(this.state);
  }

  /** The client (re)connected: when up, adds go out; when down, the retry runs now rather than at its timer. */
  clientReady(): void {
    const s = this.state;
    if (s.kind === 'up') {
      if (s.grace !== null) this.o.clock.clearTimeout(s.grace);
      this.state = { kind: 'up', grace: null };
      this.o.resume();
    } else if (s.kind === 'down') {
      this.o.clock.clearTimeout(s.retry);
      this.retry();
    }
  }

  /** The producer closed: timers cleared, no transition any more. */
  stop(): void {
    const s = this.state;
    if (s.kind === 'stopped') return;
    const timer = s.kind === 'up' ? s.grace : s.retry;
    if (timer !== null) this.o.clock.clearTimeout(timer);
    this.state = { kind: 'stopped', wasUp: s.kind === 'up' };
  }

  // ---- what an outage cost, reported at recovery ----

  /** A batch went to the spool. */
  spooled(): void {
    this.spooledSince++;
  }

  /** Events were dropped; the first drop since the last recovery is logged. */
  dropped(events: number, reason: string): void {
    this.droppedSince += events;
    if (!this.dropNoticed) {
      this.dropNoticed = true;
      this.o.log(`discoveries: dropping discoveries: ${reason} (counted in droppedEvents; logged once per outage)`);
    }
  }

  /** Events counted as dropped reached Redis after all. */
  undropped(events: number): void {
    this.droppedSince = Math.max(0, this.droppedSince - events);
  }

  // ---- transitions ----

  private recover(s: Extract<RedisHealthState, { kind: 'down' }>): void {
    this.o.clock.clearTimeout(s.retry);
    this.state = { kind: 'up', grace: null };
    const downMs = Math.round(this.o.clock.now() - s.since);
    this.o.log(
      `discoveries: Redis is back after ${(downMs / 1000).toFixed(1)} s; ${this.spooledSince} batches were spooled, ${this.droppedSince} events dropped; delivering the backlog`,
    );
    this.o.events.emit('recovered', { downMs, spooledBatches: this.spooledSince, droppedEvents: this.droppedSince });
    // Counted from one recovery to the next: what spilled just before the outage was noticed belongs to it.
    this.spooledSince = 0;
    this.droppedSince = 0;
    this.dropNoticed = false;
    this.o.changed();
    this.o.resume();
  }

  private scheduleRetry(): TimerHandle {
    return this.o.clock.setTimeout(() => this.retry(), this.o.redeliveryIntervalMs);
  }

  /** While down: probe with one add when nothing is pending (a pending add that lands ends the outage by itself). */
  private retry(): void {
    const s = this.state;
    if (s.kind !== 'down') return;
    const next = { kind: 'down', since: s.since, retry: this.scheduleRetry() } as const;
    this.state = next;
    if (this.o.inflight() > 0 || !this.o.clientReady()) return;
    // Nothing to probe with: a ready client will do.
    if (!this.o.probe() && this.state === next) this.recover(next);
  }
}
