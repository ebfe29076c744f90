import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { type BencodeDict, tryDecode } from '../../bep5/bencode.js';
import { BencodeDecodeError } from '../../bep5/errors.js';
import { getField } from '../../bep5/fields.js';
import { isLoopback } from '../../bep5/ip.js';
import { encodeErrorMessage, encodeResponseMessage, parseMessage } from '../../bep5/krpc-message.js';
import { unwrap, wrap } from './envelope.js';
import { mix32, type Population } from './population.js';

/**
 * The simulated DHT's server (issue 15): one UDP socket on loopback answers for every virtual
 * node of a Population. A datagram arrives in an envelope naming the virtual node it is for
 * (envelope.ts); the simulator counts it for that node (the ground truth of packets per node:
 * every packet to an unreachable or departed node counts too), and if the node is live and its
 * client answers that method, replies after the node's round-trip time, in an envelope naming
 * the node. Queries are decoded with the project's strict decoder; anything malformed is
 * counted and dropped.
 */

export interface SimulatorOptions {
  population: Population;
  /** A loopback address (default 127.0.0.1). */
  host?: string;
  port?: number;
  /** Elapsed time since the survey started (ms): who has left (churn). Default: since start(). */
  elapsedMs?: () => number;
  /** Kernel receive buffer of the simulator's socket (default 8 MiB, as far as rmem_max allows). */
  recvBufferSize?: number;
}

export interface SimulatorStats {
  /** Datagrams received in all, and those for no virtual node or not an envelope. */
  packets: number;
  unknown: number;
  /** Datagrams to nodes that never answer, or that had left. */
  toUnreachable: number;
  toDeparted: number;
  malformed: number;
  replies: number;
  errors: number;
  /** Queries a client ignored (silent on sample_infohashes or an unknown method). */
  ignored: number;
  byMethod: Record<string, number>;
}

const SAMPLE_INTERVAL_S = 21_600;

export class Simulator {
  /** Datagrams received per virtual node (saturating at 65,535). */
  readonly received: Uint16Array;
  /** 1 for each node that answered at least once. */
  readonly answered: Uint8Array;
  private readonly socket: Socket;
  private readonly population: Population;
  private readonly elapsed: () => number;
  private readonly counters: SimulatorStats = { packets: 0, unknown: 0, toUnreachable: 0, toDeparted: 0, malformed: 0, replies: 0, errors: 0, ignored: 0, byMethod: {} };
  private readonly timers = new Set<NodeJS.Timeout>();
  private closed = false;

  private constructor(o: SimulatorOptions, socket: Socket) {
    this.population = o.population;
    this.socket = socket;
    this.received = new Uint16Array(o.population.size);
    this.answered = new Uint8Array(o.population.size);
    const started = Date.now();
    this.elapsed = o.elapsedMs ?? (() => Date.now() - started);
    socket.on('message', (msg, rinfo) => this.onDatagram(msg, rinfo));
  }

  static async start(o: SimulatorOptions): Promise<Simulator> {
    const host = o.host ?? '127.0.0.1';
    if (!isLoopback(host)) throw new RangeError(`the simulator binds to loopback only, not ${host}`);
    const socket = createSocket({ type: 'udp4', recvBufferSize: o.recvBufferSize ?? 8 * 1024 * 1024 });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(o.port ?? 0, host, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    return new Simulator(o, socket);
  }

  get address(): { host: string; port: number } {
    const a = this.socket.address();
    return { host: a.address, port: a.port };
  }

  stats(): SimulatorStats {
    return { ...this.counters, byMethod: { ...this.counters.byMethod } };
  }

  /**
   * Live nodes at the start, and how many of them answered; and the same for the nodes still
   * live now (churn: a node that left before the crawl came to it could not be reached).
   */
  coverage(): { live: number; reached: number; stayed: number; reachedStayed: number } {
    const now = this.elapsed();
    let live = 0;
    let reached = 0;
    let stayed = 0;
    let reachedStayed = 0;
    for (let i = 0; i < this.population.size; i++) {
      if (!this.population.reachable(i)) continue;
      live++;
      const answered = this.answered[i] === 1;
      if (answered) reached++;
      if (this.population.liveAt(i, now)) {
        stayed++;
        if (answered) reachedStayed++;
      }
    }
    return { live, reached, stayed, reachedStayed };
  }

  /** Datagrams received by all virtual nodes (the ground truth of packets sent to the DHT). */
  packetsToNodes(): number {
    return this.counters.packets - this.counters.unknown;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await new Promise<void>((resolve) => this.socket.close(() => resolve()));
  }

  private onDatagram(datagram: Buffer, from: RemoteInfo): void {
    const c = this.counters;
    c.packets++;
    const env = unwrap(datagram);
    const i = env === null ? -1 : this.population.indexOf(env.ip, env.port);
    if (env === null || i < 0) {
      c.unknown++;
      return;
    }
    if (this.received[i]! < 65_535) this.received[i]!++;
    if (!this.population.reachable(i)) {
      c.toUnreachable++;
      return;
    }
    if (!this.population.liveAt(i, this.elapsed())) {
      c.toDeparted++;
      return;
    }
    const reply = this.answer(i, env.payload);
    if (reply === null) return;
    const delay = this.population.rttMs(i, this.received[i]!);
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (this.closed) return;
      this.answered[i] = 1;
      this.socket.send(wrap(env.ip, env.port, reply), from.port, from.address);
    }, delay);
    this.timers.add(timer);
  }

  /** Node i's answer to a datagram, or null when it stays silent. */
  private answer(i: number, payload: Buffer): Buffer | null {
    const c = this.counters;
    const decoded = tryDecode(payload);
    if (decoded instanceof BencodeDecodeError) {
      c.malformed++;
      return null;
    }
    let message;
    try {
      message = parseMessage(decoded);
    } catch {
      c.malformed++;
      return null;
    }
    if (message.y !== 'q') {
      c.malformed++;
      return null;
    }
    const p = this.population;
    const client = p.client(i);
    const extras = client.version === null ? {} : { v: client.version };
    c.byMethod[message.method] = (c.byMethod[message.method] ?? 0) + 1;
    const id = p.id(i);
    const bytes20 = (key: string): Buffer | null => {
      const v = getField(message.args as BencodeDict, key);
      return Buffer.isBuffer(v) && v.length === 20 ? v : null;
    };
    const reply = (r: Record<string, Buffer | number>): Buffer => {
      c.replies++;
      return encodeResponseMessage(message.t, r, extras);
    };
    const error = (code: 203 | 204, text: string): Buffer => {
      c.errors++;
      return encodeErrorMessage(message.t, code, text, extras);
    };
    const notSupported = (how: 'silent' | 'error-204' | 'error-203'): Buffer | null => {
      if (how === 'silent') {
        c.ignored++;
        return null;
      }
      return how === 'error-204' ? error(204, 'Method Unknown') : error(203, 'unknown message');
    };
    if (bytes20('id') === null) return error(203, 'missing id');
    switch (message.method) {
      case 'ping':
      case 'announce_peer':
        return reply({ id });
      case 'find_node': {
        const target = bytes20('target');
        return target === null ? error(203, 'bad target') : reply({ id, nodes: p.compactNodes(p.closestKnown(i, target)) });
      }
      case 'get_peers': {
        const target = bytes20('info_hash');
        if (target === null) return error(203, 'bad info_hash');
        const token = Buffer.alloc(client.tokenBytes);
        token.writeUInt32BE(mix32(p.seed, i, 97), 0);
        const nodes = p.compactNodes(p.closestKnown(i, target));
        if (!p.stores(i, target)) return reply({ id, token, nodes });
        // A swarm it stores: BEP 33 filters for a scrape from a node that speaks it, else peers.
        if (getField(message.args as BencodeDict, 'scrape') === 1 && p.answersScrape(i)) return reply({ id, token, nodes, BFsd: scrapeFilter(p.seed, i, 101), BFpe: scrapeFilter(p.seed, i, 103) });
        c.replies++;
        return encodeResponseMessage(message.t, { id, token, nodes, values: [peerOf(p.seed, i, 107), peerOf(p.seed, i, 109)] }, extras);
      }
      case 'sample_infohashes': {
        if (client.samples !== 'answers') return notSupported(client.samples);
        const target = bytes20('target');
        if (target === null) return error(203, 'bad target');
        return reply({ id, interval: SAMPLE_INTERVAL_S, num: p.storedCount(i), samples: p.samples(i), nodes: p.compactNodes(p.closestKnown(i, target)) });
      }
      default:
        return notSupported(client.unknown);
    }
  }
}

/** A 256-byte BEP 33 bloom filter with a few bits set, fixed by (seed, node, salt). */
function scrapeFilter(seed: number, i: number, salt: number): Buffer {
  const out = Buffer.alloc(256);
  for (let k = 0; k < 4; k++) {
    const bit = mix32(seed, i * 8 + k, salt) % 2048;
    out[bit >>> 3]! |= 1 << (bit & 7);
  }
  return out;
}

/** A compact peer (6 bytes) in 11.x.y.z, fixed by (seed, node, salt). */
function peerOf(seed: number, i: number, salt: number): Buffer {
  const out = Buffer.alloc(6);
  out.writeUInt32BE((0x0b000000 + (mix32(seed, i, salt) & 0xffffff)) >>> 0, 0);
  out.writeUInt16BE(6881, 4);
  return out;
}
