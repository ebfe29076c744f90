// Minimal typing for bittorrent-dht 11.0.12 (ESM, ships no types). Used only by interop tests
// and the testnet's host (crawler/testnet/bittorrent-dht-host.ts), where it is an independent
// peer. Covers the public API they call plus the internal members they reach into (`_rpc`,
// `_sendPing`, `_values`), typed as far as client.js and k-rpc 5.1.0 use them.
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
      /** BEP 44: without it every mutable put is refused (error 400) and mutable get replies are ignored. */
      verify?: Verify;
    }
    /** ed25519 verification as client.js calls it: (sig, the signed bytes, public key k). */
    type Verify = (sig: Buffer, message: Buffer, publicKey: Buffer) => boolean;
    /**
     * put(): `v` is a bencode value (a Buffer is a byte string; objects, arrays and numbers
     * are dicts, lists and integers). Mutable when `k` is given: then `seq` and `sign` (or `sig`).
     */
    interface PutOptions {
      v: unknown;
      k?: Buffer;
      seq?: number;
      /** Signed and sent when truthy: an empty Buffer would be signed as `4:salt0:`. */
      salt?: Buffer;
      cas?: number;
      /** Gets bencode({salt?, seq, v}) without the outer d…e; returns the 64-byte signature. */
      sign?: (message: Buffer) => Buffer;
      sig?: Buffer;
    }
    interface GetOptions {
      salt?: Buffer | string;
      /** false: always a lookup, never the node's own store. */
      cache?: boolean;
      verify?: Verify;
    }
    /** The winning `get` reply's `r` (immutable: the first whose value hashes to the target; mutable: the highest seq that verified). */
    interface GetResult { id: Buffer; v: unknown; token?: Buffer; k?: Buffer; sig?: Buffer; seq?: number; salt?: Buffer }
    /** An entry of the node's own item store (`_values`), keyed by the target in hex. */
    interface StoredItem { v: unknown; id: Buffer; k?: Buffer; salt?: Buffer; sig?: Buffer; seq?: number }
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
    /** BEP 44 put; returns the target (also when the callback has already run). `n`: nodes that acknowledged. */
    put(opts: DHT.PutOptions, cb?: (err: Error | null, key?: Buffer, n?: number) => void): Buffer;
    /** BEP 44 get: null when no node returned a valid item. */
    get(key: Buffer | string, opts: DHT.GetOptions, cb: (err: Error | null, res: DHT.GetResult | null) => void): void;
    toJSON(): { nodes: DHT.Peer[]; values: Record<string, unknown> };

    /** Internal: the node's item store (an `lru` 3 cache, 1,000 items by default). */
    _values: { peek(targetHex: string): DHT.StoredItem | undefined; length: number };
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
