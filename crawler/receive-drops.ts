import { readFileSync } from 'node:fs';
import { type Clock, systemClock } from '../bep5/clock.js';

/**
 * UDP datagrams this host's kernel dropped so far for want of room in a socket's receive
 * buffer (RcvbufErrors in /proc/net/snmp and Udp6RcvbufErrors in /proc/net/snmp6), or null
 * where those files do not exist (not Linux). Host-wide: other processes' drops count too,
 * which only ever makes a crawler more careful.
 */
export function hostReceiveDrops(): number | null {
  let total: number | null = null;
  try {
    const lines = readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Udp:'));
    const names = lines[0]?.trim().split(/\s+/) ?? [];
    const values = lines[1]?.trim().split(/\s+/) ?? [];
    const at = names.indexOf('RcvbufErrors');
    const value = Number(values[at]);
    if (at > 0 && Number.isSafeInteger(value)) total = value;
  } catch {
    return null;
  }
  try {
    const match = /^Udp6RcvbufErrors\s+(\d+)$/m.exec(readFileSync('/proc/net/snmp6', 'utf8'));
    if (match !== null && total !== null) total += Number(match[1]);
  } catch {
    // No IPv6 counters: the IPv4 ones stand alone.
  }
  return total;
}

/** How often the crawler reads the counter: it asks at every timeout, thousands a second. */
export const RECEIVE_DROPS_READ_MS = 100;

/** A counter read at most every `everyMs`; 0 when it cannot be read. */
export class CachedCounter {
  private value = 0;
  private readAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly read: () => number | null,
    private readonly clock: Clock = systemClock,
    private readonly everyMs = RECEIVE_DROPS_READ_MS,
  ) {}

  now(): number {
    const t = this.clock.now();
    if (t - this.readAt >= this.everyMs) {
      this.readAt = t;
      this.value = this.read() ?? 0;
    }
    return this.value;
  }
}
