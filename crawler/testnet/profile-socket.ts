import { createSocket, type RemoteInfo } from 'node:dgram';
import { type BencodeDict, encode, tryDecode } from '../../bep5/bencode.js';
import { isLoopback, parseIp } from '../../bep5/ip.js';
import { type DatagramSocket, type SocketFamily } from '../../bep5/krpc-socket-types.js';
import { type ProfileBehaviour } from './profiles.js';

/**
 * Datagrams one testnet address received, by source IP: the receivers' own count of what a
 * crawler sent them (a crawler's count of what it sent proves nothing about the wire). An
 * IPv6 sender is counted as "[ip]:port": every IPv6 socket on loopback is ::1, so only the
 * port tells a crawler from a testnet node there.
 */
export class ReceiveCounter {
  readonly bySource = new Map<string, number>();

  add(host: string): void {
    this.bySource.set(host, (this.bySource.get(host) ?? 0) + 1);
  }

  /** Counts a datagram from this sender: by its IP, or by "[ip]:port" for IPv6. */
  addSender(rinfo: Pick<RemoteInfo, 'address' | 'family' | 'port'>): void {
    this.add(rinfo.family === 'IPv6' ? `[${rinfo.address}]:${rinfo.port}` : rinfo.address);
  }

  from(hosts: ReadonlySet<string>): number {
    let n = 0;
    for (const [host, count] of this.bySource) if (hosts.has(host)) n += count;
    return n;
  }
}

/** Methods every BEP 5 node knows. */
const BEP5_METHODS = new Set(['ping', 'find_node', 'get_peers', 'announce_peer']);

/** Where a bogon-contacts node claims to have neighbours: never reachable, never to be sent to. */
const BOGON_PREFIXES: ReadonlyArray<[number, number]> = [
  [10, 0],
  [192, 168],
  [169, 254],
  [100, 64],
  [0, 1],
  [224, 0],
  [172, 16],
];

/**
 * Where a bogon-contacts node claims to have IPv6 neighbours (in `nodes6`): link local, unique
 * local, documentation, IPv4-mapped private and loopback, multicast, unspecified. A crawler
 * must send to none of them; the last byte of each is varied.
 */
const BOGON_PREFIXES_6: readonly Buffer[] = ['fe80::', 'fc00::', 'fd12:3456::', '2001:db8::', '::ffff:10.0.0.0', '::ffff:127.0.0.0', 'ff02::', '::'].map((h) => parseIp(h)!);

/**
 * A testnet node's socket with a behaviour profile (crawler/testnet/profiles.ts) between the
 * wire and the real node code: it counts every datagram received by source, drops or answers
 * (203) the queries the imitated client does not know, adds bogon contacts to answers, and,
 * whatever the node wants, never sends outside 127.0.0.0/8 and ::1 (those sends are counted).
 */
export class ProfileSocket implements DatagramSocket {
  /** Sends refused because the destination was not loopback. */
  refusedSends = 0;
  private bogonSerial = 0;

  constructor(
    private readonly inner: DatagramSocket,
    private readonly behaviour: ProfileBehaviour,
    readonly received: ReceiveCounter,
    /**
     * Bind port 0 whatever the node asks: a dual-stack testnet node's IPv6 socket, which shares
     * ::1 with every other one and so cannot take its IPv4 port; the kernel picks a free one.
     */
    private readonly anyPort = false,
  ) {}

  send(msg: Uint8Array, port: number, address: string, callback: (err: Error | null) => void): void {
    if (!isLoopback(address)) {
      this.refusedSends++;
      callback(null);
      return;
    }
    this.inner.send(this.behaviour.bogonContacts ? this.withBogonContacts(msg) : msg, port, address, callback);
  }

  bind(port: number, address: string, callback: () => void): void {
    this.inner.bind(this.anyPort ? 0 : port, address, callback);
  }

  close(callback?: () => void): void {
    this.inner.close(callback);
  }

  address(): { address: string; port: number } {
    return this.inner.address();
  }

  on(event: 'message', listener: (msg: Buffer, rinfo: RemoteInfo) => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
  on(event: 'message' | 'error', listener: (...args: never[]) => void): this {
    if (event === 'message') {
      const deliver = listener as (msg: Buffer, rinfo: RemoteInfo) => void;
      this.inner.on('message', (msg, rinfo) => {
        this.received.addSender(rinfo);
        if (this.admit(msg, rinfo)) deliver(msg, rinfo);
      });
    } else this.inner.on('error', listener as (err: Error) => void);
    return this;
  }

  off(event: 'error', listener: (err: Error) => void): this {
    this.inner.off(event, listener);
    return this;
  }

  once(event: 'error', listener: (err: Error) => void): this {
    this.inner.once(event, listener);
    return this;
  }

  /** False for a query the imitated client would not answer (after answering 203 if that is its way). */
  private admit(msg: Buffer, rinfo: RemoteInfo): boolean {
    const b = this.behaviour;
    if (!b.silentOnUnknown && b.unknownError !== 203) return true;
    const decoded = tryDecode(msg);
    if (!isDict(decoded) || !isBytes(decoded.y) || decoded.y.toString('latin1') !== 'q' || !isBytes(decoded.q)) return true;
    const method = decoded.q.toString('latin1');
    if (BEP5_METHODS.has(method) || (method === 'sample_infohashes' && b.bep51)) return true;
    if (!b.silentOnUnknown && isBytes(decoded.t)) {
      const error: Record<string, unknown> = { t: decoded.t, y: Buffer.from('e'), e: [b.unknownError, Buffer.from('unknown message')] };
      if (b.version !== null) error.v = Buffer.from(b.version, 'hex');
      this.inner.send(encode(error as never), rinfo.port, rinfo.address, () => undefined);
    }
    return false;
  }

  /** The same answer with three more contacts in `nodes` (and in `nodes6`, if it has them), at private and bogon addresses. */
  private withBogonContacts(msg: Uint8Array): Uint8Array {
    const decoded = tryDecode(msg);
    if (!isDict(decoded) || !isDict(decoded.r)) return msg;
    const r = decoded.r;
    const has4 = isBytes(r.nodes) && r.nodes.length % 26 === 0;
    const has6 = isBytes(r.nodes6) && r.nodes6.length % 38 === 0;
    if (!has4 && !has6) return msg;
    if (has4) r.nodes = Buffer.concat([r.nodes as Buffer, this.bogonEntries(3, 4)]);
    if (has6) r.nodes6 = Buffer.concat([r.nodes6 as Buffer, this.bogonEntries(3, 6)]);
    return encode(decoded as never);
  }

  /** `count` compact contacts (26 or 38 bytes) at bogon addresses, each with an ID of its own. */
  private bogonEntries(count: number, family: 4 | 6): Buffer {
    const size = family === 4 ? 26 : 38;
    const extra = Buffer.alloc(size * count);
    for (let i = 0; i < count; i++) {
      const serial = this.bogonSerial++;
      const at = i * size;
      extra.fill(serial & 0xff, at, at + 20);
      extra.writeUInt32BE(serial, at);
      if (family === 4) {
        const [a, b] = BOGON_PREFIXES[serial % BOGON_PREFIXES.length]!;
        extra.set([a, b, (serial >>> 8) & 0xff, 1 + (serial % 254)], at + 20);
      } else {
        BOGON_PREFIXES_6[serial % BOGON_PREFIXES_6.length]!.copy(extra, at + 20);
        // The unspecified address stays all zeros; the others get a host byte.
        if (serial % BOGON_PREFIXES_6.length !== BOGON_PREFIXES_6.length - 1) extra[at + 20 + 15] = 1 + (serial % 254);
      }
      extra.writeUInt16BE(6881, at + size - 2);
    }
    return extra;
  }
}

/**
 * The socket of a dead node (or of one that has left): bound, so that what is sent to it is
 * counted at the receiver, and silent.
 */
export class BlackHole {
  private readonly socket;

  constructor(
    readonly received: ReceiveCounter,
    type: SocketFamily = 'udp4',
  ) {
    this.socket = createSocket(type);
    this.socket.on('message', (_msg, rinfo) => received.addSender(rinfo));
    this.socket.on('error', () => undefined);
  }

  /** The bound port (an IPv6 black hole binds port 0 on ::1). */
  get port(): number {
    return this.socket.address().port;
  }

  bind(port: number, host: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.socket.once('error', reject);
      this.socket.bind(port, host, () => {
        this.socket.off('error', reject);
        resolve();
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

function isDict(v: unknown): v is BencodeDict {
  return typeof v === 'object' && v !== null && !Buffer.isBuffer(v) && !Array.isArray(v);
}

function isBytes(v: unknown): v is Buffer {
  return Buffer.isBuffer(v);
}
