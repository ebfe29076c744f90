import { HISTORY_POINTS } from './config.js';
import { RingBuffer } from './ring-buffer.js';

/**
 * Series that exist only in the browser, accumulated from successive /api/stats answers:
 * rates are counter differences between two polls divided by the time between their `live.at`,
 * and the size estimate is sampled at each poll. Each series is a RingBuffer (bounded).
 */

/** A finite number, else null. */
export function num(value) {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

/** The node's socket counters summed over its address families: datagrams, and queries by method. */
export function socketTotals(node) {
  const families = node !== null && typeof node === 'object' ? node.families : null;
  if (families === null || typeof families !== 'object') return null;
  const totals = { datagramsIn: 0, datagramsOut: 0, queriesOut: {} };
  for (const family of Object.values(families)) {
    const socket = family?.socket;
    if (socket === null || typeof socket !== 'object') continue;
    totals.datagramsIn += num(socket.datagramsIn) ?? 0;
    totals.datagramsOut += num(socket.datagramsOut) ?? 0;
    for (const [method, count] of Object.entries(socket.queriesOut ?? {})) totals.queriesOut[method] = (totals.queriesOut[method] ?? 0) + (num(count) ?? 0);
  }
  return totals;
}

export class LiveHistory {
  constructor(capacity = HISTORY_POINTS) {
    /** t, nodes known, nodes answered, infohashes indexed */
    this.discovered = new RingBuffer(capacity, 4);
    /** t, datagrams in/s, datagrams out/s */
    this.rpc = new RingBuffer(capacity, 3);
    /** t, low, estimate, high (95% interval) */
    this.estimate = new RingBuffer(capacity, 4);
    /** t, events applied/s, peer lookups done/s */
    this.workers = new RingBuffer(capacity, 3);
    /** t, discovery jobs waiting, peer lookup jobs waiting */
    this.queues = new RingBuffer(capacity, 3);
    this.previous = null;
  }

  /**
   * Adds one /api/stats answer. Returns what was derived from it: rates per second (null on
   * the first poll, or when a counter went backwards, i.e. the server restarted) and the
   * queries sent per method with their rates.
   */
  add(stats) {
    const live = stats.live !== null && typeof stats.live === 'object' ? stats.live : null;
    const at = num(live?.at) ?? Date.now();
    const socket = socketTotals(live?.node);
    const workers = live?.workers !== null && typeof live?.workers === 'object' ? live.workers : null;
    const prev = this.previous !== null && at > this.previous.at ? this.previous : null;
    const seconds = prev === null ? 0 : (at - prev.at) / 1000;
    const rate = (now, before) => {
      const a = num(now);
      const b = num(before);
      return seconds > 0 && a !== null && b !== null && a >= b ? (a - b) / seconds : null;
    };

    const derived = {
      at,
      datagramsIn: rate(socket?.datagramsIn, prev?.socket?.datagramsIn),
      datagramsOut: rate(socket?.datagramsOut, prev?.socket?.datagramsOut),
      eventsApplied: rate(workers?.eventsApplied, prev?.workers?.eventsApplied),
      peerLookups: rate(workers?.peerLookupsDone, prev?.workers?.peerLookupsDone),
      queriesOut: Object.entries(socket?.queriesOut ?? {}).map(([method, total]) => ({ method, total, perSecond: rate(total, prev?.socket?.queriesOut?.[method] ?? 0) })),
    };

    const t = at / 1000;
    const crawl = live?.crawl ?? null;
    this.discovered.push([t, num(crawl?.known), num(crawl?.answered), num(stats.infohashes)]);
    if (live !== null) {
      const e = live.estimate ?? null;
      this.rpc.push([t, derived.datagramsIn, derived.datagramsOut]);
      this.estimate.push([t, num(e?.low), num(e?.estimate), num(e?.high)]);
      this.workers.push([t, derived.eventsApplied, derived.peerLookups]);
      this.queues.push([t, num(live.queues?.discoveries?.waiting), num(live.queues?.peerLookups?.waiting)]);
    }
    this.previous = { at, socket, workers };
    return derived;
  }
}
