import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { EventEmitter } from 'node:events';
import { isLoopback } from '../../bep5/ip.js';
import { type DatagramSocket } from '../../bep5/krpc-socket-types.js';
import { formatIpv4, parseIpv4, unwrap, wrap } from './envelope.js';

/**
 * The crawler's side of the simulated DHT (issue 15): a DatagramSocket (bep5/krpc-socket-types.ts)
 * for DhtNode's `socketFactory`. Every datagram goes to the simulator on loopback, wrapped with
 * the virtual address it is for; every datagram from the simulator comes out unwrapped, from
 * the virtual address it names. It can send to nothing but the simulator: the virtual
 * addresses (public-looking, so that the crawler's address scope lets them through) never
 * reach the wire.
 */
export class EnvelopeSocket extends EventEmitter implements DatagramSocket {
  private readonly inner: Socket;

  constructor(
    private readonly simulator: { host: string; port: number },
    options: { recvBufferSize?: number } = {},
  ) {
    super();
    if (!isLoopback(simulator.host)) throw new RangeError(`the simulator must be on loopback, not ${simulator.host}`);
    this.inner = createSocket({ type: 'udp4', recvBufferSize: options.recvBufferSize ?? 8 * 1024 * 1024 });
    this.inner.on('message', (msg: Buffer, rinfo: RemoteInfo) => {
      if (rinfo.address !== this.simulator.host || rinfo.port !== this.simulator.port) return;
      const env = unwrap(msg);
      if (env === null) return;
      this.emit('message', env.payload, { address: formatIpv4(env.ip), port: env.port, family: 'IPv4', size: env.payload.length });
    });
    this.inner.on('error', (err) => this.emit('error', err));
  }

  bind(port: number, address: string, callback: () => void): void {
    if (!isLoopback(address)) throw new RangeError(`a simulated crawler binds to loopback only, not ${address}`);
    this.inner.bind(port, address, callback);
  }

  send(msg: Uint8Array, port: number, address: string, callback: (err: Error | null) => void): void {
    const ip = parseIpv4(address);
    if (ip === null) {
      queueMicrotask(() => callback(new Error(`the simulated DHT is IPv4 only, not ${address}`)));
      return;
    }
    this.inner.send(wrap(ip, port, msg), this.simulator.port, this.simulator.host, (err) => callback(err ?? null));
  }

  close(callback?: () => void): void {
    this.inner.close(callback);
  }

  address(): { address: string; port: number } {
    const a = this.inner.address();
    return { address: a.address, port: a.port };
  }
}
