/**
 * One listener kept attached to whichever emitter a getter currently returns: `sync()` moves
 * it when the emitter changes (or appears late, as sources do during start-up), `close()`
 * detaches it so a closed server leaves nothing behind on a long-lived emitter.
 */

interface Emitter<E extends string, T> {
  on(event: E, listener: (e: T) => void): unknown;
  off(event: E, listener: (e: T) => void): unknown;
}

export class EventSubscription<E extends string, T> {
  private current: Emitter<E, T> | null = null;

  constructor(
    private readonly event: E,
    private readonly listener: (e: T) => void,
  ) {}

  sync(source: Emitter<E, T> | null | undefined): void {
    const next = source ?? null;
    if (next === this.current) return;
    this.current?.off(this.event, this.listener);
    this.current = next;
    next?.on(this.event, this.listener);
  }

  close(): void {
    this.sync(null);
  }
}
