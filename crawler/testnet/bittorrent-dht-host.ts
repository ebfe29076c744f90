/**
 * A child process hosting many bittorrent-dht 11.0.12 nodes (webtorrent's DHT: k-rpc 5.1.0
 * over k-rpc-socket 1.11.1), one instance per spec, each on its own 127.x.y.z:port with the
 * ID it was given. Forked and driven by foreign-host.ts over IPC; exits when the parent goes.
 * It lives outside test/ because the testnet (`dhtscope testnet`, `run --testnet`) runs it: it
 * is a foreign peer of a loopback network, never a decoder of bytes that dhtscope itself trusts.
 *
 * The implementation runs unmodified, with two guards around its dgram socket:
 * - incoming: datagrams that would crash or hang k-rpc-socket or bittorrent-dht's handlers
 *   are dropped before they reach it (see harmless(); toolchain notes, pitfall 16). One
 *   such datagram would otherwise take down every node in this process: a 70-byte get_peers
 *   whose info_hash is an integer kills a bittorrent-dht process (checked). Everything else,
 *   including all dhtscope sends, passes untouched. Every datagram is counted (by source)
 *   before the guard.
 * - outgoing: nothing leaves for an address outside 127.0.0.0/8 (counted as blocked). The
 *   nodes only ever learn loopback contacts, so this should never trigger.
 */
import DHT from 'bittorrent-dht';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import { type BencodeValue, tryDecode } from '../../bep5/bencode.js';
import { BencodeDecodeError } from '../../bep5/errors.js';
import { isDict } from '../../bep5/fields.js';

export interface HostedSpec {
  index: number;
  host: string;
  port: number;
  id: string;
}

export interface HostedContact {
  id: string;
  host: string;
  port: number;
}

export type HostRequest =
  | { rid: number; op: 'start'; specs: HostedSpec[] }
  | { rid: number; op: 'add_contacts'; contacts: Array<[index: number, contacts: HostedContact[]]> }
  | { rid: number; op: 'forget'; id: string }
  | { rid: number; op: 'received' }
  | { rid: number; op: 'reset_counts' }
  | { rid: number; op: 'table_sizes' }
  | { rid: number; op: 'tables' }
  | { rid: number; op: 'diagnostics' }
  | { rid: number; op: 'stop' };

export interface HostDiagnostics {
  /** Datagrams dropped by the incoming guard. */
  guarded: number;
  /** Sends refused by the outgoing guard (non-loopback destination). */
  blockedSends: number;
  /** 'error' / 'warning' events of the instance (k-rpc-socket warnings: unexpected transaction IDs and the like). */
  warnings: number;
  errors: string[];
}

export type HostReply =
  | { event: 'hello'; pid: number; version: string }
  | { rid: number; ok: true; result: unknown }
  | { rid: number; ok: false; error: string };

interface Hosted {
  spec: HostedSpec;
  dht: DHT;
  received: Map<string, number>;
  diagnostics: HostDiagnostics;
}

/** The installed version, as its package.json says. */
const VERSION = (JSON.parse(readFileSync(new URL('./package.json', import.meta.resolve('bittorrent-dht')), 'utf8')) as { version: string }).version;
const nodes: Hosted[] = [];
/** Exceptions that escaped the guard (a bug, or a datagram shape we did not foresee). */
const uncaught: string[] = [];

function isLoopback(host: unknown): host is string {
  return typeof host === 'string' && isIPv4(host) && host.startsWith('127.');
}

const isBytes = (v: BencodeValue | undefined): boolean => Buffer.isBuffer(v);

/**
 * False for exactly the datagrams that would hang or crash k-rpc-socket 1.11.1 or
 * bittorrent-dht 11.0.12 (each path checked against their source); everything else, however
 * odd, reaches the implementation as it would on the Internet.
 * - bencode 2 loops forever or runs out of memory on negative string lengths, and overflows
 *   the stack on deep nesting: anything our strict decoder rejects is dropped;
 * - k-rpc-socket calls r.id.equals() on a reply to a query sent with a node ID;
 * - bittorrent-dht calls info_hash/target.toString('hex'), k-bucket's closest(target),
 *   token.equals() and Buffer.concat([k, salt]) without checking their types.
 */
function harmless(datagram: Buffer): boolean {
  const v = tryDecode(datagram, { maxDepth: 16 });
  if (v instanceof BencodeDecodeError) return false;
  if (!isDict(v)) return true;
  if (isDict(v.r) && v.r.id !== undefined && !isBytes(v.r.id)) return false;
  if (isDict(v.a)) {
    for (const key of ['target', 'info_hash', 'token', 'k', 'sig', 'salt'] as const) if (v.a[key] !== undefined && !isBytes(v.a[key])) return false;
  }
  return true;
}

function guardedSocket(received: Map<string, number>, diagnostics: HostDiagnostics): Socket {
  const socket = createSocket('udp4');
  const emit = socket.emit.bind(socket) as (event: string | symbol, ...args: unknown[]) => boolean;
  socket.emit = ((event: string | symbol, ...args: unknown[]): boolean => {
    if (event === 'message') {
      const rinfo = args[1] as RemoteInfo;
      const source = `${rinfo.address}:${rinfo.port}`;
      received.set(source, (received.get(source) ?? 0) + 1);
      if (!harmless(args[0] as Buffer)) {
        diagnostics.guarded++;
        return false;
      }
    }
    return emit(event, ...args);
  }) as typeof socket.emit;
  const send = socket.send.bind(socket) as (...args: unknown[]) => void;
  socket.send = ((...args: unknown[]): void => {
    // k-rpc-socket calls send(buf, offset, length, port, address, cb).
    const address = args.length >= 5 ? args[4] : args[2];
    if (!isLoopback(address)) {
      diagnostics.blockedSends++;
      const cb = args[args.length - 1];
      if (typeof cb === 'function') process.nextTick(cb as (err: Error) => void, new Error(`blocked send to ${String(address)}`));
      return;
    }
    send(...args);
  }) as typeof socket.send;
  return socket;
}

async function start(specs: HostedSpec[]): Promise<{ nodes: Array<{ index: number; id: string }> }> {
  const started = await Promise.allSettled(specs.map((spec) => startOne(spec)));
  const failures = started.flatMap((r, i) => (r.status === 'rejected' ? [`node ${specs[i]!.index} (${specs[i]!.host}:${specs[i]!.port}): ${(r.reason as Error).message}`] : []));
  if (failures.length > 0) throw new Error(`cannot listen: ${failures.slice(0, 5).join('; ')}${failures.length > 5 ? ` and ${failures.length - 5} more` : ''}`);
  return { nodes: nodes.map((n) => ({ index: n.spec.index, id: n.dht.nodeId.toString('hex') })) };
}

function startOne(spec: HostedSpec): Promise<void> {
  const received = new Map<string, number>();
  const diagnostics: HostDiagnostics = { guarded: 0, blockedSends: 0, warnings: 0, errors: [] };
  // bootstrap: false, or it would query the public routers (k-rpc's defaults).
  const dht = new DHT({ bootstrap: false, nodeId: Buffer.from(spec.id, 'hex'), socket: guardedSocket(received, diagnostics) });
  nodes.push({ spec, dht, received, diagnostics });
  return new Promise<void>((resolve, reject) => {
    let listening = false;
    dht.on('warning', () => diagnostics.warnings++);
    dht.on('error', (err: Error) => {
      diagnostics.errors.push(err.message);
      if (!listening) reject(err);
    });
    // In the constructor's tick, so nothing can make the socket bind to 0.0.0.0 first.
    dht.listen(spec.port, spec.host, () => {
      listening = true;
      resolve();
    });
  });
}

function addContacts(contacts: Array<[number, HostedContact[]]>): Array<[number, number]> {
  const byIndex = new Map(nodes.map((n) => [n.spec.index, n]));
  return contacts.map(([index, list]) => {
    const node = byIndex.get(index);
    if (node === undefined) throw new Error(`no node ${index} here`);
    let present = 0;
    for (const c of list) {
      if (!isLoopback(c.host)) throw new Error(`contact ${c.host}:${c.port} is not on 127.0.0.0/8`);
      const id = Buffer.from(c.id, 'hex');
      // With an id, addNode puts the contact straight into the k-bucket (a full bucket makes
      // it ping the oldest members first, as k-bucket does).
      node.dht.addNode({ id, host: c.host, port: c.port });
      if (node.dht.nodes.get(id) !== null) present++;
    }
    return [index, present];
  });
}

function diagnostics(): Array<[number, HostDiagnostics & { id: string }]> {
  return nodes.map((n) => [n.spec.index, { ...n.diagnostics, id: n.dht.nodeId.toString('hex') }]);
}

async function stop(): Promise<void> {
  await Promise.all(nodes.map((n) => new Promise<void>((resolve) => n.dht.destroy(() => resolve()))));
}

function handle(req: HostRequest): unknown {
  switch (req.op) {
    case 'start':
      return start(req.specs);
    case 'add_contacts':
      return addContacts(req.contacts);
    case 'forget': {
      const id = Buffer.from(req.id, 'hex');
      for (const n of nodes) n.dht.removeNode(id);
      return null;
    }
    case 'received':
      return nodes.map((n) => [n.spec.index, Object.fromEntries(n.received)]);
    case 'reset_counts':
      for (const n of nodes) n.received.clear();
      return null;
    case 'table_sizes':
      return nodes.map((n) => [n.spec.index, n.dht.nodes.count()]);
    case 'tables':
      return nodes.map((n) => [n.spec.index, n.dht.nodes.toArray().map((c) => ({ id: Buffer.from(c.id).toString('hex'), host: c.host, port: c.port }))]);
    case 'diagnostics':
      return { nodes: diagnostics(), uncaught };
    case 'stop':
      return stop();
  }
}

function reply(message: HostReply): void {
  process.send?.(message);
}

process.on('message', (req: HostRequest) => {
  Promise.resolve()
    .then(() => handle(req))
    .then(
      (result) => {
        reply({ rid: req.rid, ok: true, result: result ?? null });
        if (req.op === 'stop') {
          process.disconnect?.();
          process.exit(0);
        }
      },
      (err: unknown) => reply({ rid: req.rid, ok: false, error: err instanceof Error ? err.message : String(err) }),
    );
});

// Last resort: an exception from inside one instance's handler must not take the other
// nodes down with it. Recorded, reported by 'diagnostics'.
process.on('uncaughtException', (err) => {
  if (uncaught.length < 100) uncaught.push(err.stack ?? err.message);
});

// The parent going away (crash, SIGKILL) must not leave hundreds of sockets behind.
process.on('disconnect', () => process.exit(0));

reply({ event: 'hello', pid: process.pid, version: VERSION });
