// Minimal typing for k-rpc-socket 1.11.1 (no @types package exists). Used only by interop
// tests, where it is an independent peer; never in product code (its decoder is unsafe).
declare module 'k-rpc-socket' {
  import type { EventEmitter } from 'node:events';
  import type { Socket, RemoteInfo } from 'node:dgram';
  namespace RPC {
    interface Peer { host: string; port: number; id?: Buffer }
    interface ReplyTo { address?: string; host?: string; port: number }
    /** Decoded by k-rpc-socket's own bencode@2: byte strings are Buffers. */
    interface Message { t?: Buffer; y?: Buffer; q?: Buffer; a?: Record<string, unknown>;
      r?: Record<string, unknown>; e?: unknown[]; [k: string]: unknown }
    interface Options { timeout?: number; socket?: Socket; isIP?: (ip: string) => number }
    type QueryCallback = (err: (Error & { code?: string | number }) | null, res: Message | null,
      peer: RemoteInfo | Peer, req?: Message) => void;
  }
  interface RPC extends EventEmitter {
    timeout: number; inflight: number; destroyed: boolean; socket: Socket;
    address(): { address: string; family: string; port: number };
    bind(port?: number, address?: string, cb?: () => void): void;
    query(peer: RPC.Peer, query: { q: string | Buffer; a?: Record<string, unknown> }, cb?: RPC.QueryCallback): number;
    response(peer: RPC.ReplyTo, req: RPC.Message, res: Record<string, unknown>, cb?: (err: Error | null) => void): void;
    error(peer: RPC.ReplyTo, req: RPC.Message, error: unknown, cb?: (err: Error | null) => void): void;
    send(peer: RPC.ReplyTo, message: Record<string, unknown>, cb?: (err: Error | null) => void): void;
    cancel(tid: number, err?: Error): void;
    destroy(cb?: () => void): void;
    on(event: 'query' | 'response', listener: (msg: RPC.Message, rinfo: RemoteInfo) => void): this;
    on(event: 'warning' | 'error', listener: (err: Error) => void): this;
    on(event: 'listening' | 'update' | 'postupdate', listener: () => void): this;
  }
  const RPC: { (opts?: RPC.Options): RPC; new (opts?: RPC.Options): RPC };
  export = RPC;
}
