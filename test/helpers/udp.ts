import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { randomInt } from 'node:crypto';
import { type DatagramSocket } from '../../bep5/krpc-socket-types.js';

/**
 * A loopback address of its own for each socket a test creates (127.x.y.z all bind on Linux
 * without setup), so parallel test files never share an address.
 */
export function loopbackHost(): string {
  return `127.${randomInt(1, 255)}.${randomInt(0, 256)}.${randomInt(1, 255)}`;
}

export interface Received {
  msg: Buffer;
  rinfo: RemoteInfo;
}

/** A plain UDP socket that records what it receives: a scripted peer for protocol tests. */
export class RawPeer {
  readonly received: Received[] = [];
  private waiters: Array<(r: Received) => void> = [];

  private constructor(readonly socket: Socket) {
    socket.on('message', (msg, rinfo) => {
      const r = { msg, rinfo };
      const waiter = this.waiters.shift();
      if (waiter) waiter(r);
      else this.received.push(r);
    });
  }

  static async bind(host = loopbackHost(), type: 'udp4' | 'udp6' = 'udp4'): Promise<RawPeer> {
    const socket = createSocket(type);
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, host, () => resolve());
    });
    return new RawPeer(socket);
  }

  get host(): string {
    return this.socket.address().address;
  }

  get port(): number {
    return this.socket.address().port;
  }

  /** The next datagram, or a rejection after `ms`. */
  next(ms = 2000): Promise<Received> {
    const queued = this.received.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`no datagram within ${ms} ms`));
      }, ms);
      const waiter = (r: Received): void => {
        clearTimeout(timer);
        resolve(r);
      };
      this.waiters.push(waiter);
    });
  }

  send(data: Uint8Array | string, port: number, host: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.socket.send(typeof data === 'string' ? Buffer.from(data, 'latin1') : data, port, host, (err) => (err ? reject(err) : resolve()));
    });
  }

  private closed = false;

  /** Idempotent, so tests can close early and still register a teardown. */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

/** A socket that records where every datagram goes (the loopback-only proof): `destinations` counts datagrams by destination address, before the kernel sees them. */
export function recordingSocketFactory(destinations: Map<string, number>) {
  return (type: 'udp4' | 'udp6'): DatagramSocket => {
    const inner = createSocket(type);
    const send = inner.send.bind(inner) as (msg: Uint8Array, port: number, address: string, cb: (err: Error | null) => void) => void;
    return Object.assign(inner, {
      send: (msg: Uint8Array, port: number, address: string, cb: (err: Error | null) => void) => {
        destinations.set(address, (destinations.get(address) ?? 0) + 1);
        send(msg, port, address, cb);
      },
    }) as unknown as DatagramSocket;
  };
}
