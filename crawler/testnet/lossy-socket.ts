import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { type DatagramSocket, type SocketFamily } from '../../bep5/krpc-socket-types.js';
import { randomInt, type RandomSource } from '../../bep5/random.js';

/**
 * A real UDP socket whose outgoing datagrams are delayed and sometimes dropped, so a testnet
 * looks like the Internet while the node code on top of it is the real node code.
 */
export interface Impairment {
  latencyMs: [number, number];
  loss: number;
  random: RandomSource;
}

export class LossySocket implements DatagramSocket {
  private readonly inner: Socket;
  private closed = false;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(type: SocketFamily, private readonly impairment: Impairment) {
    this.inner = createSocket(type);
  }

  send(msg: Uint8Array, port: number, address: string, callback: (err: Error | null) => void): void {
    const { latencyMs, loss, random } = this.impairment;
    if (loss > 0 && randomInt(random, 1_000_000) < loss * 1_000_000) {
      callback(null); // lost on the way: the sender cannot tell
      return;
    }
    const [min, max] = latencyMs;
    const delay = max > min ? min + randomInt(random, max - min + 1) : min;
    if (delay <= 0) {
      this.inner.send(msg, port, address, callback);
      return;
    }
    const copy = Buffer.from(msg); // the caller may reuse its buffer
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (this.closed) return callback(null);
      this.inner.send(copy, port, address, (err) => callback(err ?? null));
    }, delay);
    this.timers.add(timer);
  }

  bind(port: number, address: string, callback: () => void): void {
    this.inner.bind(port, address, callback);
  }

  close(callback?: () => void): void {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.inner.close(callback);
  }

  address(): { address: string; port: number } {
    return this.inner.address();
  }

  on(event: 'message', listener: (msg: Buffer, rinfo: RemoteInfo) => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
  on(event: 'message' | 'error', listener: (...args: never[]) => void): this {
    this.inner.on(event, listener as (...args: unknown[]) => void);
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
}
