/**
 * The flood half of bench/serve.ts, run in its own process (forked, IPC channel): on each
 * `run` message it opens SOCKETS UDP sockets on distinct 127.x.y.z addresses and sends the
 * target ping / find_node / get_peers queries, keeping WINDOW queries in flight per socket (a
 * reply, or a query unanswered for 250 ms, makes room for the next; the window opens one step
 * per 20 ms at the start so there is no initial burst), until the duration or the
 * query cap is reached; then it reports the counts and closes the sockets. It never sends
 * anywhere but the loopback target it is given, stops by itself, and exits when told to, when
 * its parent goes away, or after a hard time limit.
 *
 * Queries cycle through a fixed mix of 10: 2 ping, 4 find_node (random targets), 2 get_peers
 * for infohashes the target stores peers for, 2 get_peers for random infohashes. Replies are
 * decoded with bep5/bencode.ts and matched by transaction ID; an 'r' counts as answered, an 'e'
 * as an error. Only replies that arrive between the end of the warm-up and the deadline count.
 *
 * With SOCKETS x WINDOW above what the target's receive buffer holds (about 190 of these
 * datagrams with Linux's default 208 KB), the kernel drops the excess while the target is busy:
 * that is the flood, and the dropped queries are reported as `lost`.
 */
import { createSocket, type Socket } from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { decode, encode } from '../bep5/bencode.js';
import { randomId } from '../bep5/node-id.js';
import { seededRandom } from '../bep5/random.js';

export interface FloodRequest {
  type: 'run';
  /** Selects the source addresses, so each run comes from addresses the target has not seen. */
  run: number;
  host: string;
  port: number;
  warmupMs: number;
  durationMs: number;
  maxQueries: number;
  sockets: number;
  window: number;
  /** Hex infohashes the target stores peers for. */
  stored: string[];
}

export interface FloodResult {
  type: 'result';
  sent: number;
  /** 'r' replies within the measured interval, and all of them. */
  answered: number;
  answeredTotal: number;
  errors: number;
  lost: number;
  /** get_peers replies to stored infohashes that carried `values`, of those answered. */
  withValues: number;
  storedAnswered: number;
  /** Queries the target sent us (it verifying our sources with a ping); not answered. */
  queriesReceived: number;
  measuredMs: number;
  floodCpuMs: number;
}

const HARD_LIMIT_MS = 10 * 60_000;
const LOSS_AFTER_MS = 250;
const MIX = ['ping', 'ping', 'find_node', 'find_node', 'find_node', 'find_node', 'stored', 'stored', 'get_peers', 'get_peers'] as const;
type Kind = (typeof MIX)[number];
const TEMPLATES_PER_KIND = 32;

interface Template {
  bytes: Buffer;
  /** Where the 4-byte transaction ID goes. */
  tOffset: number;
  kind: Kind;
}

function template(kind: Kind, id: Buffer, target: Buffer): Template {
  const t = Buffer.alloc(4);
  const a =
    kind === 'ping' ? { id } : kind === 'find_node' ? { id, target } : { id, info_hash: target };
  const q = kind === 'ping' ? 'ping' : kind === 'find_node' ? 'find_node' : 'get_peers';
  const bytes = encode({ t, y: 'q', q, a });
  // Keys are sorted (a, q, t, y), so the last "1:t4:" is the transaction ID's.
  const tOffset = bytes.lastIndexOf('1:t4:') + 5;
  return { bytes, tOffset, kind };
}

function bindSocket(host: string): Promise<Socket> {
  const socket = createSocket('udp4');
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, host, () => {
      socket.off('error', reject);
      resolve(socket);
    });
  });
}

async function flood(req: FloodRequest): Promise<FloodResult> {
  const random = seededRandom(1_000 + req.run);
  const stored = req.stored.map((h) => Buffer.from(h, 'hex'));
  const sockets: Socket[] = [];
  for (let i = 0; i < req.sockets; i++) {
    sockets.push(await bindSocket(`127.${150 + (req.run % 50)}.${1 + Math.floor(i / 250)}.${1 + (i % 250)}`));
  }

  let sent = 0;
  let answered = 0;
  let answeredTotal = 0;
  let errors = 0;
  let lost = 0;
  let withValues = 0;
  let storedAnswered = 0;
  let queriesReceived = 0;
  let nextT = 1;
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  const measureFrom = start + req.warmupMs;
  const deadline = measureFrom + req.durationMs;
  let sending = true;
  /** The window opens by one per sweep tick (20 ms), so the start is no burst that overflows the target's receive buffer. */
  let window = 1;

  const perSocket = sockets.map((socket) => {
    const id = randomId(random);
    const templates: Template[][] = MIX.map((kind) =>
      Array.from({ length: TEMPLATES_PER_KIND }, (_, j) =>
        template(kind, id, kind === 'stored' ? stored[j % stored.length]! : randomId(random)),
      ),
    );
    return { socket, templates, pending: new Map<number, { at: number; kind: Kind }>(), turn: 0 };
  });

  const sendOne = (s: (typeof perSocket)[number]): void => {
    const mixIndex = s.turn % MIX.length;
    const tpl = s.templates[mixIndex]![Math.floor(s.turn / MIX.length) % TEMPLATES_PER_KIND]!;
    s.turn++;
    const t = nextT++ >>> 0;
    const datagram = Buffer.from(tpl.bytes);
    datagram.writeUInt32BE(t, tpl.tOffset);
    s.pending.set(t, { at: performance.now(), kind: tpl.kind });
    sent++;
    s.socket.send(datagram, req.port, req.host);
  };
  const fill = (s: (typeof perSocket)[number]): void => {
    while (sending && s.pending.size < window && sent < req.maxQueries) sendOne(s);
  };

  for (const s of perSocket) {
    s.socket.on('message', (msg) => {
      let m;
      try {
        m = decode(msg) as Record<string, unknown>;
      } catch {
        return;
      }
      const y = m['y'];
      const yType = Buffer.isBuffer(y) ? y.toString('latin1') : '';
      if (yType === 'q') {
        queriesReceived++;
        return;
      }
      const tBuf = m['t'];
      if (!Buffer.isBuffer(tBuf) || tBuf.length !== 4) return;
      const t = tBuf.readUInt32BE(0);
      const p = s.pending.get(t);
      if (p === undefined) return;
      s.pending.delete(t);
      const now = performance.now();
      if (yType === 'r') {
        answeredTotal++;
        if (now >= measureFrom && now <= deadline) {
          answered++;
          if (p.kind === 'stored') {
            storedAnswered++;
            const r = m['r'] as Record<string, unknown> | undefined;
            if (r !== undefined && Array.isArray(r['values']) && r['values'].length > 0) withValues++;
          }
        }
      } else errors++;
      fill(s);
    });
    s.socket.on('error', () => undefined);
  }

  for (const s of perSocket) fill(s);
  await new Promise<void>((resolve) => {
    const sweep = setInterval(() => {
      const now = performance.now();
      if (window < req.window) window++;
      for (const s of perSocket) {
        for (const [t, p] of s.pending) {
          if (now - p.at > LOSS_AFTER_MS) {
            s.pending.delete(t);
            lost++;
          }
        }
        fill(s);
      }
      if (now >= deadline || sent >= req.maxQueries) {
        sending = false;
        clearInterval(sweep);
        resolve();
      }
    }, 20);
  });
  const measuredMs = Math.min(performance.now(), deadline) - measureFrom;
  const cpu = process.cpuUsage(cpu0);
  // Let late replies land (they are not counted), then close.
  await new Promise((r) => setTimeout(r, 200));
  await Promise.all(sockets.map((s) => new Promise<void>((r) => s.close(() => r()))));
  return {
    type: 'result',
    sent,
    answered,
    answeredTotal,
    errors,
    lost,
    withValues,
    storedAnswered,
    queriesReceived,
    measuredMs,
    floodCpuMs: (cpu.user + cpu.system) / 1000,
  };
}

if (process.send !== undefined) {
  const hard = setTimeout(() => process.exit(2), HARD_LIMIT_MS);
  hard.unref();
  process.on('disconnect', () => process.exit(0));
  process.on('message', (msg: FloodRequest | { type: 'exit' }) => {
    if (msg.type === 'exit') {
      process.disconnect();
      return;
    }
    void flood(msg).then((result) => process.send!(result));
  });
  process.send({ type: 'ready' });
}
