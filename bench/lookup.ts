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
 *    A mixed testnet (crawler/testnet, Testnet.start): CHURN_NODES = 1,000 nodes, MIXED_NETWORK
 *    (30% real bittorrent-dht processes, 4 real libtorrent processes, our nodes in the behaviour
 *    profiles of other clients), no dead nodes, and CHURN_GONE = 10% of ALL nodes gone: the
 *    testnet's `gone` share (a fraction of our answering nodes) is computed from the plan so that
 *    gone nodes are 10% of all nodes; they take part in the announces, then leave, still listed
 *    in others' tables. Addresses 127.90.x.y (nodes), 127.91.x.y (announcers), no test uses them
 *    (CHURN_ADDRESS_BASE moves them). Each of CHURN_ROUNDS rounds picks an infohash with a known
 *    announced peer (ground truth) and runs, one at a time, alternating which goes first:
 *    - ours: a cold `dhtscope peers <ih> --bootstrap <testnet bootstrap> --host H` child process
 *      (bin/dhtscope.mjs: start, join from one address, look up). Without --json, so that each
 *      peer line reaches stdout when the lookup finds it (with --json peers only come at the end);
 *    - theirs: a cold bittorrent-dht 11 client in a child process (`new DHT({ bootstrap: [that
 *      address] })`, listen on H, wait for 'ready', `lookup(ih)`), with one guard on its socket:
 *      no datagram to an address outside 127.0.0.0/8 (bogon-contacts nodes advertise 10.x,
 *      192.168.x, ... contacts; bittorrent-dht would send to them; ours never does).
 *    Time: from spawn to the known peer's arrival, and to the process's exit ("done"). Queries:
 *    datagrams the testnet's addresses received from H, counted by the receivers
 *    (Testnet.received), the same count for both. H differs per client and round
 *    (127.92.1.r for ours, 127.92.2.r for theirs; both loopback, neither known to the network):
 *    receiver counts then need no before/after difference, and per-IP state left by one client
 *    (rate limits, querier verification) never favours or hinders the other. After each round
 *    the clients are removed from the bittorrent-dht nodes' tables (they add any querier), so
 *    departed clients do not pile up as extra churn. Target: ours no slower, fewer queries.
 *    Knobs: CHURN_NODES, CHURN_ROUNDS, CHURN_GONE, CHURN_SEED, CHURN_ADDRESS_BASE,
 *    CHURN_THEIRS_READY=0 (theirs calls lookup() at once, as bittorrent-dht's README example
 *    does, instead of after 'ready', which waits for its populate lookup), CHURN_VERBOSE=1
 *    (one line per round), CHURN_DHTSCOPE=path (the CLI entry to run instead of
 *    bin/dhtscope.mjs, e.g. a tsc-compiled cli/main.js, to see what ts-node's start-up costs).
 */
import { spawn } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import type { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import DHT from 'bittorrent-dht';
import { sleep } from '../bep5/clock.js';
import { DhtNode } from '../bep5/node.js';
import { type DhtNodeOptions } from '../bep5/node-types.js';
import { randomId } from '../bep5/node-id.js';
import { randomInt, seededRandom } from '../bep5/random.js';
import { planTestnet } from '../crawler/testnet/plan.js';
import { MIXED_NETWORK } from '../crawler/testnet/profiles.js';
import { Testnet } from '../crawler/testnet/testnet.js';

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
// bittorrent-dht is typed by test/types/bittorrent-dht.d.ts; these are the internals of its
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

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}
const median = (xs: number[]): number => quantile(xs, 0.5);
const p95 = (xs: number[]): number => quantile(xs, 0.95);
const f1 = (n: number): string => (Number.isNaN(n) ? '-' : n.toFixed(1));
const f0 = (n: number): string => n.toFixed(0);
const row = (cells: string[]): string => `| ${cells.join(' | ')} |`;

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

// ---------------------------------------------------------------------------------------------
// 6. Churn: a cold `dhtscope peers` against a cold bittorrent-dht client, both child processes,
// on a mixed testnet where 10% of all nodes are gone but still listed in others' tables.
// (Function declarations only: `--churn` calls churnPhase() before phases 1-5 run.)

interface ChurnSample {
  host: string;
  /** Spawn → the known peer's arrival (NaN: not found). */
  peerMs: number;
  /** Spawn → process exit. */
  doneMs: number;
  /** Theirs: spawn → 'ready' (its populate lookup done); NaN for ours. */
  readyMs: number;
  exitCode: number | null;
  /** Datagrams the testnet's addresses received from `host` (receivers' count). */
  datagrams: number;
  /** ... of which to gone nodes. */
  toGone: number;
  /** Distinct testnet addresses that received anything from `host`. */
  receivers: number;
  /** What the client says it sent: ours `nodesQueried` (get_peers), theirs every query by method. */
  selfReport: string;
  /** Theirs: sends refused by the loopback-only guard (bogon contacts). */
  blocked: number;
  /** Theirs: answers it sent to queries (testnet nodes verifying it); part of `datagrams`. */
  replies: number;
}

/** The bittorrent-dht client, as an ES module run with `node --input-type=module -e` from the repository root. */
function theirsScript(): string {
  return `
import DHT from 'bittorrent-dht';
import { createSocket } from 'node:dgram';
const [host, bootstrap, infoHashHex, wantPeer, waitReady] = process.argv.slice(1);
const out = (line) => process.stdout.write(line + '\\n');
const counts = { queries: {}, replies: 0, blocked: 0 };
// Loopback only: bogon-contacts nodes advertise 10.x, 192.168.x, 224.x ... contacts.
const socket = createSocket('udp4');
const send = socket.send.bind(socket);
socket.send = (...args) => {
  const address = args.length >= 5 ? args[4] : args[2];
  if (typeof address !== 'string' || !address.startsWith('127.')) {
    counts.blocked++;
    const cb = args[args.length - 1];
    if (typeof cb === 'function') process.nextTick(cb, new Error('blocked: not loopback'));
    return;
  }
  send(...args);
};
const dht = new DHT({ bootstrap: [bootstrap], socket });
const rpc = dht._rpc.socket;
const query = rpc.query.bind(rpc);
rpc.query = (peer, q, cb) => { const m = String(q.q); counts.queries[m] = (counts.queries[m] ?? 0) + 1; return query(peer, q, cb); };
const response = rpc.response.bind(rpc);
rpc.response = (...a) => { counts.replies++; return response(...a); };
dht.on('error', (err) => out('error ' + err.message));
dht.listen(0, host);
const infoHash = Buffer.from(infoHashHex, 'hex');
let found = false;
dht.on('peer', (peer, hash) => {
  if (!found && hash.equals(infoHash) && peer.host + ':' + peer.port === wantPeer) { found = true; out('peer'); }
});
const lookup = () => dht.lookup(infoHash, (err) => {
  out('done ' + JSON.stringify({ error: err ? err.message : null, ...counts, table: dht.nodes.toArray().length }));
  dht.destroy(() => process.exit(0));
});
if (waitReady === '1') dht.once('ready', () => { out('ready'); lookup(); });
else lookup();
`;
}

/** Spawns `node ...args` from the repository root; every stdout/stderr line with its time since spawn. */
function runTimed(args: string[], onLine: (stream: 'out' | 'err', line: string, ms: number) => void, timeoutMs: number): Promise<{ ms: number; code: number | null }> {
  const root = fileURLToPath(new URL('..', import.meta.url));
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    let exitedMs = NaN;
    for (const [name, stream] of [['out', child.stdout], ['err', child.stderr]] as const) {
      let buffered = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        const ms = performance.now() - t0;
        buffered += chunk;
        for (let i = buffered.indexOf('\n'); i >= 0; i = buffered.indexOf('\n')) {
          onLine(name, buffered.slice(0, i), ms);
          buffered = buffered.slice(i + 1);
        }
      });
    }
    child.on('exit', () => (exitedMs = performance.now() - t0));
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ ms: Number.isNaN(exitedMs) ? performance.now() - t0 : exitedMs, code });
    });
  });
}

async function receivedFrom(testnet: Testnet, host: string, gone: Set<string>): Promise<Pick<ChurnSample, 'datagrams' | 'toGone' | 'receivers'>> {
  const { byNode, refusedSends } = await testnet.received([host]);
  if (refusedSends > 0) throw new Error(`testnet nodes tried ${refusedSends} sends outside 127.0.0.0/8`);
  let datagrams = 0;
  let toGone = 0;
  let receivers = 0;
  for (const [address, n] of byNode) {
    if (n === 0) continue;
    datagrams += n;
    receivers++;
    if (gone.has(address)) toGone += n;
  }
  return { datagrams, toGone, receivers };
}

async function churnPhase(): Promise<void> {
  const nodes = Number(process.env['CHURN_NODES'] ?? 1000);
  const rounds = Number(process.env['CHURN_ROUNDS'] ?? 24);
  const goneOfAll = Number(process.env['CHURN_GONE'] ?? 0.1);
  const seed = Number(process.env['CHURN_SEED'] ?? 90);
  const addressBase = Number(process.env['CHURN_ADDRESS_BASE'] ?? 90);
  const waitReady = process.env['CHURN_THEIRS_READY'] !== '0';
  const entry = process.env['CHURN_DHTSCOPE'] ?? 'bin/dhtscope.mjs';
  // Nodes at 127.<base>.x.y, announcers and the testnet's probe at 127.<base+1>.x.y, clients here:
  const clientNet = `127.${addressBase + 2}`;
  const options = { nodes, infohashes: 200, seed, addressBase, ...MIXED_NETWORK, profiles: { ...MIXED_NETWORK.profiles } };
  // `gone` is a share of our answering nodes (not node 0), drawn per node: size it so that
  // exactly round(goneOfAll x nodes) of ALL nodes are gone. The plan makes the same draws
  // whatever `gone` is (no `leaving`), so the number gone grows with it: bisect on the plan.
  const goneCount = (share: number): number => planTestnet({ ...options, gone: share }, 1).nodes.filter((n) => n.leavesAtMs === 0).length;
  const eligible = planTestnet(options, 1).nodes.filter((n) => n.index !== 0 && n.kind === 'dhtscope' && n.responsive).length;
  const wanted = Math.min(eligible, Math.round(goneOfAll * nodes));
  let [lo, hi] = [0, 1];
  for (let i = 0; i < 40 && goneCount(hi) !== wanted; i++) {
    const mid = (lo + hi) / 2;
    if (goneCount(mid) < wanted) lo = mid;
    else hi = mid;
  }
  const gone = hi;

  console.log(`\n## Cold lookups with churn: \`dhtscope peers\` vs a bittorrent-dht 11 client, both cold child processes`);
  const tStart = performance.now();
  const testnet = await Testnet.start({ ...options, gone });
  try {
    const truth = testnet.groundTruth;
    const count = (p: (n: (typeof truth.nodes)[number]) => boolean): number => truth.nodes.filter(p).length;
    const goneSet = new Set(truth.nodes.filter((n) => n.leavesAtMs === 0).map((n) => n.address));
    const silentToAll = count((n) => !n.responsive); // read-only profile: answers nothing
    const kinds = ['dhtscope', 'bittorrent-dht', 'libtorrent', 'dead'].map((k) => `${k} ${count((n) => n.kind === k)}`).join(', ');
    console.log(
      `Node ${process.version}; testnet of ${truth.nodes.length} nodes (${kinds}; seed ${seed}) started in ${((performance.now() - tStart) / 1000).toFixed(1)} s. ` +
        `Gone (left after the announces, still in tables): ${goneSet.size} nodes = ${((100 * goneSet.size) / truth.nodes.length).toFixed(1)}% of ALL nodes ` +
        `(testnet option gone = ${gone.toFixed(3)} of our ${eligible} answering nodes); BEP 43 read-only (never answer, in no table): ${silentToAll}; ` +
        `${Object.keys(truth.peers).length} infohashes announced on their K = 8 closest answering nodes (${truth.announceFailures} announces failed). ` +
        `Bootstrap for both clients: ${testnet.bootstrap}.`,
    );

    // Infohashes with a known peer that at least one node still present stores.
    const present = new Set(truth.nodes.filter((n) => n.responsive && n.leavesAtMs !== 0).map((n) => n.address));
    const candidates = Object.keys(truth.peers).filter((ih) => (truth.infohashes[ih] ?? []).some((a) => present.has(a)));
    const random = seededRandom(seed * 7 + 1);
    const picked: string[] = [];
    while (picked.length < Math.min(rounds, candidates.length)) picked.push(candidates.splice(randomInt(random, candidates.length), 1)[0]!);
    const storersGone = picked.map((ih) => (truth.infohashes[ih] ?? []).filter((a) => goneSet.has(a)).length);
    console.log(
      `${picked.length} rounds, one infohash each (of its storing nodes, gone: median ${median(storersGone)}, max ${Math.max(...storersGone)}); ` +
        `clients bind ${clientNet}.1.r (ours) and ${clientNet}.2.r (theirs): the same kind of address (loopback, unknown to the network), ` +
        `a new one per client and round, so the receivers' counts need no before/after difference and no per-IP state ` +
        `(rate limits, querier verification) carries over from one client to the other.`,
    );

    // Process start-up alone, for reading the times below.
    const startups = { ours: [] as number[], theirs: [] as number[] };
    for (let i = 0; i < 3; i++) {
      startups.ours.push((await runTimed([entry, 'peers', '--help'], () => {}, 30_000)).ms);
      startups.theirs.push((await runTimed(['--input-type=module', '-e', "import 'bittorrent-dht'"], () => {}, 30_000)).ms);
    }

    const foreign = testnet.foreignHosts;
    const samples = { ours: [] as ChurnSample[], theirs: [] as ChurnSample[] };
    let forgotten = 0;
    const tRounds = performance.now();
    for (let r = 0; r < picked.length; r++) {
      const ih = picked[r]!;
      const peer = truth.peers[ih]!;
      const oursHost = `${clientNet}.1.${r + 1}`;
      const theirsHost = `${clientNet}.2.${r + 1}`;
      const runOurs = async (): Promise<Omit<ChurnSample, 'datagrams' | 'toGone' | 'receivers'>> => {
        let peerMs = NaN;
        let selfReport = '?';
        const args = [entry, 'peers', ih, '--bootstrap', testnet.bootstrap, '--host', oursHost, '--timeout', '30'];
        const { ms, code } = await runTimed(
          args,
          (stream, line, at) => {
            if (stream === 'out' && line.trim() === peer && Number.isNaN(peerMs)) peerMs = at;
            const m = stream === 'err' ? /(\d+) nodes queried/.exec(line) : null;
            if (m) selfReport = `get_peers ${m[1]}`;
          },
          40_000,
        );
        return { host: oursHost, peerMs, doneMs: ms, readyMs: NaN, exitCode: code, selfReport, blocked: 0, replies: 0 };
      };
      const runTheirs = async (): Promise<Omit<ChurnSample, 'datagrams' | 'toGone' | 'receivers'>> => {
        let peerMs = NaN;
        let readyMs = NaN;
        let selfReport = '?';
        let blocked = 0;
        let replies = 0;
        const args = ['--input-type=module', '-e', theirsScript(), theirsHost, testnet.bootstrap, ih, peer, waitReady ? '1' : '0'];
        const { ms, code } = await runTimed(
          args,
          (stream, line, at) => {
            if (stream !== 'out') return;
            if (line === 'peer' && Number.isNaN(peerMs)) peerMs = at;
            else if (line === 'ready') readyMs = at;
            else if (line.startsWith('done ')) {
              const d = JSON.parse(line.slice(5)) as { queries: Record<string, number>; replies: number; blocked: number };
              selfReport = Object.entries(d.queries).map(([q, n]) => `${q} ${n}`).join(', ') + (d.replies > 0 ? `; ${d.replies} replies` : '');
              blocked = d.blocked;
              replies = d.replies;
            }
          },
          40_000,
        );
        return { host: theirsHost, peerMs, doneMs: ms, readyMs, exitCode: code, selfReport, blocked, replies };
      };
      let ours;
      let theirs;
      if (r % 2 === 0) {
        ours = await runOurs();
        await sleep(200);
        theirs = await runTheirs();
      } else {
        theirs = await runTheirs();
        await sleep(200);
        ours = await runOurs();
      }
      await sleep(300); // datagrams still queued at the receivers
      samples.ours.push({ ...ours, ...(await receivedFrom(testnet, oursHost, goneSet)) });
      samples.theirs.push({ ...theirs, ...(await receivedFrom(testnet, theirsHost, goneSet)) });
      // bittorrent-dht nodes add every querier: take this round's clients out of their tables again.
      for (const host of foreign) {
        if (host.kind !== 'bittorrent-dht') continue;
        const ids = new Set<string>();
        for (const contacts of (await host.tables()).values()) for (const c of contacts) if (c.host.startsWith(`${clientNet}.`)) ids.add(c.id);
        for (const id of ids) await host.forget(id);
        forgotten += ids.size;
      }
      if (process.env['CHURN_VERBOSE']) {
        const o = samples.ours.at(-1)!;
        const t = samples.theirs.at(-1)!;
        console.log(
          `round ${r + 1}: ours peer ${f0(o.peerMs)} ms, exit ${f0(o.doneMs)} ms, ${o.datagrams} datagrams (${o.toGone} to gone), ${o.selfReport}; ` +
            `theirs ready ${f0(t.readyMs)} ms, peer ${f0(t.peerMs)} ms, exit ${f0(t.doneMs)} ms, ${t.datagrams} datagrams (${t.toGone} to gone), ${t.selfReport}, blocked ${t.blocked}`,
        );
      }
    }
    let libtorrentListing = 0;
    for (const host of foreign) {
      if (host.kind !== 'libtorrent') continue;
      for (const contacts of (await host.tables()).values()) libtorrentListing += contacts.filter((c) => c.host.startsWith(`${clientNet}.`)).length;
    }

    const p90 = (xs: number[]): number => quantile(xs, 0.9);
    const col = (s: ChurnSample[], key: 'peerMs' | 'doneMs' | 'readyMs' | 'datagrams' | 'toGone' | 'receivers'): number[] => s.map((x) => x[key]).filter((x) => !Number.isNaN(x));
    console.log(
      `\n${picked.length} rounds in ${((performance.now() - tRounds) / 1000).toFixed(0)} s. Process start-up alone (spawn → exit, median of 3): ` +
        `\`dhtscope peers --help\` ${f0(median(startups.ours))} ms (${entry}${entry === 'bin/dhtscope.mjs' ? ': ts-node, transpile only' : ''}), \`import 'bittorrent-dht'\` ${f0(median(startups.theirs))} ms.\n`,
    );
    console.log(
      row(['cold client', 'found the peer', 'time to peer median', 'p90', 'done (exit) median', 'p90', 'queries (datagrams at receivers) median', 'p90', 'to gone nodes median', 'nodes contacted median']),
    );
    console.log(row(['---', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:']));
    for (const [name, s] of [
      ['ours: `dhtscope peers`', samples.ours],
      [`bittorrent-dht 11${waitReady ? " (lookup after 'ready')" : ' (lookup at once)'}`, samples.theirs],
    ] as const) {
      console.log(
        row([
          name,
          `${s.filter((x) => !Number.isNaN(x.peerMs)).length}/${s.length}`,
          f0(median(col(s, 'peerMs'))),
          f0(p90(col(s, 'peerMs'))),
          f0(median(col(s, 'doneMs'))),
          f0(p90(col(s, 'doneMs'))),
          f0(median(col(s, 'datagrams'))),
          f0(p90(col(s, 'datagrams'))),
          f0(median(col(s, 'toGone'))),
          f0(median(col(s, 'receivers'))),
        ]),
      );
    }
    const ratio = (key: 'peerMs' | 'doneMs' | 'datagrams', q: number): number => quantile(col(samples.ours, key), q) / quantile(col(samples.theirs, key), q);
    console.log('');
    console.log(row(['ratio ours / bittorrent-dht', 'time to peer median', 'p90', 'done median', 'p90', 'queries median', 'p90']));
    console.log(row(['---', '---:', '---:', '---:', '---:', '---:', '---:']));
    console.log(
      row(['', ratio('peerMs', 0.5).toFixed(2), ratio('peerMs', 0.9).toFixed(2), ratio('doneMs', 0.5).toFixed(2), ratio('doneMs', 0.9).toFixed(2), ratio('datagrams', 0.5).toFixed(2), ratio('datagrams', 0.9).toFixed(2)]),
    );
    const readies = col(samples.theirs, 'readyMs');
    const blocked = samples.theirs.reduce((n, x) => n + x.blocked, 0);
    const failed = [...samples.ours, ...samples.theirs].filter((x) => x.exitCode !== 0 && !(x.exitCode === 1 && Number.isNaN(x.peerMs)));
    console.log(
      (waitReady ? `\nbittorrent-dht's 'ready' (its populate lookup done, which waits out its 2 s query timeouts) at median ${f0(median(readies))} ms. ` : '\n') +
        `Its sends to non-loopback bogon contacts refused by the guard (not counted above): ${blocked} in all. ` +
        `Its datagrams above include its answers to the testnet's pings (median ${f0(median(samples.theirs.map((x) => x.replies)))}; ours is BEP 43 read-only, never pinged). ` +
        `Self-reported queries, first round: ours ${samples.ours[0]?.selfReport}; theirs ${samples.theirs[0]?.selfReport}. ` +
        `Client entries removed from bittorrent-dht nodes' tables after the rounds: ${forgotten}; listed by libtorrent nodes at the end: ${libtorrentListing}. ` +
        `Unexpected exit codes: ${failed.length === 0 ? 'none' : failed.map((x) => `${x.host} ${x.exitCode}`).join(', ')}.`,
    );
    const found = (s: ChurnSample[]): number => s.filter((x) => !Number.isNaN(x.peerMs)).length;
    const t = ratio('peerMs', 0.5);
    const q = ratio('datagrams', 0.5);
    const met = t <= 1 && q < 1 && found(samples.ours) >= found(samples.theirs);
    console.log(
      `target "no slower than bittorrent-dht, fewer queries": ${met ? 'MET' : 'NOT MET'} (time to peer ${t.toFixed(2)}x: ${t <= 1 ? 'met' : 'not met'}; ` +
        `queries ${q.toFixed(2)}x: ${q < 1 ? 'met' : 'not met'}; peer found ${found(samples.ours)}/${samples.ours.length} vs ${found(samples.theirs)}/${samples.theirs.length})`,
    );
  } finally {
    await testnet.stop();
  }
}
