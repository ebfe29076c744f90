import { type AddressScope, inAddressScope } from './address-scope.js';
import { type Clock } from './clock.js';
import { type PeerAddress, addressKey } from './compact.js';
import {
  VERIFY_QUERIER_AFTER_QUERIES,
  VERIFY_QUERIER_AT_ONCE_BELOW,
  VERIFY_QUERIER_AT_ONCE_NEAREST_BUCKETS,
  VERIFY_QUERIER_BUDGET_RESERVE,
  VERIFY_QUERIER_EVERY_MS,
  VERIFY_QUERIER_MAX_PENDING,
  VERIFY_QUERIER_MEMORY,
} from './constants.js';
import { type RateBudget } from './rate-limit.js';
import { type RoutingTable } from './routing-table.js';

/**
 * Decides which unknown queriers get a ping. A querier whose bucket has room is pinged; if it
 * answers, the node's answer path adds it (BEP 5: nodes enter only by answering us). Without
 * this, a node that is mostly queried, such as a bootstrap node, would never learn the nodes
 * that query it. A querier near us (or into a nearly empty bucket) is pinged on its first
 * query; a far one on its second, so passing lookups (and spoofed one-off queries) do not each
 * draw a packet. Each address is pinged at most once per 15 minutes, remembered in a bounded map.
 *
 * It also remembers which addresses answered a query of ours (such a ping, or any lookup
 * query): an answer to a random transaction ID proves the address is its sender's own, not a
 * spoofed one. BEP 44's reflection budget spares those (and routing-table contacts).
 */
export class QuerierVerifier {
  /** Address → queries seen and when we last pinged it; oldest first, at most VERIFY_QUERIER_MEMORY. */
  private readonly seen = new Map<string, { queries: number; pingedAt: number | undefined }>();
  /** Addresses that answered us, least recently first, at most VERIFY_QUERIER_MEMORY. */
  private readonly answered = new Set<string>();
  private pending = 0;

  constructor(private readonly o: { clock: Clock; budget: RateBudget; addressScope: AddressScope }) {}

  /** `from` answered a query of ours. */
  noteAnswer(from: PeerAddress): void {
    const key = addressKey(from);
    this.answered.delete(key);
    this.answered.add(key);
    if (this.answered.size > VERIFY_QUERIER_MEMORY) this.answered.delete(this.answered.values().next().value!);
  }

  /** Whether `from` answered a query of ours (among the last VERIFY_QUERIER_MEMORY addresses that did). */
  hasAnswered(from: PeerAddress): boolean {
    return this.answered.has(addressKey(from));
  }

  /** Called after we answered `from`'s query; `ping` sends the verification ping. */
  consider(table: RoutingTable, id: Buffer, from: PeerAddress, ping: () => Promise<unknown>): void {
    if (table.get(id) !== undefined || !table.hasRoomFor(id)) return;
    if (!inAddressScope(this.o.addressScope, from.host)) return;
    const key = addressKey(from);
    const now = this.o.clock.now();
    const seen = this.seen.get(key) ?? { queries: 0, pingedAt: undefined };
    seen.queries++;
    this.seen.delete(key);
    this.seen.set(key, seen);
    if (this.seen.size > VERIFY_QUERIER_MEMORY) this.seen.delete(this.seen.keys().next().value!);
    const atOnce = table.bucketsFromNearest(id) < VERIFY_QUERIER_AT_ONCE_NEAREST_BUCKETS || table.bucketFill(id) < VERIFY_QUERIER_AT_ONCE_BELOW;
    if (seen.queries < VERIFY_QUERIER_AFTER_QUERIES && !atOnce) return;
    if (seen.pingedAt !== undefined && now - seen.pingedAt < VERIFY_QUERIER_EVERY_MS) return;
    // Best effort: never queued behind our own queries, never more than a few at once, and
    // only while most of the outgoing budget is free, so spoofed queriers cannot starve us.
    if (this.pending >= VERIFY_QUERIER_MAX_PENDING || this.o.budget.available() < VERIFY_QUERIER_BUDGET_RESERVE) return;
    if (!this.o.budget.take()) return;
    seen.pingedAt = now;
    this.pending++;
    ping()
      .catch(() => undefined)
      .finally(() => this.pending--);
  }
}
