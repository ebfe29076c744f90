/**
 * Footprint benchmark (issue 16, item 3): the real `dhtscope node` executable (bin/dhtscope.mjs,
 * which runs the JavaScript build in dist/) against a bittorrent-dht 11.0.12 node, side by side
 * in one run, each a child process on its own loopback address. Run from the repository root,
 * after `npm run build`. (One file over 400 lines: one benchmark, whose three measurements share
 * the child processes, the fill and the report; the BEP 44 items, their fill and their check
 * are in bench/footprint/bep44-fill.ts.)
 *
 *   node --import ./scripts/ts-node-register.mjs bench/footprint.ts          # about 1.5 min
 *   node --import ./scripts/ts-node-register.mjs bench/footprint.ts --json   # the numbers as one JSON object
 *
 * Ours: `node bin/dhtscope.mjs node --json --host H --port 0 --bootstrap none --data-dir DIR`
 * (DIR a fresh temporary directory per start). Theirs: `node --input-type=module -e SCRIPT`
 * where SCRIPT imports bittorrent-dht, creates `new DHT({ bootstrap: false })`, calls
 * `listen(0, H)` and prints one JSON line on 'listening'. Neither ever bootstraps; every address
 * is in 127.0.0.0/8: nodes 127.71.0.x (a new one per process), the peer fill's sources
 * 127.72.x.y, the peer checker 127.73.0.1, the BEP 44 fill's sources 127.74.0.x and its
 * checkers 127.74.1.x onwards, a new one each time (no test or other benchmark uses 127.71-74).
 *
 * 1. Start-up: time from spawn to the first stdout line (ours: the {"event":"listening"} line;
 *    theirs: its line printed on 'listening'), the child killed right after. One discarded
 *    warm-up start per side, then STARTS (5) starts per side, alternating which goes first;
 *    median. Target: ours within 0.3 s.
 * 2. Idle RSS: IDLE_STARTS (3) rounds; each starts ours and theirs together, waits for their
 *    listening lines, lets them sit idle IDLE_MS (3 s), then reads VmRSS (and VmHWM, RssAnon,
 *    RssFile) from /proc/PID/status of each child; median over rounds. Target: ours <= 70 MB.
 *    The same for three reference processes, for reading the figures: an empty Node process, one
 *    that only imports dist/bep5/node.js (our DhtNode, no CLI), one that only imports bittorrent-dht.
 * 3. Filled: FILL_ROUNDS (3) rounds; each starts a fresh pair (ours with --stats-interval 1,
 *    theirs printing the same counters each second), reads RSS after IDLE_MS ("empty"), then
 *    fills each in turn for real over UDP, peers first: SOURCES (400) sockets of our own KrpcSocket
 *    (bep5/krpc-socket.ts), one per source address 127.72.x.y, each sending, for each of its
 *    PER_SOURCE (25) infohashes, get_peers (for the token) then announce_peer with that token:
 *    10,000 <infohash, IP> entries over SWARMS (1,000) infohashes, 10 announcers each (our node
 *    keeps at most 32 entries per source address, so 25 per source all fit). 100 sources run at
 *    once, one query in flight each; a timed-out query is retried twice. The sources answer pings
 *    (both nodes may ping a querier before adding it to their routing table). After IDLE_MS
 *    more, RSS ("peers"); then each node in turn gets BEP44_ITEMS (1,000) immutable BEP 44
 *    items: ITEM_SOURCES (40) sockets, one per source address 127.74.0.x, each sending, for each
 *    of its ITEMS_PER_SOURCE (25) items, get (target = SHA-1 of the bencoded value; the reply
 *    gives a token) then put with that token and v (our node keeps at most 32 new items per
 *    source address, so 25 fit). Each v is a byte string of 400-900 bytes, length and content
 *    from a seeded source (about 0.65 MB over the 1,000). All 40 sources at once, one query in
 *    flight each, retried as above (bench/footprint/bep44-fill.ts). After IDLE_MS more: RSS
 *    ("full"), the node's own count of stored peers and infohashes (ours: its stats event;
 *    theirs: its record-cache's size), theirs' count of items (its `_values` LRU; ours prints
 *    no item count in its stats event), and checks from fresh addresses: get_peers for every
 *    10th infohash, counting the announced peers returned (10 each expected), and get for every
 *    10th item, split over ITEM_CHECKERS (4) fresh addresses (25 gets each: within our node's
 *    per-address query burst), counting the values returned byte for byte. Median RSS over
 *    rounds. Target: ours under 100 MB. bittorrent-dht keeps items in an LRU of at most
 *    `maxValues` (default 1,000: exactly the 1,000 items here) and refuses a v over 1,000
 *    bytes; immutable puts need no `verify` option.
 *
 * MB = 10^6 bytes (the /proc figures are KiB: x 1024). Progress goes to stderr; the report
 * (Markdown tables, then one summary line per target) to stdout, or with --json one JSON object.
 * Every child is killed at the end, on error too. Knobs: STARTS, IDLE_STARTS, IDLE_MS,
 * FILL_ROUNDS, NODE_ARGS (Node flags, space-separated, given to every child, ours and theirs and
 * the reference processes alike: e.g. NODE_ARGS=--max-semi-space-size=1 to see how much of the
 * RSS is V8's young generation). Always exits 0 when the run completes, whether or not the
 * targets are met.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { sleep } from '../bep5/clock.js';
import { type PeerAddress } from '../bep5/compact.js';
import { KrpcSocket } from '../bep5/krpc-socket.js';
import { randomId } from '../bep5/node-id.js';
import { seededRandom } from '../bep5/random.js';
import { requireFreshBuild } from '../testkit/build.js';
import { type ItemCheckResult, type ItemFillResult, checkItems, fillItems, makeItems, withRetry } from './footprint/bep44-fill.js';
import { median, row } from './table-stats.js';

const STARTS = Number(process.env['STARTS'] ?? 5);
const IDLE_STARTS = Number(process.env['IDLE_STARTS'] ?? 3);
const IDLE_MS = Number(process.env['IDLE_MS'] ?? 3_000);
const FILL_ROUNDS = Number(process.env['FILL_ROUNDS'] ?? 3);
const SOURCES = 400;
const PER_SOURCE = 25;
const SWARMS = 1_000;
const PEERS = SOURCES * PER_SOURCE;
const PEERS_PER_SWARM = PEERS / SWARMS;
const ITEM_SOURCES = 40;
const ITEMS_PER_SOURCE = 25;
const BEP44_ITEMS = ITEM_SOURCES * ITEMS_PER_SOURCE;
const ITEM_MIN_BYTES = 400;
const ITEM_MAX_BYTES = 900;
const ITEM_CHECKERS = 4;
const FILL_CONCURRENCY = 100;
const CHECK_EVERY = 10;
const QUERY_TIMEOUT_MS = 2_000;
const LINE_TIMEOUT_MS = 20_000;
const NODE_ARGS = (process.env['NODE_ARGS'] ?? '').split(' ').filter((a) => a !== '');

const TARGET_START_MS = 300;
const TARGET_IDLE_MB = 70;
const TARGET_FILLED_MB = 100;

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const JSON_OUT = process.argv.includes('--json');
const progress = (line: string): void => void process.stderr.write(`${line}\n`);
const MB = (bytes: number): number => bytes / 1e6;
const mb1 = (bytes: number): string => (Number.isNaN(bytes) ? '-' : MB(bytes).toFixed(1));
const ratio = (a: number, b: number): string => `${(a / b).toFixed(2)}x`;

// ---------------------------------------------------------------------------------------------
// Child processes

type Side = 'ours' | 'theirs';
const SIDES: Side[] = ['ours', 'theirs'];
const NAME: Record<Side, string> = { ours: 'dhtscope node', theirs: 'bittorrent-dht 11.0.12' };

/** Theirs: a bittorrent-dht node, argv [host, statsMs]; one JSON line on 'listening', then (statsMs > 0) its counters. */
const THEIRS = `
import DHT from 'bittorrent-dht';
const [host, statsMs] = process.argv.slice(1);
const dht = new DHT({ bootstrap: false });
dht.on('error', (err) => process.stderr.write('error ' + err.message + '\\n'));
dht.on('listening', () => {
  const a = dht.address();
  process.stdout.write(JSON.stringify({ event: 'listening', host: a.address, port: a.port }) + '\\n');
});
dht.listen(0, host);
if (Number(statsMs) > 0) {
  setInterval(() => {
    const p = dht._peers;
    const infohashes = new Set([...p._fresh.records.keys(), ...p._stale.records.keys()]).size;
    let itemBytes = 0;
    for (const key of Object.keys(dht._values.cache)) itemBytes += dht._values.cache[key].value.v.length;
    const items = dht._values.length;
    process.stdout.write(JSON.stringify({ event: 'stats', peers: p.size, infohashes, items, itemBytes, itemsMax: dht._values.max, tableSize: dht.nodes.count() }) + '\\n');
  }, Number(statsMs));
}
`;

/** Reference processes: each prints one line once loaded, then idles. */
const IDLE_TAIL = `process.stdout.write('{"event":"ready"}\\n'); setInterval(() => {}, 1 << 30);`;
const BASELINES: Array<{ name: string; args: string[] }> = [
  { name: 'empty Node process (`node -e`)', args: ['-e', IDLE_TAIL] },
  { name: 'imports dist/bep5/node.js only', args: ['--input-type=module', '-e', `await import(${JSON.stringify(pathToFileURL(join(ROOT, 'dist/bep5/node.js')).href)}); ${IDLE_TAIL}`] },
  { name: 'imports bittorrent-dht only', args: ['--input-type=module', '-e', `await import('bittorrent-dht'); ${IDLE_TAIL}`] },
];

interface Proc {
  label: string;
  host: string;
  child: ChildProcess;
  /** Spawn → first stdout line (parsed). */
  first: Promise<{ ms: number; event: Record<string, unknown> }>;
  lastStats: () => Record<string, unknown> | null;
  exited: Promise<void>;
}

const live = new Set<ChildProcess>();
function killAllNow(): void {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
}
process.on('exit', killAllNow);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    killAllNow();
    process.exit(130);
  });
}

let hostSeq = 0;
/** A new 127.71.x.y for every process, so none shares an address with another, past or present. */
const nextHost = (): string => {
  const n = hostSeq++;
  return `127.71.${Math.floor(n / 250)}.${1 + (n % 250)}`;
};

const tmp = mkdtempSync(join(tmpdir(), 'dhtscope-footprint-'));
let dirSeq = 0;

function startProcess(label: string, args: string[], host: string): Proc {
  const t0 = performance.now();
  const child = spawn(process.execPath, [...NODE_ARGS, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr = (stderr + s).slice(-4000)));
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      live.delete(child);
      resolve();
    }),
  );
  let stats: Record<string, unknown> | null = null;
  const first = new Promise<{ ms: number; event: Record<string, unknown> }>((resolve, reject) => {
    let seen = false;
    const timer = setTimeout(() => reject(new Error(`${label}: no stdout line within ${LINE_TIMEOUT_MS} ms; stderr: ${stderr}`)), LINE_TIMEOUT_MS);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const ms = performance.now() - t0;
      let event: Record<string, unknown>;
      try {
        event = JSON.parse(line) as Record<string, unknown>;
      } catch {
        event = { line };
      }
      if (!seen) {
        seen = true;
        clearTimeout(timer);
        resolve({ ms, event });
      }
      if (event['event'] === 'stats') stats = event;
    });
    void exited.then(() => {
      clearTimeout(timer);
      if (!seen) reject(new Error(`${label} exited (code ${child.exitCode}, signal ${child.signalCode}) before its first line; stderr: ${stderr}`));
    });
  });
  first.catch(() => undefined); // handled by whoever awaits it
  return { label, host, child, first, lastStats: () => stats, exited };
}

function startSide(side: Side, statsEverySecond = false): Proc {
  const host = nextHost();
  if (side === 'ours') {
    const dir = join(tmp, `node-${dirSeq++}`);
    const args = ['bin/dhtscope.mjs', 'node', '--json', '--host', host, '--port', '0', '--bootstrap', 'none', '--data-dir', dir];
    if (statsEverySecond) args.push('--stats-interval', '1');
    return startProcess(NAME.ours, args, host);
  }
  return startProcess(NAME.theirs, ['--input-type=module', '-e', THEIRS, host, statsEverySecond ? '1000' : '0'], host);
}

/** Waits for the listening line and checks it names the process's own loopback address. */
async function listening(p: Proc): Promise<{ ms: number; address: PeerAddress }> {
  const { ms, event } = await p.first;
  const host = event['host'];
  const port = event['port'];
  if (event['event'] !== 'listening' || host !== p.host || typeof port !== 'number' || port <= 0) {
    throw new Error(`${p.label}: unexpected first line ${JSON.stringify(event)} (expected listening on ${p.host})`);
  }
  return { ms, address: { host, port } };
}

async function stop(p: Proc): Promise<void> {
  if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  await p.exited;
}

interface Mem {
  /** VmRSS, VmHWM (peak RSS), RssAnon, RssFile: bytes. */
  rss: number;
  hwm: number;
  anon: number;
  file: number;
}

function readMem(p: Proc): Mem {
  const text = readFileSync(`/proc/${p.child.pid}/status`, 'utf8');
  const field = (name: string): number => {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text);
    if (m === null) throw new Error(`${p.label}: no ${name} in /proc/${p.child.pid}/status`);
    return Number(m[1]) * 1024;
  };
  return { rss: field('VmRSS'), hwm: field('VmHWM'), anon: field('RssAnon'), file: field('RssFile') };
}

const medianMem = (ms: Mem[]): Mem => ({
  rss: median(ms.map((m) => m.rss)),
  hwm: median(ms.map((m) => m.hwm)),
  anon: median(ms.map((m) => m.anon)),
  file: median(ms.map((m) => m.file)),
});

// ---------------------------------------------------------------------------------------------
// The fill: our own KRPC client, one socket per source address

interface Source {
  socket: KrpcSocket;
  id: Buffer;
  host: string;
}

interface FillResult {
  ms: number;
  /** announce_peer queries answered with success (ours answers success even when its caps refuse the entry). */
  announced: number;
  failed: number;
  retries: number;
  errors: Record<string, number>;
}

interface CheckResult {
  sampled: number;
  /** Announced peers (127.72.x.y) returned by get_peers over the sampled infohashes. */
  returned: number;
  expected: number;
  failed: number;
}

const rng = seededRandom(20261216);
const swarms = Array.from({ length: SWARMS }, () => randomId(rng));
/** Source i announces to infohashes i*25 .. i*25+24 (mod 1,000): each infohash gets 10 distinct sources. */
const swarmOf = (source: number, j: number): Buffer => swarms[(source * PER_SOURCE + j) % SWARMS]!;
const sourceHost = (i: number): string => `127.72.${1 + Math.floor(i / 200)}.${1 + (i % 200)}`;
/** Item source i puts items i*25 .. i*25+24: 25 each, all distinct. */
const items = makeItems(BEP44_ITEMS, ITEM_MIN_BYTES, ITEM_MAX_BYTES, 20261217);
const itemValueBytes = items.reduce((n, item) => n + item.v.length, 0);
const itemSourceHost = (i: number): string => `127.74.0.${1 + i}`;
let itemCheckerSeq = 0;
/** A new 127.74.1.x onwards for every item checker. */
const nextItemCheckerHost = (): string => {
  const n = itemCheckerSeq++;
  return `127.74.${1 + Math.floor(n / 250)}.${1 + (n % 250)}`;
};

async function openSource(host: string): Promise<Source> {
  const id = randomId(rng);
  const socket = new KrpcSocket({ timeoutMs: QUERY_TIMEOUT_MS });
  socket.handle('ping', () => ({ id }));
  await socket.bind(0, host);
  return { socket, id, host };
}

async function fill(sources: Source[], to: PeerAddress): Promise<FillResult> {
  const result: FillResult = { ms: 0, announced: 0, failed: 0, retries: 0, errors: {} };
  const retry = (): void => void result.retries++;
  const t0 = performance.now();
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < sources.length; i = next++) {
      const s = sources[i]!;
      for (let j = 0; j < PER_SOURCE; j++) {
        const infoHash = swarmOf(i, j);
        try {
          const { reply } = await withRetry(() => s.socket.query(to, { method: 'get_peers', id: s.id, infoHash }), retry);
          if (reply.token === undefined) throw new Error('get_peers reply without a token');
          const token = reply.token;
          await withRetry(() => s.socket.query(to, { method: 'announce_peer', id: s.id, infoHash, port: 20_000 + j, token }), retry);
          result.announced++;
        } catch (err) {
          result.failed++;
          const name = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
          result.errors[name] = (result.errors[name] ?? 0) + 1;
        }
      }
    }
  };
  await Promise.all(Array.from({ length: FILL_CONCURRENCY }, worker));
  result.ms = performance.now() - t0;
  return result;
}

async function check(checker: Source, to: PeerAddress): Promise<CheckResult> {
  const out: CheckResult = { sampled: 0, returned: 0, expected: 0, failed: 0 };
  for (let k = 0; k < SWARMS; k += CHECK_EVERY) {
    out.sampled++;
    out.expected += PEERS_PER_SWARM;
    try {
      const { reply } = await withRetry(() => checker.socket.query(to, { method: 'get_peers', id: checker.id, infoHash: swarms[k]! }), () => undefined);
      out.returned += reply.values.filter((v) => v.host.startsWith('127.72.')).length;
    } catch {
      out.failed++;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The run

requireFreshBuild();
const startedAt = performance.now();
const sources: Source[] = [];
const itemSources: Source[] = [];
/** Every item checker opened, closed at the end. */
const itemCheckers: Source[] = [];
let checker: Source | undefined;
const running = new Set<Proc>();
const track = (p: Proc): Proc => (running.add(p), p);
const stopAll = async (): Promise<void> => {
  await Promise.all([...running].map(stop));
  running.clear();
};

interface FilledRound {
  empty: Record<Side, Mem>;
  /** After the peers, before the items. */
  peers: Record<Side, Mem>;
  /** After the peers and the items. */
  full: Record<Side, Mem>;
  fill: Record<Side, FillResult>;
  itemFill: Record<Side, ItemFillResult>;
  stats: Record<Side, Record<string, unknown> | null>;
  check: Record<Side, CheckResult>;
  itemCheck: Record<Side, ItemCheckResult>;
}

const startMs: Record<Side, number[]> = { ours: [], theirs: [] };
const warmupMs: Record<Side, number> = { ours: NaN, theirs: NaN };
const idle: Record<Side, Mem[]> = { ours: [], theirs: [] };
const baselines: Mem[][] = BASELINES.map(() => []);
const filled: FilledRound[] = [];

try {
  // 1. Start-up
  progress(`start-up: 1 warm-up + ${STARTS} starts per side`);
  for (let r = 0; r <= STARTS; r++) {
    for (const side of r % 2 === 0 ? SIDES : [...SIDES].reverse()) {
      const p = track(startSide(side));
      const { ms } = await listening(p);
      await stop(p);
      running.delete(p);
      if (r === 0) warmupMs[side] = ms;
      else startMs[side].push(ms);
    }
  }
  progress(`  ours ${startMs.ours.map((x) => x.toFixed(0)).join(', ')} ms; theirs ${startMs.theirs.map((x) => x.toFixed(0)).join(', ')} ms`);

  // 2. Idle RSS, then the reference processes
  for (let r = 0; r < IDLE_STARTS; r++) {
    progress(`idle RSS: round ${r + 1}/${IDLE_STARTS}`);
    const pair = SIDES.map((side) => track(startSide(side)));
    await Promise.all(pair.map(listening));
    await sleep(IDLE_MS);
    pair.forEach((p, i) => idle[SIDES[i]!].push(readMem(p)));
    await stopAll();
    const refs = BASELINES.map((b) => track(startProcess(b.name, b.args, '')));
    await Promise.all(refs.map((p) => p.first));
    await sleep(IDLE_MS);
    refs.forEach((p, i) => baselines[i]!.push(readMem(p)));
    await stopAll();
  }

  // 3. Filled with 10,000 peers and 1,000 BEP 44 items
  for (let i = 0; i < SOURCES; i += 50) {
    sources.push(...(await Promise.all(Array.from({ length: Math.min(50, SOURCES - i) }, (_, j) => openSource(sourceHost(i + j))))));
  }
  checker = await openSource('127.73.0.1');
  itemSources.push(...(await Promise.all(Array.from({ length: ITEM_SOURCES }, (_, i) => openSource(itemSourceHost(i))))));
  const checkItemsFrom = async (to: PeerAddress): Promise<ItemCheckResult> => {
    const checkers = await Promise.all(Array.from({ length: ITEM_CHECKERS }, () => openSource(nextItemCheckerHost())));
    itemCheckers.push(...checkers);
    return checkItems(checkers, items, CHECK_EVERY, to);
  };
  for (let r = 0; r < FILL_ROUNDS; r++) {
    progress(`filled: round ${r + 1}/${FILL_ROUNDS}`);
    const procs = { ours: track(startSide('ours', true)), theirs: track(startSide('theirs', true)) };
    const addresses = { ours: (await listening(procs.ours)).address, theirs: (await listening(procs.theirs)).address };
    await sleep(IDLE_MS);
    const empty = { ours: readMem(procs.ours), theirs: readMem(procs.theirs) };
    const order = r % 2 === 0 ? SIDES : [...SIDES].reverse();
    const fillResult = {} as Record<Side, FillResult>;
    for (const side of order) {
      fillResult[side] = await fill(sources, addresses[side]);
      const f = fillResult[side];
      progress(`  ${side}: ${f.announced} announces in ${(f.ms / 1000).toFixed(1)} s, ${f.failed} failed, ${f.retries} retries${f.failed > 0 ? ` ${JSON.stringify(f.errors)}` : ''}`);
    }
    await sleep(IDLE_MS);
    const peers = { ours: readMem(procs.ours), theirs: readMem(procs.theirs) };
    const itemFill = {} as Record<Side, ItemFillResult>;
    for (const side of order) {
      itemFill[side] = await fillItems(itemSources, items, ITEMS_PER_SOURCE, addresses[side]);
      const f = itemFill[side];
      progress(`  ${side}: ${f.put} BEP 44 puts in ${(f.ms / 1000).toFixed(1)} s, ${f.failed} failed, ${f.retries} retries${f.failed > 0 ? ` ${JSON.stringify(f.errors)}` : ''}`);
    }
    await sleep(IDLE_MS);
    const full = { ours: readMem(procs.ours), theirs: readMem(procs.theirs) };
    const stats = { ours: procs.ours.lastStats(), theirs: procs.theirs.lastStats() };
    const checked = { ours: await check(checker, addresses.ours), theirs: await check(checker, addresses.theirs) };
    const itemCheck = { ours: await checkItemsFrom(addresses.ours), theirs: await checkItemsFrom(addresses.theirs) };
    progress(`  RSS MB empty / peers / peers+items: ours ${mb1(empty.ours.rss)} / ${mb1(peers.ours.rss)} / ${mb1(full.ours.rss)}, theirs ${mb1(empty.theirs.rss)} / ${mb1(peers.theirs.rss)} / ${mb1(full.theirs.rss)}; items returned ours ${itemCheck.ours.returned}/${itemCheck.ours.sampled}, theirs ${itemCheck.theirs.returned}/${itemCheck.theirs.sampled}`);
    filled.push({ empty, peers, full, fill: fillResult, itemFill, stats, check: checked, itemCheck });
    await stopAll();
  }
} finally {
  await stopAll();
  killAllNow();
  await Promise.all([...sources, ...itemSources, ...itemCheckers, ...(checker ? [checker] : [])].map((s) => s.socket.close()));
  rmSync(tmp, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------------------------
// The report

const runSeconds = (performance.now() - startedAt) / 1000;
const startMedian = { ours: median(startMs.ours), theirs: median(startMs.theirs) };
const idleMedian = { ours: medianMem(idle.ours), theirs: medianMem(idle.theirs) };
const filledMedian = (side: Side, which: 'empty' | 'peers' | 'full'): Mem => medianMem(filled.map((f) => f[which][side]));
const full = { ours: filledMedian('ours', 'full'), theirs: filledMedian('theirs', 'full') };
const peersOnly = { ours: filledMedian('ours', 'peers'), theirs: filledMedian('theirs', 'peers') };
const empty = { ours: filledMedian('ours', 'empty'), theirs: filledMedian('theirs', 'empty') };
const statNum = (s: Record<string, unknown> | null, key: string): number => (s !== null && typeof s[key] === 'number' ? (s[key] as number) : NaN);
const storedPeers = (side: Side): number[] => filled.map((f) => statNum(f.stats[side], 'peers'));
const storedSwarms = (side: Side): number[] => filled.map((f) => statNum(f.stats[side], 'infohashes'));
/** Theirs only: the size of bittorrent-dht's `_values` LRU (ours prints no item count). */
const storedItems = (side: Side): number[] => filled.map((f) => statNum(f.stats[side], 'items'));
const growthPerPeer = (side: Side): number => median(filled.map((f) => (f.peers[side].rss - f.empty[side].rss) / statNum(f.stats[side], 'peers')));
/** RSS, RssAnon and RssFile growth from the items (peers+items minus peers), median over rounds. */
const itemGrowth = (side: Side): Mem => medianMem(filled.map((f) => ({ rss: f.full[side].rss - f.peers[side].rss, hwm: f.full[side].hwm - f.peers[side].hwm, anon: f.full[side].anon - f.peers[side].anon, file: f.full[side].file - f.peers[side].file })));
const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
const fillTotals = (side: Side): { announced: number; failed: number; retries: number; rate: number } => {
  const fs = filled.map((f) => f.fill[side]);
  return { announced: sum(fs.map((f) => f.announced)), failed: sum(fs.map((f) => f.failed)), retries: sum(fs.map((f) => f.retries)), rate: median(fs.map((f) => f.announced / (f.ms / 1000))) };
};
const checkTotals = (side: Side): CheckResult => {
  const cs = filled.map((f) => f.check[side]);
  return { sampled: sum(cs.map((c) => c.sampled)), returned: sum(cs.map((c) => c.returned)), expected: sum(cs.map((c) => c.expected)), failed: sum(cs.map((c) => c.failed)) };
};
const itemFillTotals = (side: Side): { put: number; failed: number; retries: number; rate: number } => {
  const fs = filled.map((f) => f.itemFill[side]);
  return { put: sum(fs.map((f) => f.put)), failed: sum(fs.map((f) => f.failed)), retries: sum(fs.map((f) => f.retries)), rate: median(fs.map((f) => f.put / (f.ms / 1000))) };
};
const itemCheckTotals = (side: Side): ItemCheckResult => {
  const cs = filled.map((f) => f.itemCheck[side]);
  const total = (key: keyof ItemCheckResult): number => sum(cs.map((c) => c[key]));
  return { sampled: total('sampled'), returned: total('returned'), missing: total('missing'), wrong: total('wrong'), failed: total('failed'), retries: total('retries') };
};
const ick = { ours: itemCheckTotals('ours'), theirs: itemCheckTotals('theirs') };
const itemCheckCell = (c: ItemCheckResult): string =>
  `${c.returned}/${c.sampled}${c.missing ? `, ${c.missing} without v` : ''}${c.wrong ? `, ${c.wrong} wrong v` : ''}${c.failed ? `, ${c.failed} failed` : ''}${c.retries ? ` (${c.retries} retries)` : ''}`;

const met = { start: startMedian.ours <= TARGET_START_MS, idle: MB(idleMedian.ours.rss) <= TARGET_IDLE_MB, filled: MB(full.ours.rss) < TARGET_FILLED_MB && ick.ours.returned === ick.ours.sampled };
const bep44Note =
  `then ${BEP44_ITEMS.toLocaleString('en-US')} immutable BEP 44 items: ${ITEM_SOURCES} source addresses x ${ITEMS_PER_SOURCE} items, get (target = SHA-1 of the bencoded v) then put with its token; ` +
  `each v a byte string of ${ITEM_MIN_BYTES}-${ITEM_MAX_BYTES} bytes (seeded), ${(itemValueBytes / 1e6).toFixed(2)} MB of values in all. ` +
  `bittorrent-dht keeps items in an LRU of at most maxValues (default 1,000, so exactly these 1,000 fit; the 1,001st would evict the oldest); ours keeps up to 4,000 items and 4 MiB, 32 new ones per source address`;
const itemsShort = ick.ours.returned < ick.ours.sampled ? ` (but only ${ick.ours.returned}/${ick.ours.sampled} sampled items came back from ours)` : '';
const summary = [
  `footprint: start to listening line ours ${startMedian.ours.toFixed(0)} ms, theirs ${startMedian.theirs.toFixed(0)} ms (${ratio(startMedian.ours, startMedian.theirs)}), target <= ${TARGET_START_MS}: ${met.start ? 'met' : 'NOT met'}`,
  `footprint: idle RSS ours ${mb1(idleMedian.ours.rss)} MB, theirs ${mb1(idleMedian.theirs.rss)} MB (${ratio(idleMedian.ours.rss, idleMedian.theirs.rss)}), target <= ${TARGET_IDLE_MB}: ${met.idle ? 'met' : 'NOT met'}`,
  `footprint: RSS with ${PEERS.toLocaleString('en-US')} peers and ${BEP44_ITEMS.toLocaleString('en-US')} BEP 44 items ours ${mb1(full.ours.rss)} MB, theirs ${mb1(full.theirs.rss)} MB (${ratio(full.ours.rss, full.theirs.rss)}), target < ${TARGET_FILLED_MB}: ${met.filled ? 'met' : 'NOT met'}${itemsShort}`,
];

if (JSON_OUT) {
  const perSide = (side: Side): Record<string, unknown> => ({
    startMs: { median: startMedian[side], samples: startMs[side], warmup: warmupMs[side] },
    idle: { median: idleMedian[side], samples: idle[side] },
    filled: {
      median: full[side],
      emptyMedian: empty[side],
      peersOnlyMedian: peersOnly[side],
      samples: filled.map((f) => ({ empty: f.empty[side], peers: f.peers[side], full: f.full[side], fill: f.fill[side], itemFill: f.itemFill[side], stats: f.stats[side], check: f.check[side], itemCheck: f.itemCheck[side] })),
      storedPeers: storedPeers(side),
      storedInfohashes: storedSwarms(side),
      storedItems: side === 'theirs' ? storedItems(side) : null,
      itemCheck: ick[side],
      rssGrowthPerPeerBytes: growthPerPeer(side),
      growthFromItems: itemGrowth(side),
    },
  });
  const out = {
    benchmark: 'footprint',
    node: process.version,
    nodeArgs: NODE_ARGS,
    cores: availableParallelism(),
    loadavg: loadavg(),
    runSeconds,
    units: { rss: 'bytes', time: 'ms' },
    setup: { starts: STARTS, idleStarts: IDLE_STARTS, idleMs: IDLE_MS, fillRounds: FILL_ROUNDS, sources: SOURCES, perSource: PER_SOURCE, infohashes: SWARMS, peers: PEERS },
    bep44: { items: BEP44_ITEMS, sources: ITEM_SOURCES, perSource: ITEMS_PER_SOURCE, valueBytes: { min: ITEM_MIN_BYTES, max: ITEM_MAX_BYTES, total: itemValueBytes }, checkers: ITEM_CHECKERS, note: bep44Note },
    ours: perSide('ours'),
    theirs: perSide('theirs'),
    baselines: BASELINES.map((b, i) => ({ name: b.name, median: medianMem(baselines[i]!), samples: baselines[i] })),
    targets: {
      startMs: { target: TARGET_START_MS, ours: startMedian.ours, theirs: startMedian.theirs, met: met.start },
      idleRssMB: { target: TARGET_IDLE_MB, ours: MB(idleMedian.ours.rss), theirs: MB(idleMedian.theirs.rss), met: met.idle },
      filledRssMB: { target: TARGET_FILLED_MB, ours: MB(full.ours.rss), theirs: MB(full.theirs.rss), met: met.filled },
    },
    summary,
  };
  process.stdout.write(JSON.stringify(out) + '\n');
} else {
  const L: string[] = [];
  const [l1, l5, l15] = loadavg().map((x) => x.toFixed(2));
  L.push(`# Footprint: \`dhtscope node\` (dist/ build) vs bittorrent-dht 11.0.12 (issue 16, item 3)`);
  L.push('');
  L.push(
    `Node ${process.version}, ${availableParallelism()} cores, load average ${l1} ${l5} ${l15} at the end; run ${runSeconds.toFixed(0)} s. ` +
      `RSS = VmRSS of the child from /proc/PID/status, MB = 10^6 bytes. Both nodes: no bootstrap, each on its own 127.71.x.y.` +
      (NODE_ARGS.length > 0 ? ` Every child ran with Node flags: ${NODE_ARGS.join(' ')}.` : ''),
  );
  L.push('');
  L.push(row(['measure', 'ours', 'bittorrent-dht', 'ours / theirs', 'target (ours)']));
  L.push(row(['---', '---:', '---:', '---:', '---']));
  L.push(row([`spawn → listening line, median of ${STARTS} (ms)`, startMedian.ours.toFixed(0), startMedian.theirs.toFixed(0), ratio(startMedian.ours, startMedian.theirs), `<= ${TARGET_START_MS}: ${met.start ? 'met' : 'NOT met'}`]));
  L.push(row([`idle RSS after ${IDLE_MS / 1000} s, median of ${IDLE_STARTS} (MB)`, mb1(idleMedian.ours.rss), mb1(idleMedian.theirs.rss), ratio(idleMedian.ours.rss, idleMedian.theirs.rss), `<= ${TARGET_IDLE_MB}: ${met.idle ? 'met' : 'NOT met'}`]));
  L.push(row([`  of which RssAnon / RssFile (MB)`, `${mb1(idleMedian.ours.anon)} / ${mb1(idleMedian.ours.file)}`, `${mb1(idleMedian.theirs.anon)} / ${mb1(idleMedian.theirs.file)}`, '', '']));
  L.push(row([`RSS with ${PEERS.toLocaleString('en-US')} peers and ${BEP44_ITEMS.toLocaleString('en-US')} BEP 44 items, ${IDLE_MS / 1000} s after the fill, median of ${FILL_ROUNDS} (MB)`, mb1(full.ours.rss), mb1(full.theirs.rss), ratio(full.ours.rss, full.theirs.rss), `< ${TARGET_FILLED_MB}: ${met.filled ? 'met' : 'NOT met'}`]));
  L.push(row([`  same process with the peers only, before the items (MB)`, mb1(peersOnly.ours.rss), mb1(peersOnly.theirs.rss), ratio(peersOnly.ours.rss, peersOnly.theirs.rss), '']));
  L.push(row([`  same process before the fill (MB)`, mb1(empty.ours.rss), mb1(empty.theirs.rss), ratio(empty.ours.rss, empty.theirs.rss), '']));
  L.push(row([`  peak RSS (VmHWM) by the end (MB)`, mb1(full.ours.hwm), mb1(full.theirs.hwm), ratio(full.ours.hwm, full.theirs.hwm), '']));
  L.push(row([`  RSS growth per stored peer (B)`, growthPerPeer('ours').toFixed(0), growthPerPeer('theirs').toFixed(0), ratio(growthPerPeer('ours'), growthPerPeer('theirs')), '']));
  L.push(row([`  peers / infohashes stored (the node's own count, per round)`, storedPeers('ours').map((n, i) => `${n} / ${storedSwarms('ours')[i]}`).join(', '), storedPeers('theirs').map((n, i) => `${n} / ${storedSwarms('theirs')[i]}`).join(', '), '', '']));
  const ck = { ours: checkTotals('ours'), theirs: checkTotals('theirs') };
  L.push(row([`  get_peers check: announced peers returned, every ${CHECK_EVERY}th infohash, all rounds`, `${ck.ours.returned}/${ck.ours.expected}${ck.ours.failed ? ` (${ck.ours.failed} failed)` : ''}`, `${ck.theirs.returned}/${ck.theirs.expected}${ck.theirs.failed ? ` (${ck.theirs.failed} failed)` : ''}`, '', '']));
  const ft = { ours: fillTotals('ours'), theirs: fillTotals('theirs') };
  L.push(row([`  fill: announces answered / failed / retries (all rounds)`, `${ft.ours.announced} / ${ft.ours.failed} / ${ft.ours.retries}`, `${ft.theirs.announced} / ${ft.theirs.failed} / ${ft.theirs.retries}`, '', '']));
  L.push(row([`  fill rate, get_peers + announce_peer pairs per s, median`, ft.ours.rate.toFixed(0), ft.theirs.rate.toFixed(0), ratio(ft.ours.rate, ft.theirs.rate), '']));
  const ig = { ours: itemGrowth('ours'), theirs: itemGrowth('theirs') };
  L.push(row([`  RSS growth from the ${BEP44_ITEMS.toLocaleString('en-US')} items (${(itemValueBytes / 1e6).toFixed(2)} MB of values): RSS / RssAnon / RssFile (MB)`, `${mb1(ig.ours.rss)} / ${mb1(ig.ours.anon)} / ${mb1(ig.ours.file)}`, `${mb1(ig.theirs.rss)} / ${mb1(ig.theirs.anon)} / ${mb1(ig.theirs.file)}`, ratio(ig.ours.rss, ig.theirs.rss), '']));
  L.push(row([`  items held (the node's own count, per round)`, 'not in its stats event', storedItems('theirs').map((n) => `${n} of max ${statNum(filled[0]?.stats.theirs ?? null, 'itemsMax')}`).join(', '), '', '']));
  L.push(row([`  get check: values returned byte for byte, every ${CHECK_EVERY}th item, all rounds`, itemCheckCell(ick.ours), itemCheckCell(ick.theirs), '', '']));
  const ift = { ours: itemFillTotals('ours'), theirs: itemFillTotals('theirs') };
  L.push(row([`  item fill: puts answered / failed / retries (all rounds)`, `${ift.ours.put} / ${ift.ours.failed} / ${ift.ours.retries}`, `${ift.theirs.put} / ${ift.theirs.failed} / ${ift.theirs.retries}`, '', '']));
  L.push(row([`  item fill rate, get + put pairs per s, median`, ift.ours.rate.toFixed(0), ift.theirs.rate.toFixed(0), ratio(ift.ours.rate, ift.theirs.rate), '']));
  L.push('');
  L.push(`Samples: start ms ours ${startMs.ours.map((x) => x.toFixed(0)).join(', ')} (warm-up ${warmupMs.ours.toFixed(0)}), theirs ${startMs.theirs.map((x) => x.toFixed(0)).join(', ')} (warm-up ${warmupMs.theirs.toFixed(0)}); ` +
    `idle RSS MB ours ${idle.ours.map((m) => mb1(m.rss)).join(', ')}, theirs ${idle.theirs.map((m) => mb1(m.rss)).join(', ')}; ` +
    `filled RSS MB (peers only -> peers and items) ours ${filled.map((f) => `${mb1(f.peers.ours.rss)} -> ${mb1(f.full.ours.rss)}`).join(', ')}, theirs ${filled.map((f) => `${mb1(f.peers.theirs.rss)} -> ${mb1(f.full.theirs.rss)}`).join(', ')}.`);
  L.push('');
  L.push(`Reference processes (idle ${IDLE_MS / 1000} s, median of ${IDLE_STARTS}), for reading the RSS above:`);
  L.push('');
  L.push(row(['process', 'RSS (MB)', 'RssAnon (MB)', 'RssFile (MB)']));
  L.push(row(['---', '---:', '---:', '---:']));
  BASELINES.forEach((b, i) => {
    const m = medianMem(baselines[i]!);
    L.push(row([b.name, mb1(m.rss), mb1(m.anon), mb1(m.file)]));
  });
  L.push(row([`\`dhtscope node\` (above)`, mb1(idleMedian.ours.rss), mb1(idleMedian.ours.anon), mb1(idleMedian.ours.file)]));
  L.push(row([`bittorrent-dht node (above)`, mb1(idleMedian.theirs.rss), mb1(idleMedian.theirs.anon), mb1(idleMedian.theirs.file)]));
  L.push('');
  L.push(`Fill: ${SOURCES} source addresses x ${PER_SOURCE} infohashes = ${PEERS.toLocaleString('en-US')} <infohash, IP> entries over ${SWARMS.toLocaleString('en-US')} infohashes (${PEERS_PER_SWARM} announcers each), get_peers then announce_peer with its token, over UDP from our KrpcSocket; ${bep44Note}.`);
  L.push('');
  L.push(...summary);
  process.stdout.write(L.join('\n') + '\n');
}
process.exit(0);
