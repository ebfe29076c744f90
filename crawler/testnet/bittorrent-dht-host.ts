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
 *
 * BEP 44 (put/get of items) is bittorrent-dht's own: dht.put / dht.get, with ed25519 from
 * Node's crypto as its `verify` (without one it refuses every mutable put with error 400) and
 * as the `sign` of our mutable puts. What it does on the wire, read in client.js 11.0.12:
 * - it signs and verifies bencode({salt?, seq, v}) without the outer d…e, salt included when
 *   the salt is *truthy*: an empty Buffer would be signed as `4:salt0:` (against BEP 44), so
 *   empty salts are never passed to it; a storer receiving `salt: ''` refuses a correct
 *   signature the same way;
 * - a mutable put whose signature fails gets no reply at all (the putter sees a timeout);
 *   seq <= stored seq gets 302, even for the same value again; `cas` is honoured (301);
 *   an immutable or mutable put whose `v` is the integer 0 is dropped without a reply, and a
 *   get reply with `v: 0` is ignored;
 * - the putter keeps its own immutable items in its store (not its mutable ones), and a get
 *   reply from a node that holds the item carries no `nodes`; get ignores the `seq` argument;
 * - values are bencode 2/4 values: byte strings as Buffers, dict keys as UTF-8 strings (a
 *   key that is not UTF-8 cannot pass through it intact), integers as numbers.
 *
 * Why this file is over 400 lines: the BEP 44 operations need the same hosted instances, and
 * the guard above has to know what they make reachable (a put's `k`, `sig`, `salt`).
 */
import DHT from 'bittorrent-dht';
import { type KeyObject, createHash, createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import { type BencodeValue, type Encodable, encode, tryDecode } from '../../bep5/bencode.js';
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
  | ItemRequest
  | { rid: number; op: 'stop' };

/**
 * BEP 44 operations, the same for both hosts (libtorrent-host.py answers them too). Byte
 * strings are hex: `value` is a whole bencoded value, `seed` the 32-byte ed25519 seed.
 * Replies: put_* → ItemPutResult; get_immutable → value hex or null; get_mutable and stored →
 * ItemFound or null (null: nothing found within timeoutMs / not in the node's store).
 */
export type ItemRequest =
  | { rid: number; op: 'put_immutable'; index: number; value: string; timeoutMs: number }
  | { rid: number; op: 'get_immutable'; index: number; target: string; timeoutMs: number }
  | { rid: number; op: 'put_mutable'; index: number; seed: string; publicKey: string; value: string; salt?: string; seq: number; timeoutMs: number }
  | { rid: number; op: 'get_mutable'; index: number; publicKey: string; salt?: string; timeoutMs: number }
  | { rid: number; op: 'stored'; index: number; target: string };

export interface ItemPutResult {
  target: string;
  /** Nodes that acknowledged the put (bittorrent-dht: put replies; libtorrent: num_success). */
  stored: number;
  /** Mutable puts: the seq that was put. */
  seq?: number;
  /** bittorrent-dht: why no node acknowledged (its last 3xx error, or "All queries failed"). */
  error?: string;
}

export interface ItemFound {
  value: string;
  seq?: number;
}

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
 *   token.equals() and Buffer.concat([k, salt]) without checking their types, and hashes
 *   `k` (undefined: a throw) for a put that has a `sig` but no `k`.
 */
function harmless(datagram: Buffer): boolean {
  const v = tryDecode(datagram, { maxDepth: 16 });
  if (v instanceof BencodeDecodeError) return false;
  if (!isDict(v)) return true;
  if (isDict(v.r) && v.r.id !== undefined && !isBytes(v.r.id)) return false;
  if (isDict(v.a)) {
    for (const key of ['target', 'info_hash', 'token', 'k', 'sig', 'salt'] as const) if (v.a[key] !== undefined && !isBytes(v.a[key])) return false;
    if (v.a.sig !== undefined && v.a.k === undefined) return false;
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

/**
 * ed25519 with Node's crypto, the way bittorrent-dht calls it: verify(sig, signedBytes, k).
 * Never throws (a malformed key or signature in a put is a refusal, not a crash).
 */
function verifyEd25519(sig: unknown, message: Buffer, k: unknown): boolean {
  if (!Buffer.isBuffer(sig) || sig.length !== 64 || !Buffer.isBuffer(k) || k.length !== 32) return false;
  try {
    const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: k.toString('base64url') }, format: 'jwk' });
    return verify(null, message, key, sig);
  } catch {
    return false;
  }
}

const sha1 = (...parts: Buffer[]): Buffer => parts.reduce((h, p) => h.update(p), createHash('sha1')).digest();

/** The private key of a 32-byte seed (Node derives the public half from `d`; foreign-host.ts checks it matches). */
function signingKey(seed: Buffer, publicKey: Buffer): KeyObject {
  return createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d: seed.toString('base64url'), x: publicKey.toString('base64url') }, format: 'jwk' });
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
  const dht = new DHT({ bootstrap: false, nodeId: Buffer.from(spec.id, 'hex'), socket: guardedSocket(received, diagnostics), verify: verifyEd25519 });
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

function hosted(index: number): Hosted {
  const node = nodes.find((n) => n.spec.index === index);
  if (node === undefined) throw new Error(`no node ${index} here`);
  return node;
}

/**
 * Our decoded value (Buffers, numbers, latin1-keyed dicts) as bittorrent-dht's bencode wants
 * it: dict keys as UTF-8 strings. Throws for a key that is not UTF-8 (it would be mangled).
 */
function toForeign(v: BencodeValue): unknown {
  if (Buffer.isBuffer(v) || typeof v === 'number') return v;
  if (Array.isArray(v)) return v.map(toForeign);
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(v)) {
    const bytes = Buffer.from(key, 'latin1');
    const utf8 = bytes.toString('utf8');
    if (!Buffer.from(utf8, 'utf8').equals(bytes)) throw new Error(`bittorrent-dht cannot carry the dict key ${bytes.toString('hex')} (not UTF-8)`);
    out[utf8] = toForeign(item);
  }
  return out;
}

/** The reverse, for values bittorrent-dht decoded (bencode 2: Buffers, numbers, UTF-8 keys), then bencoded. */
function fromForeign(v: unknown): Encodable {
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  if (typeof v === 'number') return v;
  if (Array.isArray(v)) return v.map(fromForeign);
  if (typeof v === 'object' && v !== null) {
    return Object.fromEntries(Object.entries(v).map(([key, item]) => [Buffer.from(key, 'utf8').toString('latin1'), fromForeign(item)]));
  }
  throw new Error(`unexpected value in an item: ${typeof v}`);
}

const bencodedHex = (v: unknown): string => encode(fromForeign(v)).toString('hex');

/** The test's bencoded value, decoded; only canonical bencoding (what is hashed is what is sent). */
function itemValue(hex: string): unknown {
  const bytes = Buffer.from(hex, 'hex');
  const v = tryDecode(bytes, { maxDepth: 16 });
  if (v instanceof BencodeDecodeError) throw new Error(`value is not bencoded: ${v.message}`);
  if (!encode(v).equals(bytes)) throw new Error('value is not canonical bencoding (unsorted dict keys?)');
  return toForeign(v);
}

const optionalSalt = (hex: string | undefined): Buffer | undefined => (hex === undefined || hex === '' ? undefined : Buffer.from(hex, 'hex'));

function withTimeout<T>(timeoutMs: number, onTimeout: () => T | Error, run: (done: (err: Error | null, value?: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const settle = (err: Error | null, value?: T): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err !== null) reject(err);
      else resolve(value as T);
    };
    const timer = setTimeout(() => {
      const v = onTimeout();
      if (v instanceof Error) settle(v);
      else settle(null, v);
    }, timeoutMs);
    try {
      run(settle);
    } catch (err) {
      settle(err as Error);
    }
  });
}

/**
 * dht.put (a `get` lookup for tokens, then a put to the 20 closest that answered); it ends on
 * k-rpc's per-query timeout (2 s) at the latest. `target` is ours: the callback may come before
 * put() returns (no node to ask), and without a key on a failed lookup.
 */
function put(node: Hosted, target: Buffer, opts: DHT.PutOptions, timeoutMs: number): Promise<ItemPutResult> {
  return withTimeout<ItemPutResult>(
    timeoutMs,
    () => new Error(`put did not finish within ${timeoutMs} ms`),
    (done) => {
      node.dht.put(opts, (err, _key, n) => {
        done(null, { target: target.toString('hex'), stored: n ?? 0, ...(opts.seq === undefined ? {} : { seq: opts.seq }), ...(err ? { error: err.message } : {}) });
      });
    },
  );
}

/** dht.get over the network (`cache: false`: never the node's own store); null when the lookup found nothing or ran out of time. */
function get(node: Hosted, target: Buffer, salt: Buffer | undefined, timeoutMs: number): Promise<DHT.GetResult | null> {
  return withTimeout<DHT.GetResult | null>(
    timeoutMs,
    () => null,
    (done) => node.dht.get(target, { cache: false, ...(salt ? { salt } : {}) }, (err, res) => done(err, res ?? null)),
  );
}

async function item(req: ItemRequest): Promise<unknown> {
  const node = hosted(req.index);
  switch (req.op) {
    case 'put_immutable':
      return put(node, sha1(Buffer.from(req.value, 'hex')), { v: itemValue(req.value) }, req.timeoutMs);
    case 'put_mutable': {
      const k = Buffer.from(req.publicKey, 'hex');
      const key = signingKey(Buffer.from(req.seed, 'hex'), k);
      const salt = optionalSalt(req.salt);
      const opts = { v: itemValue(req.value), k, seq: req.seq, ...(salt ? { salt } : {}), sign: (buf: Buffer) => sign(null, buf, key) };
      return put(node, sha1(k, ...(salt ? [salt] : [])), opts, req.timeoutMs);
    }
    case 'get_immutable': {
      const target = Buffer.from(req.target, 'hex');
      const res = await get(node, target, undefined, req.timeoutMs);
      if (res === null) return null;
      const value = bencodedHex(res.v);
      // bittorrent-dht checked the hash with its own bencode; a value we re-encode differently would be our bug.
      if (!sha1(Buffer.from(value, 'hex')).equals(target)) throw new Error(`value found for ${req.target} re-encodes to other bytes: ${value}`);
      return value;
    }
    case 'get_mutable': {
      const salt = optionalSalt(req.salt);
      const target = sha1(Buffer.from(req.publicKey, 'hex'), ...(salt ? [salt] : []));
      const res = await get(node, target, salt, req.timeoutMs);
      return res === null ? null : ({ value: bencodedHex(res.v), ...(typeof res.seq === 'number' ? { seq: res.seq } : {}) } satisfies ItemFound);
    }
    case 'stored': {
      // peek: no LRU reordering; _values is where _onput stores and _onget reads.
      const stored = node.dht._values.peek(req.target.toLowerCase());
      return stored === undefined ? null : ({ value: bencodedHex(stored.v), ...(typeof stored.seq === 'number' ? { seq: stored.seq } : {}) } satisfies ItemFound);
    }
  }
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
    case 'put_immutable':
    case 'put_mutable':
    case 'get_immutable':
    case 'get_mutable':
    case 'stored':
      return item(req);
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
