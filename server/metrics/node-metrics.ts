import { Gauge, Histogram, type Registry } from 'prom-client';
import { KRPC_ERROR_CODE_LABELS, errorCodeLabel, type KrpcErrorCodeLabel } from '../../bep5/krpc-socket-types.js';
import { METHODS } from '../../bep5/queries.js';
import { METRICS_PREFIX as P, RPC_DURATION_BUCKETS } from './constants.js';
import { SnapshotCounter } from './snapshot-counter.js';
import { type NodeSnapshot, type RpcObservation } from './sources.js';

/**
 * The DHT node's metrics: KRPC traffic by direction and message type, errors by code, dropped
 * datagrams by reason, round trips by method, routing table and peer store sizes. Every label
 * value comes from a fixed list (families, methods, codes, drop reasons); anything a remote
 * could vary is mapped to "other" first.
 */

const FAMILIES: ReadonlySet<string> = new Set(['ipv4', 'ipv6']);
const METHOD_SET: ReadonlySet<string> = new Set(METHODS);

/** A method name as a label: one of the BEP 5/51/44 methods (queries.ts METHODS), or "other". */
export function methodLabel(method: string): string {
  return METHOD_SET.has(method) ? method : 'other';
}

/** Per-method totals as labels: known methods by name, the rest summed as "other". */
function byMethod(counts: Record<string, number>): Map<string, number> {
  const out = new Map<string, number>(METHODS.map((m) => [m, 0]));
  for (const [method, n] of Object.entries(counts)) {
    const label = methodLabel(method);
    out.set(label, (out.get(label) ?? 0) + n);
  }
  return out;
}

const sum = (r: Record<string | number, number | undefined>): number => Object.values(r).reduce<number>((a, b) => a + (b ?? 0), 0);

export class NodeMetrics {
  private readonly datagrams: SnapshotCounter<'family' | 'direction'>;
  private readonly bytes: SnapshotCounter<'family' | 'direction'>;
  private readonly messages: SnapshotCounter<'family' | 'direction' | 'type'>;
  private readonly queries: SnapshotCounter<'family' | 'direction' | 'method'>;
  private readonly errors: SnapshotCounter<'family' | 'direction' | 'code'>;
  private readonly dropped: SnapshotCounter<'family' | 'reason'>;
  private readonly timeouts: SnapshotCounter<'family'>;
  private readonly failures: SnapshotCounter<'family' | 'kind'>;
  private readonly rtt: Histogram<'family' | 'method'>;
  private readonly tableNodes: Gauge<'family'>;
  private readonly tableBuckets: Gauge<'family'>;
  private readonly storeInfohashes: Gauge;
  private readonly storePeers: Gauge;
  private readonly storeItems: Gauge;
  private readonly storeItemBytes: Gauge;

  constructor(registry: Registry) {
    const registers = [registry];
    this.datagrams = new SnapshotCounter(registry, `${P}krpc_datagrams_total`, 'UDP datagrams received (in) and sent (out) by the DHT node.', ['family', 'direction']);
    this.bytes = new SnapshotCounter(registry, `${P}krpc_bytes_total`, 'UDP payload bytes received (in) and sent (out) by the DHT node.', ['family', 'direction']);
    this.messages = new SnapshotCounter(
      registry,
      `${P}krpc_messages_total`,
      'Valid KRPC messages by direction and type (query, response, error); malformed and dropped datagrams are not counted here.',
      ['family', 'direction', 'type'],
    );
    this.queries = new SnapshotCounter(registry, `${P}krpc_queries_total`, 'KRPC queries received (in) and sent (out), by method.', ['family', 'direction', 'method']);
    this.errors = new SnapshotCounter(
      registry,
      `${P}krpc_errors_total`,
      'KRPC error messages received (in) and sent (out), by code: 201 generic, 202 server, 203 protocol, 204 method unknown, other.',
      ['family', 'direction', 'code'],
    );
    this.dropped = new SnapshotCounter(registry, `${P}krpc_dropped_datagrams_total`, 'Incoming datagrams dropped without being delivered, by reason.', ['family', 'reason']);
    this.timeouts = new SnapshotCounter(registry, `${P}krpc_timeouts_total`, 'Queries of ours that got no answer within the timeout.', ['family']);
    this.failures = new SnapshotCounter(
      registry,
      `${P}krpc_failures_total`,
      'Local failures: a query handler threw (handler), a send failed (send), a bug surfaced while handling a datagram (internal).',
      ['family', 'kind'],
    );
    this.rtt = new Histogram({
      name: `${P}krpc_rpc_duration_seconds`,
      help: 'Round trip of each query of ours that got a valid reply (the crawler included), by method.',
      labelNames: ['family', 'method'],
      buckets: RPC_DURATION_BUCKETS,
      registers,
    });
    this.tableNodes = new Gauge({ name: `${P}routing_table_nodes`, help: 'Nodes in the routing table.', labelNames: ['family'], registers });
    this.tableBuckets = new Gauge({ name: `${P}routing_table_buckets`, help: 'Buckets of the routing table.', labelNames: ['family'], registers });
    this.storeInfohashes = new Gauge({ name: `${P}peer_store_infohashes`, help: 'Infohashes with peers announced to this node.', registers });
    this.storePeers = new Gauge({ name: `${P}peer_store_peers`, help: 'Peers announced to this node and not yet expired.', registers });
    this.storeItems = new Gauge({ name: `${P}bep44_items`, help: 'BEP 44 items this node stores for others (immutable and mutable), not yet expired.', registers });
    this.storeItemBytes = new Gauge({ name: `${P}bep44_item_bytes`, help: 'Bytes of the BEP 44 items this node stores (what the item store counts against its byte bound).', registers });
  }

  observeRpc(e: RpcObservation): void {
    if (!Number.isFinite(e.rttMs) || e.rttMs < 0) return;
    const family = `ipv${e.family}`;
    if (!FAMILIES.has(family)) return;
    this.rtt.observe({ family, method: methodLabel(e.method) }, e.rttMs / 1000);
  }

  update(s: NodeSnapshot): void {
    for (const [family, f] of Object.entries(s.families)) {
      if (!FAMILIES.has(family)) continue;
      const k = f.socket;
      const inbound = { family, direction: 'in' };
      const outbound = { family, direction: 'out' };
      this.datagrams.set(k.datagramsIn, inbound);
      this.datagrams.set(k.datagramsOut, outbound);
      this.bytes.set(k.bytesIn, inbound);
      this.bytes.set(k.bytesOut, outbound);

      this.messages.set(sum(k.queriesIn), { ...inbound, type: 'query' });
      this.messages.set(k.repliesIn, { ...inbound, type: 'response' });
      this.messages.set(k.errorsIn, { ...inbound, type: 'error' });
      this.messages.set(sum(k.queriesOut), { ...outbound, type: 'query' });
      this.messages.set(k.repliesOut, { ...outbound, type: 'response' });
      this.messages.set(sum(k.errorsOut), { ...outbound, type: 'error' });

      for (const [method, n] of byMethod(k.queriesIn)) this.queries.set(n, { ...inbound, method });
      for (const [method, n] of byMethod(k.queriesOut)) this.queries.set(n, { ...outbound, method });

      const errorsOut = new Map<KrpcErrorCodeLabel, number>();
      for (const [code, n] of Object.entries(k.errorsOut)) {
        const label = errorCodeLabel(Number(code));
        errorsOut.set(label, (errorsOut.get(label) ?? 0) + n);
      }
      for (const code of [...KRPC_ERROR_CODE_LABELS, 'other' as const]) {
        this.errors.set(k.errorsInByCode[code] ?? 0, { ...inbound, code });
        this.errors.set(errorsOut.get(code) ?? 0, { ...outbound, code });
      }

      for (const [reason, n] of Object.entries(k.dropped)) this.dropped.set(n, { family, reason });
      this.timeouts.set(k.timeouts, { family });
      this.failures.set(k.handlerFailures, { family, kind: 'handler' });
      this.failures.set(k.sendFailures, { family, kind: 'send' });
      this.failures.set(k.internalErrors, { family, kind: 'internal' });

      this.tableNodes.set({ family }, f.tableSize);
      if (f.buckets !== undefined) this.tableBuckets.set({ family }, f.buckets);
    }
    if (s.store) {
      this.storeInfohashes.set(s.store.infohashes);
      this.storePeers.set(s.store.peers);
    }
    if (s.items) {
      this.storeItems.set(s.items.items);
      this.storeItemBytes.set(s.items.bytes);
    }
  }
}
