/**
 * Serving benchmark: queries answered per second by ONE node under a flood from a second
 * process (bench/serve-flood.ts, forked), ours (DhtNode) against bittorrent-dht 11.0.12, in the
 * same run with the same flood. Everything stays on 127.0.0.0/8. Run from the repository root:
 *
 *   node --import ./scripts/ts-node-register.mjs bench/serve.ts     # or: npm run bench:serve
 *
 * Both nodes get the same state: a routing table of ~100 contacts spread over the buckets
 * (ours: recorded as answering nodes; theirs: addNode with ids; the contacts are addresses
 * nobody listens on) and STORED infohashes with PEERS peers each. Ours runs with limitPrivate
 * false (the default), so loopback sources are exempt from the per-IP query limit; bittorrent-dht
 * has no limit. The flood sends from SOCKETS sources with WINDOW queries in flight each (see
 * serve-flood.ts for the mix), for DURATION_MS after a WARMUP_MS warm-up. ROUNDS rounds
 * alternate which node goes first; the table shows medians. answered/s counts 'r' replies
 * received by the flood in the measured interval. This process's CPU time during each round
 * shows whether the served node was the bottleneck (about 100% of one core) or the flood was;
 * CPU time per answer is the steadier number when other work shares the machine.
 */
import { fork } from 'node:child_process';
import type { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import DHT from 'bittorrent-dht';
import { DhtNode } from '../bep5/node.js';
import { randomId } from '../bep5/node-id.js';
import { seededRandom } from '../bep5/random.js';
import { type FloodRequest, type FloodResult } from './serve-flood.js';

const ROUNDS = Number(process.env['ROUNDS'] ?? 3);
const DURATION_MS = Number(process.env['DURATION_MS'] ?? 5_000);
const WARMUP_MS = Number(process.env['WARMUP_MS'] ?? 500);
const SOCKETS = Number(process.env['SOCKETS'] ?? 64);
const WINDOW = Number(process.env['WINDOW'] ?? 8);
const MAX_QUERIES = Number(process.env['MAX_QUERIES'] ?? 2_000_000);
const CONTACTS = 104; // 8 per bucket for 13 buckets
const STORED = Number(process.env['STORED'] ?? 20);
const PEERS = Number(process.env['PEERS'] ?? 50);

const random = seededRandom(20261124);

// ---------------------------------------------------------------------------------------------
// Shared state: contacts spread over buckets (id shares exactly j leading bits with the node's
// own id, 8 for each j = 0..12), stored peers on distinct addresses.

const ownId = randomId(random);
function idWithPrefix(bits: number): Buffer {
  const id = randomId(random);
  for (let b = 0; b <= bits; b++) {
    const byte = b >> 3;
    const mask = 0x80 >> (b & 7);
    const own = ownId[byte]! & mask;
    id[byte] = b < bits ? (id[byte]! & ~mask) | own : (id[byte]! & ~mask) | (own ^ mask);
  }
  return id;
}
const contacts = Array.from({ length: CONTACTS }, (_, i) => ({
  id: idWithPrefix(Math.floor(i / 8)),
  host: `127.210.${Math.floor(i / 200)}.${1 + (i % 200)}`,
  port: 10_000 + i,
}));
const stored = Array.from({ length: STORED }, (_, h) => ({
  infoHash: randomId(random),
  peers: Array.from({ length: PEERS }, (_, p) => ({ host: `10.${h}.${Math.floor(p / 250)}.${1 + (p % 250)}`, port: 6_881 + p })),
}));

// ---------------------------------------------------------------------------------------------
// Ours

const ours = new DhtNode({
  id: ownId,
  host: '127.220.0.1',
  port: 0,
  bootstrap: [],
  allowPrivate: true,
  limitPrivate: false,
  adoptBep42Id: false,
});
await ours.start();
for (const c of contacts) ours.table()!.recordResponse(c);
for (const s of stored) for (const p of s.peers) ours.store.announce(s.infoHash, p, false);

// ---------------------------------------------------------------------------------------------
// bittorrent-dht (internals used: its peer store, to hold the same peers without announces)

interface TheirInternals {
  _peers: { add(key: string, record: Buffer): void };
}
const theirs = new DHT({ bootstrap: false, nodeId: ownId });
await new Promise<void>((resolve) => theirs.listen(0, '127.220.0.2', () => resolve()));
for (const c of contacts) theirs.addNode(c);
for (const s of stored) {
  for (const p of s.peers) {
    const compact = Buffer.alloc(6);
    p.host.split('.').forEach((o, i) => (compact[i] = Number(o)));
    compact.writeUInt16BE(p.port, 4);
    (theirs as unknown as TheirInternals)._peers.add(s.infoHash.toString('hex'), compact);
  }
}
let theirQueries = 0;
(theirs._rpc as unknown as EventEmitter).on('query', () => theirQueries++);

console.log(
  `state: ours ${ours.table()!.size} contacts, ${ours.store.size.infohashes} infohashes / ${ours.store.size.peers} peers; ` +
    `bittorrent-dht ${theirs.nodes.count()} contacts, ${STORED} infohashes x ${PEERS} peers`,
);

// ---------------------------------------------------------------------------------------------
// The flood process

const child = fork(fileURLToPath(new URL('./serve-flood.ts', import.meta.url)), [], {
  execArgv: ['--import', fileURLToPath(new URL('../scripts/ts-node-register.mjs', import.meta.url))],
  stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
});
let finished = false;
child.on('exit', (code) => {
  if (finished) return;
  console.error(`the flood process exited early (code ${String(code)})`);
  process.exit(1);
});
const messages: Array<(m: FloodResult | { type: 'ready' }) => void> = [];
child.on('message', (m: FloodResult | { type: 'ready' }) => messages.shift()?.(m));
const nextMessage = (): Promise<FloodResult | { type: 'ready' }> => new Promise((resolve) => messages.push(resolve));
await nextMessage(); // ready

type Impl = 'ours' | 'bittorrent-dht';
interface Round extends FloodResult {
  /** This process's CPU time over the round, as % of one core. */
  serverCpuMs: number;
  /** This process's CPU time per reply the flood received (all replies, warm-up included). */
  cpuUsPerAnswer: number;
  serverQueriesIn: number;
}
const rounds: Record<Impl, Round[]> = { ours: [], 'bittorrent-dht': [] };
/** ONLY=ours or ONLY=theirs floods one node only (for profiling it); the default floods both. */
const ONLY = process.env['ONLY'];
const IMPLS = (['ours', 'bittorrent-dht'] as const).filter((i) => ONLY === undefined || (ONLY === 'theirs') === (i === 'bittorrent-dht'));
let runNumber = 0;

async function round(impl: Impl): Promise<Round> {
  const addr = impl === 'ours' ? ours.address()! : { host: theirs.address().address, port: theirs.address().port };
  const queriesIn0 = impl === 'ours' ? sum(ours.socket()!.stats().queriesIn) : theirQueries;
  const req: FloodRequest = {
    type: 'run',
    run: runNumber++,
    host: addr.host,
    port: addr.port,
    warmupMs: WARMUP_MS,
    durationMs: DURATION_MS,
    maxQueries: MAX_QUERIES,
    sockets: SOCKETS,
    window: WINDOW,
    stored: stored.map((s) => s.infoHash.toString('hex')),
  };
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const pending = nextMessage();
  child.send(req);
  const result = (await pending) as FloodResult;
  const cpu = process.cpuUsage(cpu0);
  const wallMs = performance.now() - t0;
  const queriesIn = (impl === 'ours' ? sum(ours.socket()!.stats().queriesIn) : theirQueries) - queriesIn0;
  // CPU share over the whole round (warm-up and tail included), as % of one core.
  const cpuMs = (cpu.user + cpu.system) / 1000;
  return { ...result, serverCpuMs: (cpuMs / wallMs) * 100, cpuUsPerAnswer: (cpuMs * 1000) / Math.max(1, result.answeredTotal + result.errors), serverQueriesIn: queriesIn };
}

function sum(r: Record<string, number>): number {
  return Object.values(r).reduce((a, b) => a + b, 0);
}

const t0 = performance.now();
for (let r = 0; r < ROUNDS; r++) {
  const order: Impl[] = r % 2 === 0 ? [...IMPLS] : [...IMPLS].reverse();
  for (const impl of order) {
    const result = await round(impl);
    rounds[impl].push(result);
    console.log(
      `round ${r + 1} ${impl}: ${Math.round((result.answered / result.measuredMs) * 1000)} answered/s ` +
        `(sent ${result.sent}, errors ${result.errors}, lost ${result.lost}, server CPU ${result.serverCpuMs.toFixed(0)}%, ` +
        `flood CPU ${((result.floodCpuMs / (WARMUP_MS + DURATION_MS)) * 100).toFixed(0)}%)`,
    );
  }
}
const totalSeconds = (performance.now() - t0) / 1000;
finished = true;
child.send({ type: 'exit' });

// ---------------------------------------------------------------------------------------------
// Report

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const rate = (r: Round): number => (r.answered / r.measuredMs) * 1000;
const row = (cells: string[]): string => `| ${cells.join(' | ')} |`;
const k = (n: number): string => `${(n / 1000).toFixed(1)}k`;

console.log(`\n# Serving benchmark: queries answered per second by one node, ours vs bittorrent-dht 11.0.12`);
console.log(
  `Node ${process.version}; flood from a second process: ${SOCKETS} loopback sources x ${WINDOW} in flight, mix 2 ping : 4 find_node : ` +
    `2 get_peers (stored, ${PEERS} peers) : 2 get_peers (random); ${ROUNDS} rounds x ${DURATION_MS / 1000} s (after ${WARMUP_MS} ms warm-up), ` +
    `alternating order; medians over rounds; ${totalSeconds.toFixed(0)} s in all\n`,
);
console.log(row(['node', 'answered/s', 'min..max', 'server CPU', 'server CPU µs per answer', 'flood CPU', 'errors', 'lost', 'stored get_peers with values']));
console.log(row(['---', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:']));
for (const impl of IMPLS) {
  const rs = rounds[impl];
  const rates = rs.map(rate);
  const values = rs.reduce((n, r) => n + r.withValues, 0);
  const storedAnswered = rs.reduce((n, r) => n + r.storedAnswered, 0);
  console.log(
    row([
      impl,
      k(median(rates)),
      `${k(Math.min(...rates))}..${k(Math.max(...rates))}`,
      `${median(rs.map((r) => r.serverCpuMs)).toFixed(0)}%`,
      median(rs.map((r) => r.cpuUsPerAnswer)).toFixed(1),
      `${median(rs.map((r) => (r.floodCpuMs / (WARMUP_MS + DURATION_MS)) * 100)).toFixed(0)}%`,
      String(rs.reduce((n, r) => n + r.errors, 0)),
      String(rs.reduce((n, r) => n + r.lost, 0)),
      `${values}/${storedAnswered}`,
    ]),
  );
}
if (IMPLS.length === 2) {
  const ratio = median(rounds.ours.map(rate)) / median(rounds['bittorrent-dht'].map(rate));
  const cpuRatio = median(rounds['bittorrent-dht'].map((r) => r.cpuUsPerAnswer)) / median(rounds.ours.map((r) => r.cpuUsPerAnswer));
  console.log(`\nours / bittorrent-dht: ${ratio.toFixed(2)}x answered/s; ${cpuRatio.toFixed(2)}x less CPU per answer`);
}

await ours.stop();
await new Promise<void>((resolve) => theirs.destroy(() => resolve()));
process.exit(0);
