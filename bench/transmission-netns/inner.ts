import { randomBytes } from 'node:crypto';
import { type RemoteInfo, type Socket, createSocket } from 'node:dgram';
import { type BencodeDict, type BencodeValue, type Encodable, decode, encode } from '../../bep5/bencode.js';
import { decodeNodes } from '../../bep5/compact.js';
import { type DatagramSocket } from '../../bep5/krpc-socket-types.js';
import { DhtNode } from '../../bep5/node.js';
import { Crawler } from '../../crawler/crawler.js';
import { NODE_FLAG, ipv4ToNumber } from '../../crawler/node-index.js';
import { sleep } from '../../bep5/clock.js';
import { LineReader } from './children.js';
import { ANSWER_WAIT_MS, CRAWLER_PORT, PROBE_PORT, SILENCE_MS, type CrawlOutcome, type InnerConfig, type InnerMessage, type InnerResult, type PacketRow, type ProbeResult } from './shared.js';

/**
 * The inner process of bench/transmission-netns.ts: our side (a raw prober, our crawler node and
 * seed nodes), run inside its own network namespace, reporting to the outer process as JSON lines.
 */

// ---- the inner process: our side, inside its namespace ---------------------------------------


/** Every datagram our side sends passes here: counted, and refused unless it stays in the namespaces. */
class PacketLog {
  readonly rows = new Map<string, PacketRow>();
  readonly blockedRows = new Map<string, PacketRow>();
  constructor(readonly allowed: ReadonlySet<string>) {}

  add(into: Map<string, PacketRow>, from: string, host: string, port: number, msg: Uint8Array): void {
    const kind = describe(msg);
    const to = `${host}:${port}`;
    const key = `${from}|${to}|${kind}`;
    const row = into.get(key) ?? { from, to, kind, count: 0, bytes: 0 };
    row.count++;
    row.bytes += msg.length;
    into.set(key, row);
  }
}

/** "q ping", "r", "e 203": what a KRPC datagram is, for the packet table. */
function describe(msg: Uint8Array): string {
  try {
    const d = decode(msg) as BencodeDict;
    const y = asString(d.y);
    if (y === 'q') return `q ${asString(d.q)}${d.a && typeof d.a === 'object' && !Buffer.isBuffer(d.a) && !Array.isArray(d.a) && d.a.id === undefined ? ' (no id)' : ''}`;
    if (y === 'e') return `e ${Array.isArray(d.e) ? String(d.e[0]) : '?'}`;
    return y;
  } catch {
    return 'raw';
  }
}

function asString(v: BencodeValue | undefined): string {
  return Buffer.isBuffer(v) ? v.toString('latin1') : String(v);
}

class GuardedSocket implements DatagramSocket {
  private readonly socket: Socket = createSocket('udp4');
  constructor(
    private readonly role: string,
    private readonly packets: PacketLog,
  ) {}

  send(msg: Uint8Array, port: number, address: string, callback: (err: Error | null) => void): void {
    if (!this.packets.allowed.has(address)) {
      this.packets.add(this.packets.blockedRows, this.role, address, port, msg);
      queueMicrotask(() => callback(new Error(`refused: ${address} is outside the benchmark's namespaces`)));
      return;
    }
    this.packets.add(this.packets.rows, this.role, address, port, msg);
    this.socket.send(msg, port, address, (err) => callback(err ?? null));
  }
  bind(port: number, address: string, callback: () => void): void {
    this.socket.bind(port, address, callback);
  }
  close(callback?: () => void): void {
    this.socket.close(callback);
  }
  address(): { address: string; port: number } {
    return this.socket.address();
  }
  on(event: 'message' | 'error', listener: ((msg: Buffer, rinfo: RemoteInfo) => void) | ((err: Error) => void)): this {
    this.socket.on(event, listener as (...args: unknown[]) => void);
    return this;
  }
  off(event: 'error', listener: (err: Error) => void): this {
    this.socket.off(event, listener);
    return this;
  }
  once(event: 'error', listener: (err: Error) => void): this {
    this.socket.once(event, listener);
    return this;
  }
}

/** Hand-built KRPC queries from one raw socket, answers matched by transaction ID and source. */
class RawProber {
  private readonly waiting = new Map<string, (msg: BencodeDict) => void>();
  constructor(
    private readonly socket: GuardedSocket,
    private readonly to: { host: string; port: number },
  ) {
    socket.on('message', (msg: Buffer, rinfo: RemoteInfo) => {
      if (rinfo.address !== to.host || rinfo.port !== to.port) return;
      let d: BencodeDict;
      try {
        d = decode(msg) as BencodeDict;
      } catch {
        return;
      }
      const t = Buffer.isBuffer(d.t) ? d.t.toString('hex') : '';
      const w = this.waiting.get(t);
      if (w) {
        this.waiting.delete(t);
        w(d);
      }
    });
  }

  ask(name: string, message: { q: string; a: Record<string, Encodable> }, waitMs: number): Promise<ProbeResult> {
    const t = randomBytes(4);
    const started = performance.now();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(t.toString('hex'));
        resolve({ name, outcome: 'silent', detail: `nothing within ${waitMs} ms` });
      }, waitMs);
      this.waiting.set(t.toString('hex'), (d) => {
        clearTimeout(timer);
        resolve(summarize(name, d, performance.now() - started));
      });
      this.socket.send(encode({ t, y: 'q', q: message.q, a: message.a }), this.to.port, this.to.host, () => undefined);
    });
  }
}

function summarize(name: string, d: BencodeDict, ms: number): ProbeResult {
  const v = Buffer.isBuffer(d.v) ? d.v.toString('hex') : null;
  const ip = Buffer.isBuffer(d.ip);
  const rounded = Math.round(ms * 100) / 100;
  if (asString(d.y) === 'e') {
    const e = Array.isArray(d.e) ? d.e : [];
    const code = typeof e[0] === 'number' ? e[0] : undefined;
    return { name, outcome: 'error', ms: rounded, detail: `${code ?? '?'} "${Buffer.isBuffer(e[1]) ? e[1].toString() : ''}"`, errorCode: code, v, ip };
  }
  const r = (d.r && typeof d.r === 'object' && !Buffer.isBuffer(d.r) && !Array.isArray(d.r) ? d.r : {}) as BencodeDict;
  const nodes = Buffer.isBuffer(r.nodes) && r.nodes.length % 26 === 0 ? decodeNodes(r.nodes, 4).length : undefined;
  return {
    name,
    outcome: 'reply',
    ms: rounded,
    detail: `r: ${Object.keys(r).join(', ')}`,
    id: Buffer.isBuffer(r.id) ? r.id.toString('hex') : undefined,
    nodes,
    tokenBytes: Buffer.isBuffer(r.token) ? r.token.length : undefined,
    values: Array.isArray(r.values) ? r.values.length : undefined,
    v,
    ip,
  };
}

async function innerMain(config: InnerConfig): Promise<void> {
  const out = (msg: InnerMessage): void => void process.stdout.write(JSON.stringify(msg) + '\n');
  const say = (line: string): void => out({ type: 'log', line });
  const stdin = new LineReader(process.stdin);
  const nextCommand = async (type: string, timeoutMs: number): Promise<Record<string, string>> => {
    const msg = JSON.parse(await stdin.next(timeoutMs, type)) as Record<string, string>;
    if (msg.type !== type) throw new Error(`expected ${type}, got ${msg.type}`);
    return msg;
  };

  const { ourHost, trHost, trPort } = config;
  const tr = { host: trHost, port: trPort };
  const packets = new PacketLog(new Set([ourHost, trHost]));
  const factory = (role: string) => () => new GuardedSocket(role, packets);
  const nodeOptions = { host: ourHost, bootstrap: [] as string[], addressScope: 'private' as const, adoptBep42Id: false };

  const seeds = config.seedPorts.map((port, i) => new DhtNode({ ...nodeOptions, port, socketFactory: factory(`seed ${i + 1}`) }));
  const crawlerNode = new DhtNode({ ...nodeOptions, port: CRAWLER_PORT, socketFactory: factory('crawler') });
  const probeSocket = new GuardedSocket('prober', packets);
  const stopAll = async (): Promise<void> => {
    await Promise.all([...seeds, crawlerNode].map((n) => n.stop()));
    await new Promise<void>((resolve) => probeSocket.close(() => resolve()));
  };
  try {
    await Promise.all([...seeds, crawlerNode].map((n) => n.start()));
    await new Promise<void>((resolve) => probeSocket.bind(PROBE_PORT, ourHost, resolve));
    // The seeds know one another, so Transmission learns more contacts from any of them.
    await Promise.all(seeds.flatMap((a) => seeds.filter((b) => b !== a).map((b) => a.ping(b.address()!).catch(() => undefined))));
    const prober = new RawProber(probeSocket, tr);
    const fromTransmission: Record<string, number> = {};
    const lookup = { getPeers: 0, announces: 0, firstAt: null as number | null };
    let magnet = '';
    for (const node of [...seeds, crawlerNode]) {
      node.socket(4)!.on('query', (q, ctx) => {
        if (ctx.from.host !== trHost) return;
        fromTransmission[q.method] = (fromTransmission[q.method] ?? 0) + 1;
        if (q.method === 'get_peers' && magnet !== '' && q.infoHash.toString('hex') === magnet) {
          lookup.getPeers++;
          lookup.firstAt ??= Date.now();
        }
        if (q.method === 'announce_peer' && q.infoHash.toString('hex') === magnet) lookup.announces++;
      });
    }
    out({ type: 'ready' });
    await nextCommand('go', 60_000);
    const go = Date.now();

    // Transmission is starting: wait for its DHT to answer, then for its table to hold one of our seeds.
    const id = randomBytes(20);
    let firstPingMs = -1;
    while (Date.now() - go < 15_000) {
      const p = await prober.ask('ping', { q: 'ping', a: { id } }, 200);
      if (p.outcome === 'reply') {
        firstPingMs = Date.now() - go;
        break;
      }
    }
    if (firstPingMs < 0) throw new Error('Transmission never answered a ping within 15 s');
    let firstNodesMs = -1;
    const emptyTableReplies: string[] = [];
    while (Date.now() - go < 20_000) {
      const p = await prober.ask('find_node', { q: 'find_node', a: { id, target: randomBytes(20) } }, 500);
      if (p.outcome === 'reply' && (p.nodes ?? 0) > 0) {
        firstNodesMs = Date.now() - go;
        break;
      }
      if (p.outcome === 'reply' && emptyTableReplies.length < 3) emptyTableReplies.push(p.detail);
      await sleep(100);
    }
    if (firstNodesMs < 0) throw new Error('Transmission never listed one of our seed nodes within 20 s');
    say(`Transmission answered a ping after ${firstPingMs} ms and listed our nodes after ${firstNodesMs} ms`);

    // The probes: what every BEP 5 node must answer, then what jech/dht is said to ignore.
    const probes: ProbeResult[] = [];
    probes.push(await prober.ask('ping', { q: 'ping', a: { id } }, ANSWER_WAIT_MS));
    probes.push(await prober.ask('find_node', { q: 'find_node', a: { id, target: randomBytes(20) } }, ANSWER_WAIT_MS));
    const getPeers = await prober.ask('get_peers', { q: 'get_peers', a: { id, info_hash: randomBytes(20) } }, ANSWER_WAIT_MS);
    probes.push(getPeers);
    probes.push(
      await prober.ask('announce_peer, bad token', { q: 'announce_peer', a: { id, info_hash: randomBytes(20), port: 6881, token: Buffer.from('not-a-token') } }, ANSWER_WAIT_MS),
    );
    probes.push(
      ...(await Promise.all([
        prober.ask('sample_infohashes', { q: 'sample_infohashes', a: { id, target: randomBytes(20) } }, SILENCE_MS),
        prober.ask('unknown method', { q: 'dhtscope_unknown', a: { id } }, SILENCE_MS),
        prober.ask('ping without id', { q: 'ping', a: {} }, SILENCE_MS),
      ])),
    );
    probes.push(await prober.ask('ping (after)', { q: 'ping', a: { id } }, ANSWER_WAIT_MS));
    out({ type: 'probes-done' });
    magnet = (await nextCommand('magnet', 30_000)).infoHash!;
    const magnetAt = Date.now();

    // The crawl: Transmission is the only bootstrap contact.
    const crawler = new Crawler({ node: crawlerNode, bootstrap: [tr], addressScope: 'private', perIpRate: 100 });
    const sweeps: CrawlOutcome['sweeps'] = [];
    for (let i = 0; i < 2; i++) {
      const t0 = Date.now();
      const s = await crawler.sweep(AbortSignal.timeout(20_000));
      sweeps.push({
        sweep: s.sweep,
        known: s.known,
        answeredThisSweep: s.answeredThisSweep,
        failedThisSweep: s.failedThisSweep,
        bep51: s.bep51,
        noBep51: s.noBep51,
        queriesSent: s.queriesSent,
        samplesAsked: s.samplesAsked,
        skippedContacts: s.skippedContacts,
        ms: Date.now() - t0,
      });
    }
    const index = crawler.nodes.find(ipv4ToNumber(trHost), trPort);
    const has = (flag: number): boolean => index >= 0 && crawler.nodes.hasFlag(index, flag);
    const seedAddresses = new Set(config.seedPorts.map((p) => `${ourHost}:${p}`));
    let seedsLearned = 0;
    let seedsAnswered = 0;
    for (let i = 0; i < crawler.nodes.size; i++) {
      if (!seedAddresses.has(crawler.nodes.address(i))) continue;
      seedsLearned++;
      if (crawler.nodes.hasFlag(i, NODE_FLAG.ANSWERED)) seedsAnswered++;
    }
    const queriesToTransmission: Record<string, number> = {};
    for (const row of packets.rows.values()) {
      if (row.from === 'crawler' && row.to === `${trHost}:${trPort}` && row.kind.startsWith('q ')) {
        const m = row.kind.slice(2);
        queriesToTransmission[m] = (queriesToTransmission[m] ?? 0) + row.count;
      }
    }
    const crawl: CrawlOutcome = {
      sweeps,
      transmission: {
        known: index >= 0,
        answered: has(NODE_FLAG.ANSWERED),
        failed: has(NODE_FLAG.FAILED),
        bep51: has(NODE_FLAG.BEP51),
        noBep51: has(NODE_FLAG.NO_BEP51),
        version: index >= 0 && crawler.nodes.version(index) > 0 ? (crawler.nodes.versions[crawler.nodes.version(index)] ?? null) : null,
        rttMs: index >= 0 ? crawler.nodes.rttMs(index) : 0,
      },
      queriesToTransmission,
      seedsLearned,
      seedsAnswered,
      clientBep51: crawler.clientBep51(),
    };

    // Optionally: does Transmission look the magnet up at our nodes?
    while (config.lookupWaitMs > 0 && lookup.getPeers === 0 && Date.now() - magnetAt < config.lookupWaitMs) await sleep(200);
    const result: InnerResult = {
      transmissionId: config.trId,
      firstPingMs,
      firstNodesMs,
      emptyTableReplies,
      probes,
      crawl,
      lookup: {
        infoHash: magnet,
        waitedMs: Date.now() - magnetAt,
        getPeersAtOurNodes: lookup.getPeers,
        firstAtMs: lookup.firstAt === null ? null : lookup.firstAt - magnetAt,
        announcesAtOurNodes: lookup.announces,
      },
      queriesFromTransmission: fromTransmission,
      packets: [...packets.rows.values()],
      blocked: [...packets.blockedRows.values()],
      destinations: [...new Set([...packets.rows.values()].map((r) => r.to.split(':')[0]!))],
    };
    out({ type: 'result', result });
  } finally {
    await stopAll();
  }
}

// Started by the outer process as `inner.ts <config JSON>`, inside our namespace.
innerMain(JSON.parse(process.argv[2]!) as InnerConfig).then(
  () => process.exit(0),
  (err: unknown) => {
    process.stdout.write(JSON.stringify({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) }) + '\n');
    process.exit(1);
  },
);
