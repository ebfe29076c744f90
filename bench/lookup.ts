/**
 * Lookup benchmark: our get_peers lookup (bep5/lookup.ts through DhtNode.findPeers) against
 * bittorrent-dht 11.0.12's `lookup()`, on the SAME local network of real nodes talking real
 * UDP over 127.0.0.0/8 (nothing leaves the machine). Run from the repository root:
 *
 *   node --import ./scripts/ts-node-register.mjs bench/lookup.ts     # or: npm run bench:lookup
 *
 * 1. NODES of our DhtNodes (allowPrivate, no BEP 42 id adoption, unthrottled outgoing budget),
 *    each on its own 127.x.y.z address, join in waves of WAVE nodes, each bootstrapping from 3
 *    nodes that joined earlier; then every node looks up its own id once more (as a real node
 *    refreshes over its first minutes).
 * 2. INFOHASHES infohashes, each announced (get_peers + announce_peer) by 3 random nodes.
 * 3. A bittorrent-dht client (bootstrap list: 16 of our nodes' loopback addresses, so it runs
 *    its own populate lookup; never a public router) and one more DhtNode, the "newcomer",
 *    bootstrapped from the same 16 addresses, join the network.
 * 4. LOOKUPS rounds; each round runs, one at a time and in rotating order, for the same
 *    infohash: ours from a random network node, ours from the newcomer, and bittorrent-dht's.
 * 5. The same again with LATENCY_MS added to every datagram every socket sends (ours and
 *    theirs), LATENCY_LOOKUPS rounds: round trips then cost time as on a real network instead of
 *    only CPU. LATENCY_MS=0 skips this phase.
 *
 * Measured per lookup: wall time from the call until our 'done' event / their callback (the
 * whole network shares this one process, so the time includes the answering nodes' work); the
 * process's CPU time meanwhile; time to the first announced peer; lookup queries sent (ours:
 * LookupResult.queries; theirs: calls of k-rpc-socket's `query` with q = get_peers, counted by
 * wrapping it); every datagram the looking-up node sent meanwhile (ours: socket stats
 * datagramsOut; theirs: wrapping the dgram socket's send), which adds answers to the queries
 * it received meanwhile (answering nodes verifying an unknown querier with a ping, BEP 5).
 *
 * Target (issue): fewer queries and at most half the time of bittorrent-dht. Always exits 0.
 * Knobs for investigation: NODES, WAVE, INFOHASHES, LOOKUPS, WARMUP, LATENCY_MS,
 * LATENCY_LOOKUPS, ALPHA (our nodes' lookup alpha), ONLY=ours|theirs (one side, for --cpu-prof).
 *
 * 6. Churn (issue 12, item 4), after phases 1-5, or alone with `--churn` (`--no-churn` skips it):
 *
 *   npm run bench:lookup -- --churn      # about 4 min on 2 cores
 *
 *    cold `dhtscope peers` processes against cold bittorrent-dht clients on a mixed testnet where
 *    10% of all nodes are gone; what it does, measures and its knobs: bench/lookup-churn.ts.
 */
import { createSocket, type Socket } from 'node:dgram';
import type { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import DHT from 'bittorrent-dht';
import { DhtNode } from '../bep5/node.js';
import { type DhtNodeOptions } from '../bep5/node-types.js';
import { randomId } from '../bep5/node-id.js';
import { randomInt, seededRandom } from '../bep5/random.js';
import { churnPhase } from './lookup-churn.js';
import { f0, f1, median, p95, quantile, row } from './table-stats.js';

const NODES = Number(process.env['NODES'] ?? 1000);
const WAVE = Number(process.env['WAVE'] ?? 50);
const INFOHASHES = Number(process.env['INFOHASHES'] ?? 20);
const LOOKUPS = Number(process.env['LOOKUPS'] ?? 200);
const WARMUP = Number(process.env['WARMUP'] ?? 5);
/** One-way delay added to every datagram in the second lookup phase (0: skip that phase). */
const LATENCY_MS = Number(process.env['LATENCY_MS'] ?? 10);
const LATENCY_LOOKUPS = Number(process.env['LATENCY_LOOKUPS'] ?? 40);
/** Lookup alpha of our nodes (default: the library's DEFAULT_LOOKUP_ALPHA), for trying others. */
const ALPHA = process.env['ALPHA'] === undefined ? undefined : Number(process.env['ALPHA']);
const ANNOUNCERS = 3;
const BOOTSTRAP_SEEDS = 16;

// ---------------------------------------------------------------------------------------------
// bittorrent-dht is typed by crawler/testnet/types/bittorrent-dht.d.ts; these are the internals of its
// k-rpc 5.1.0 / k-rpc-socket 1.11.1 that the benchmark wraps to count what it sends.

interface KrpcSocketInternals {
  query(peer: { host: string; port: number }, query: { q: string | Buffer; a?: Record<string, unknown> }, cb?: unknown): number;
  socket: { send: (...args: unknown[]) => void };
}
const rpcOf = (d: DHT): EventEmitter & { socket: KrpcSocketInternals } => d._rpc as unknown as EventEmitter & { socket: KrpcSocketInternals };

// ---------------------------------------------------------------------------------------------

const rng = seededRandom(20261124);
const pick = <T>(xs: readonly T[]): T => xs[randomInt(rng, xs.length)]!;
/** Distinct loopback addresses spread over 127/8 (no two nodes share an address). */
const hostFor = (i: number): string => `127.${1 + (i % 250)}.${100 + Math.floor(i / 250)}.${1 + ((i * 7) % 250)}`;

/**
 * Every socket of the benchmark (ours and theirs) sends through this: while `delayMs` > 0 each
 * datagram leaves that much later, so every round trip takes 2 x delayMs plus processing.
 */
let delayMs = 0;
function delayedSocket(): Socket {
  const socket = createSocket('udp4');
  const send = socket.send.bind(socket) as (...args: unknown[]) => void;
  (socket as { send: unknown }).send = (...args: unknown[]): void => {
    if (delayMs <= 0) return send(...args);
    setTimeout(() => {
      try {
        send(...args);
      } catch {
        // closed meanwhile (shutdown)
      }
    }, delayMs);
  };
  return socket;
}

function nodeOptions(i: number, extra: DhtNodeOptions = {}): DhtNodeOptions {
  return {
    socketFactory: () => delayedSocket(),
    host: hostFor(i),
    port: 0,
    id: randomId(rng),
    allowPrivate: true,
    adoptBep42Id: false,
    outgoingRate: 1_000_000,
    outgoingBurst: 1_000_000,
    ...(ALPHA === undefined ? {} : { alpha: ALPHA }),
    ...extra,
  };
}

const addr = (n: DhtNode): string => {
  const a = n.address()!;
  return `${a.host}:${a.port}`;
};


/** `--churn`: only phase 6; `--no-churn`: phases 1-5 only; neither: all. */
const CHURN_ONLY = process.argv.includes('--churn');
const CHURN = !process.argv.includes('--no-churn');
if (CHURN_ONLY) {
  await churnPhase();
  process.exit(0);
}

// ---------------------------------------------------------------------------------------------
// 1. The network

const network: DhtNode[] = [];
const tBuild = performance.now();
const first = new DhtNode(nodeOptions(0, { bootstrap: [] }));
await first.start();
network.push(first);
let joinQueries = 0;
while (network.length < NODES) {
  const batch = Math.min(WAVE, NODES - network.length);
  const base = network.length;
  const joiners = await Promise.all(
    Array.from({ length: batch }, async (_, j) => {
      const seeds = Array.from({ length: 3 }, () => addr(pick(network)));
      const node = new DhtNode(nodeOptions(base + j, { bootstrap: seeds }));
      node.once('bootstrapped', (e) => (joinQueries += e.queries));
      await node.start();
      await node.bootstrap({ signal: AbortSignal.timeout(30_000) });
      return node;
    }),
  );
  network.push(...joiners);
}
const tJoined = performance.now();
// One refresh round (own-id lookup), in batches so the single event loop is not swamped.
for (let i = 0; i < network.length; i += 100) {
  await Promise.all(network.slice(i, i + 100).map((n) => n.bootstrap({ signal: AbortSignal.timeout(30_000) })));
}
const tRefreshed = performance.now();
const sizes = network.map((n) => n.table()!.size);
const timeoutsDuringBuild = network.reduce((s, n) => s + n.stats().families['ipv4']!.socket.timeouts, 0);
console.log(
  `network: ${NODES} nodes joined in ${((tJoined - tBuild) / 1000).toFixed(1)} s (waves of ${WAVE}, ${joinQueries} join queries), ` +
    `refresh round ${((tRefreshed - tJoined) / 1000).toFixed(1)} s; table size median ${median(sizes)}, min ${Math.min(...sizes)}, ` +
    `max ${Math.max(...sizes)}; query timeouts so far ${timeoutsDuringBuild}`,
);

// ---------------------------------------------------------------------------------------------
// 2. Announced infohashes

const hashes: Array<{ infoHash: Buffer; peers: Set<string> }> = [];
for (let h = 0; h < INFOHASHES; h++) {
  const infoHash = randomId(rng);
  const announcers = new Set<DhtNode>();
  while (announcers.size < ANNOUNCERS) announcers.add(pick(network));
  const peers = new Set<string>();
  await Promise.all(
    [...announcers].map(async (n, j) => {
      const port = 20_000 + h * 10 + j;
      const outcome = await n.announce(infoHash, { port });
      if (outcome.announced.length > 0) peers.add(`${n.address()!.host}:${port}`);
    }),
  );
  hashes.push({ infoHash, peers });
}
console.log(`announced: ${INFOHASHES} infohashes x ${ANNOUNCERS} peers`);

// ---------------------------------------------------------------------------------------------
// 3. bittorrent-dht client and our newcomer, bootstrapped from the same 16 loopback addresses

const bootstrapList = Array.from({ length: BOOTSTRAP_SEEDS }, () => addr(pick(network)));
const dht = new DHT({ bootstrap: bootstrapList, socket: delayedSocket() });
dht.listen(0, hostFor(NODES)); // synchronously, so its populate lookup goes out from this address
const counters = { getPeers: 0, datagrams: 0, queriesIn: 0 };
rpcOf(dht).on('query', () => counters.queriesIn++);
{
  const sock = rpcOf(dht).socket;
  const query = sock.query.bind(sock);
  sock.query = (peer, q, cb) => {
    if (String(q.q) === 'get_peers') counters.getPeers++;
    return query(peer, q, cb);
  };
  const send = sock.socket.send.bind(sock.socket);
  sock.socket.send = (...args: unknown[]) => {
    counters.datagrams++;
    send(...args);
  };
}
await new Promise<void>((resolve) => dht.once('ready', () => resolve()));
const newcomer = new DhtNode(nodeOptions(NODES + 1, { bootstrap: bootstrapList }));
await newcomer.start();
await newcomer.bootstrap({ signal: AbortSignal.timeout(30_000) });
console.log(`bittorrent-dht client table: ${dht.nodes.toArray().length} nodes; our newcomer's table: ${newcomer.table()!.size} nodes`);

// ---------------------------------------------------------------------------------------------
// 4. Lookups

interface Sample {
  ms: number;
  /** CPU time of this process (user + system) during the lookup: the whole network's work. */
  cpuMs: number;
  firstPeerMs: number;
  queries: number;
  datagrams: number;
  /** Queries the looking-up node received meanwhile (answering nodes verifying it with a ping). */
  queriesIn: number;
  found: number;
  expected: number;
}
type Kind = 'ours (network node)' | 'ours (newcomer)' | 'bittorrent-dht';
const ALL_KINDS: Kind[] = ['ours (network node)', 'ours (newcomer)', 'bittorrent-dht'];
/** ONLY=ours or ONLY=theirs runs a subset (for profiling one side); the default runs all three. */
const ONLY = process.env['ONLY'];
const KINDS = ALL_KINDS.filter((k) => ONLY === undefined || (ONLY === 'theirs') === (k === 'bittorrent-dht'));
let oursExhausted = 0;

const sum = (r: Record<string, number>): number => Object.values(r).reduce((a, b) => a + b, 0);

function cpuSince(c0: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(c0);
  return (d.user + d.system) / 1000;
}

async function ours(node: DhtNode, infoHash: Buffer, expected: Set<string>): Promise<Sample> {
  const before = node.socket()!.stats();
  const found = new Set<string>();
  let firstPeerMs = NaN;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let result;
  for await (const e of node.findPeers(infoHash)) {
    if (e.type === 'peers') {
      for (const p of e.peers) {
        const key = `${p.host}:${p.port}`;
        if (expected.has(key) && !found.has(key)) {
          found.add(key);
          if (found.size === 1) firstPeerMs = performance.now() - t0;
        }
      }
    } else if (e.type === 'done') result = e.result;
  }
  const ms = performance.now() - t0;
  const cpuMs = cpuSince(c0);
  if (result!.exhausted) oursExhausted++;
  const after = node.socket()!.stats();
  const datagrams = after.datagramsOut - before.datagramsOut;
  const queriesIn = sum(after.queriesIn) - sum(before.queriesIn);
  return { ms, cpuMs, firstPeerMs, queries: result!.queries, datagrams, queriesIn, found: found.size, expected: expected.size };
}

function theirs(infoHash: Buffer, expected: Set<string>): Promise<Sample> {
  return new Promise((resolve, reject) => {
    const found = new Set<string>();
    let firstPeerMs = NaN;
    const q0 = counters.getPeers;
    const d0 = counters.datagrams;
    const i0 = counters.queriesIn;
    const onPeer = (peer: { host: string; port: number }, hash: Buffer): void => {
      const key = `${peer.host}:${peer.port}`;
      if (hash.equals(infoHash) && expected.has(key) && !found.has(key)) {
        found.add(key);
        if (found.size === 1) firstPeerMs = performance.now() - t0;
      }
    };
    dht.on('peer', onPeer);
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    dht.lookup(infoHash, (err) => {
      const ms = performance.now() - t0;
      const cpuMs = cpuSince(c0);
      dht.off('peer', onPeer);
      if (err) return reject(err);
      resolve({ ms, cpuMs, firstPeerMs, queries: counters.getPeers - q0, datagrams: counters.datagrams - d0, queriesIn: counters.queriesIn - i0, found: found.size, expected: expected.size });
    });
  });
}

const run = (kind: Kind, h: { infoHash: Buffer; peers: Set<string> }): Promise<Sample> =>
  kind === 'bittorrent-dht' ? theirs(h.infoHash, h.peers) : ours(kind === 'ours (newcomer)' ? newcomer : pick(network), h.infoHash, h.peers);

// Warm-up on infohashes nobody announced (JIT, their lookup-table LRU); discarded.
for (let i = 0; i < WARMUP; i++) {
  const h = { infoHash: randomId(rng), peers: new Set<string>() };
  for (const kind of KINDS) await run(kind, h);
}

/** LOOKUPS rounds of one lookup per kind, in rotating order, then the tables. */
async function phase(title: string, lookups: number): Promise<void> {
  const samples: Record<Kind, Sample[]> = { 'ours (network node)': [], 'ours (newcomer)': [], 'bittorrent-dht': [] };
  const t0 = performance.now();
  for (let i = 0; i < lookups; i++) {
    const h = hashes[i % hashes.length]!;
    for (let j = 0; j < KINDS.length; j++) {
      const kind = KINDS[(i + j) % KINDS.length]!;
      samples[kind].push(await run(kind, h));
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  const col = (kind: Kind, key: keyof Sample): number[] => samples[kind].map((s) => s[key]).filter((x) => !Number.isNaN(x));

  console.log(`\n## ${title}`);
  console.log(
    `Node ${process.version}, ${NODES}-node loopback network in one process, ${INFOHASHES} infohashes x ${ANNOUNCERS} announced peers, ` +
      `${lookups} lookups per row, run one at a time (${seconds.toFixed(1)} s)\n`,
  );
  console.log(
    row(['lookup', 'queries median', 'queries p95', 'ms median', 'ms p95', 'CPU ms median', 'first peer ms median', 'datagrams sent median', 'queries received median', 'announced peers found']),
  );
  console.log(row(['---', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:']));
  for (const kind of KINDS) {
    const s = samples[kind];
    const found = s.reduce((n, x) => n + x.found, 0);
    const expected = s.reduce((n, x) => n + x.expected, 0);
    console.log(
      row([
        kind,
        f0(median(col(kind, 'queries'))),
        f0(p95(col(kind, 'queries'))),
        f1(median(col(kind, 'ms'))),
        f1(p95(col(kind, 'ms'))),
        f1(median(col(kind, 'cpuMs'))),
        f1(median(col(kind, 'firstPeerMs'))),
        f0(median(col(kind, 'datagrams'))),
        f0(median(col(kind, 'queriesIn'))),
        `${found}/${expected}`,
      ]),
    );
  }
  if (!KINDS.includes('bittorrent-dht') || KINDS.length === 1) return;
  const ours = KINDS.filter((k) => k !== 'bittorrent-dht');
  const ratio = (kind: Kind, key: keyof Sample, q: number): number => quantile(col(kind, key), q) / quantile(col('bittorrent-dht', key), q);
  console.log('');
  console.log(row(['ratio (ours / bittorrent-dht)', 'queries median', 'queries p95', 'ms median', 'ms p95']));
  console.log(row(['---', '---:', '---:', '---:', '---:']));
  for (const kind of ours) {
    console.log(
      row([kind, ratio(kind, 'queries', 0.5).toFixed(2), ratio(kind, 'queries', 0.95).toFixed(2), ratio(kind, 'ms', 0.5).toFixed(2), ratio(kind, 'ms', 0.95).toFixed(2)]),
    );
  }
  console.log('');
  for (const kind of ours) {
    const q = ratio(kind, 'queries', 0.5);
    const t = ratio(kind, 'ms', 0.5);
    console.log(
      `target "fewer queries and at most half the time" for ${kind}: ${q < 1 && t <= 0.5 ? 'MET' : 'NOT MET'} ` +
        `(queries ${q.toFixed(2)}x: ${q < 1 ? 'met' : 'not met'}; time ${t.toFixed(2)}x: ${t <= 0.5 ? 'met' : 'not met'})`,
    );
  }
}

console.log(`\n# Lookup benchmark: get_peers, ours vs bittorrent-dht 11.0.12 (medians and p95 over lookups; ratios ours / theirs)`);
await phase('Loopback as is (round trip = processing only; the whole network shares one process)', LOOKUPS);
if (LATENCY_MS > 0) {
  delayMs = LATENCY_MS;
  await phase(`With ${LATENCY_MS} ms added to every datagram (round trip ${2 * LATENCY_MS} ms + processing)`, LATENCY_LOOKUPS);
  delayMs = 0;
}
console.log('');
const timeouts = [...network, newcomer].reduce((s, n) => s + n.socket()!.stats().timeouts, 0);
console.log(`our lookups that stopped at maxQueries: ${oursExhausted}; query timeouts in the whole network (build included): ${timeouts}`);

await new Promise<void>((resolve) => dht.destroy(() => resolve()));
await Promise.all([...network, newcomer].map((n) => n.stop()));
if (CHURN) await churnPhase();
process.exit(0);
