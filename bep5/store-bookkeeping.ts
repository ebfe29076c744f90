/**
 * What PeerStore and ItemStore share: entries kept in expiry order (a Map in insertion order,
 * re-inserted on refresh), dropped from the front; and per-source counts for their quotas.
 */

/** Removes the entries at the front of `entries` (in expiry order) whose time has come; returns how many. */
export function expireFront<E extends { expiresAt: number }>(entries: Map<string, E>, now: number, remove: (entry: E) => void): number {
  let removed = 0;
  for (const entry of entries.values()) {
    if (entry.expiresAt > now) break;
    remove(entry);
    removed++;
  }
  return removed;
}

/** How many entries each source holds (sources with none are not kept). */
export class SourceCounts {
  private readonly counts = new Map<string, number>();

  of(source: string): number {
    return this.counts.get(source) ?? 0;
  }

  add(source: string): void {
    this.counts.set(source, this.of(source) + 1);
  }

  remove(source: string): void {
    const left = this.of(source) - 1;
    if (left <= 0) this.counts.delete(source);
    else this.counts.set(source, left);
  }
}
