// Minimal typing for bittorrent-dht 11.0.12 (ESM, ships no types). Used only by interop tests,
// where it is an independent peer. Covers the public API the tests call plus the two internal
// members they reach into (`_rpc`, `_sendPing`), typed as far as client.js and k-rpc 5.1.0 use them.
declare module 'bittorrent-dht' {
  import type { EventEmitter } from 'node:events';
  import type { Socket } from 'node:dgram';

  namespace DHT {
    /** A contact as k-rpc / k-bucket keep it. */
    interface Node { id: Buffer; host: string; port: number; seen?: number; token?: Buffer | null }
    interface Peer { host: string; port: number }
    /** A bootstrap entry: "host:port" or an object (never omit it: the default is the public routers). */
    type BootstrapEntry = string | { host: string; port: number };
    interface Options {
      /** false: no bootstrap at all; otherwise an explicit list. Tests must never use the default. */
      bootstrap: false | BootstrapEntry[];
      nodeId?: Buffer | string;
      /** Only used by announce(): the node also stores itself at this host. Not a bind address. */
      host?: string | false;
      /** Passed through k-rpc to k-rpc-socket: the UDP socket to use (default a fresh udp4 one). */
      socket?: Socket;
      /** Passed through k-rpc to k-rpc-socket: per-query timeout in ms (default 2,000). */
      timeout?: number;
      /** k-rpc: contacts per bucket and lookup width (default 20). */
      k?: number;
      concurrency?: number;
      maxPeers?: number;
      maxTables?: number;
      maxValues?: number;
      maxAge?: number;
    }
    /** k-rpc-socket's decoded message (its nested bencode 2: byte strings are Buffers). */
    interface Message { t?: Buffer; y?: Buffer; q?: Buffer; a?: Record<string, unknown>;
      r?: Record<string, unknown>; e?: unknown[]; [k: string]: unknown }
    type QueryCallback = (err: (Error & { code?: string | number }) | null, res: Message | null,
      peer: { address?: string; host?: string; port: number; id?: Buffer }) => void;
    /** k-rpc's routing table (a k-bucket). */
    interface KBucket {
      toArray(): Node[];
      get(id: Buffer): Node | null;
      count(): number;
      closest(id: Buffer, n?: number): Node[];
    }
    /** k-rpc 5.1.0 (internal). */
    interface KRpc {
      id: Buffer;
      nodes: KBucket;
      query(peer: { host: string; port: number; id?: Buffer; token?: Buffer }, message: { q: string; a?: Record<string, unknown> }, cb?: QueryCallback): void;
    }
  }

  class DHT extends EventEmitter {
    constructor(opts: DHT.Options);
    readonly nodeId: Buffer;
    readonly nodes: DHT.KBucket;
    listening: boolean;
    destroyed: boolean;
    ready?: boolean;
    listen(port?: number, host?: string, cb?: () => void): void;
    address(): { address: string; family: string; port: number };
    /** With an id: added at once. Without: pinged, and added if it answers. */
    addNode(node: { host: string; port: number; id?: Buffer }): void;
    removeNode(id: Buffer): void;
    lookup(infoHash: Buffer | string, cb?: (err: Error | null, visited?: number) => void): () => void;
    announce(infoHash: Buffer | string, port: number, cb?: (err: Error | null, hits?: number) => void): void;
    announce(infoHash: Buffer | string, cb?: (err: Error | null, hits?: number) => void): void;
    destroy(cb?: () => void): void;
    toJSON(): { nodes: DHT.Peer[]; values: Record<string, unknown> };

    /** Internal: k-rpc instance. */
    _rpc: DHT.KRpc;
    /** Internal: a ping whose callback gets the responder's id and address. */
    _sendPing(node: { host: string; port: number; id?: Buffer }, cb: (err: Error | null, node?: DHT.Node) => void): void;

    /** `from` is the replying node's dgram RemoteInfo (`address`, not `host`), or null for peers it stores itself. */
    on(event: 'peer', listener: (peer: DHT.Peer, infoHash: Buffer, from: { address: string; port: number } | null) => void): this;
    on(event: 'announce', listener: (peer: DHT.Peer, infoHash: Buffer, from: DHT.Peer) => void): this;
    on(event: 'node', listener: (node: DHT.Node) => void): this;
    on(event: 'ready' | 'listening' | 'close', listener: () => void): this;
    on(event: 'error' | 'warning', listener: (err: Error) => void): this;
    on(event: string, listener: (...args: any[]) => void): this;
    once(event: 'ready' | 'listening' | 'close', listener: () => void): this;
    once(event: string, listener: (...args: any[]) => void): this;
  }

  export default DHT;
}
