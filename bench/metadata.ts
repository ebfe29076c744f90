/**
 * Metadata fetch benchmark (bep9), everything on 127.0.0.0/8. Run from the
 * repository root:
 *
 *   node --expose-gc --import ./scripts/ts-node-register.mjs bench/metadata.ts   # or: npm run bench:metadata
 *
 * 1. Fetches per second from real libtorrent 2.0 seeders (testkit/libtorrent-seeder.py,
 *    SEEDERS processes, each seeding TORRENTS torrents of one size class), with fetchFromPeer
 *    (one TCP connection per fetch: connect, handshakes, ut_metadata, SHA-1, info dict decode),
 *    CONCURRENCY fetches in flight, for DURATION_MS per cell. Two size classes: a small info dict
 *    (one 16 KiB metadata piece) and a large one (~128 KiB, 8 pieces: a 100 MiB file in 16 KiB
 *    pieces). The seeders are separate processes, so this process's CPU time is the fetcher's.
 * 2. The same against our own in-process scripted seeder (testkit/metadata-peer.ts), for
 *    comparison: here the seeder shares this process's CPU.
 * 3. Memory per open connection: IDLE connections to a peer in a child process that completes
 *    both handshakes and then never answers (state 'metadata', the common idle case), and again
 *    to one that has sent the 4-byte prefix of a maximum-size message plus one byte (the
 *    per-connection worst case before metadata arrives: a 64 KiB message buffer). Heap and RSS
 *    after a forced GC, before and with the connections open, divided by their number.
 * 4. Decoding the worst info dict we accept: 10 MiB (the default cap) of one-byte files, the
 *    most values per byte. Time (the event loop is blocked: decoding is synchronous) and heap
 *    held while the decoded tree is alive (transient; one decode at a time per process).
 */
import { fork } from 'node:child_process';
import { setMaxListeners } from 'node:events';
import { mkdir, mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import bencode from 'bencode';
import { type PeerAddress } from '../bep5/compact.js';
import { encode } from '../bep5/bencode.js';
import { DEFAULT_MAX_METADATA_SIZE } from '../bep9/constants.js';
import { fetchFromPeer, tcpConnect } from '../bep9/fetch-from-peer.js';
import { parseInfoDictionary } from '../bep9/info-dictionary.js';
import { InfoDictionaryParser } from '../bep9/info-dictionary-parser.js';
import { MetadataAbortError } from '../bep9/errors.js';
import { startLibtorrentSeeder, type LibtorrentSeeder } from '../testkit/libtorrent-seeder.js';
import { ScriptedPeer, makeInfoDict, serveMetadata, sha1 } from '../testkit/metadata-peer.js';

const SEEDERS = Number(process.env['SEEDERS'] ?? 2);
const TORRENTS = Number(process.env['TORRENTS'] ?? 6);
const DURATION_MS = Number(process.env['DURATION_MS'] ?? 4_000);
const CONCURRENCY = (process.env['CONCURRENCY'] ?? '1,8,32').split(',').map(Number);
const IDLE = Number(process.env['IDLE'] ?? 500);
const LIMITS = { connectTimeoutMs: 10_000, handshakeTimeoutMs: 10_000, totalTimeoutMs: 60_000 };

// ---------------------------------------------------------------------------------------------
// Child process mode: a peer that holds connections open (part 3).

if (process.argv[2] === '--idle-peer') {
  const mode = process.argv[3] as 'idle' | 'partial';
  const info = makeInfoDict('idle', 900);
  const handshake = { m: { ut_metadata: 3 }, metadata_size: info.length };
  // A length prefix of 65,537 (the default maximum) and the message's first byte.
  const partial = Buffer.from([0, 1, 0, 1, 20]);
  const peer = await ScriptedPeer.start('127.0.0.77', async (conn) => {
    await conn.handshake;
    conn.sendHandshake(sha1(info));
    conn.sendExtendedHandshake(handshake);
    if (mode === 'partial') conn.write(partial);
  });
  const expectBytes = 68 + 6 + Buffer.from(bencode.encode(handshake)).length + (mode === 'partial' ? partial.length : 0);
  process.send?.({ address: peer.address, infohash: sha1(info).toString('hex'), expectBytes });
  process.on('disconnect', () => void peer.close().then(() => process.exit(0)));
} else {
  await main();
}

interface Cell {
  fetches: number;
  failures: number;
  seconds: number;
  cpuMs: number;
  p50: number;
  p99: number;
  bytes: number;
}

/** Runs fetches over `targets` round-robin, `concurrency` in flight, for DURATION_MS. */
async function measure(targets: Array<{ infohash: Buffer; peer: PeerAddress }>, concurrency: number): Promise<Cell> {
  const latencies: number[] = [];
  let failures = 0;
  let bytes = 0;
  let next = 0;
  const cpu = process.cpuUsage();
  const started = performance.now();
  const deadline = started + DURATION_MS;
  const lane = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const target = targets[next++ % targets.length]!;
      const t0 = performance.now();
      try {
        const r = await fetchFromPeer(target.infohash, target.peer, { limits: LIMITS });
        latencies.push(performance.now() - t0);
        bytes += r.info.length;
      } catch {
        failures++;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  latencies.sort((a, b) => a - b);
  const pct = (p: number): number => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN;
  return { fetches: latencies.length, failures, seconds, cpuMs: (used.user + used.system) / 1000, p50: pct(0.5), p99: pct(0.99), bytes };
}

function row(label: string, concurrency: number, c: Cell): string {
  const rate = c.fetches / c.seconds;
  const mean = c.fetches === 0 ? 0 : c.bytes / c.fetches;
  return `| ${label} | ${concurrency} | ${rate.toFixed(0)} | ${c.p50.toFixed(1)} | ${c.p99.toFixed(1)} | ${(mean / 1024).toFixed(1)} | ${(c.cpuMs / Math.max(1, c.fetches)).toFixed(2)} | ${c.failures} |`;
}

async function makeTorrentFiles(dir: string): Promise<{ small: string[]; large: string[] }> {
  const small: string[] = [];
  const large: string[] = [];
  for (let i = 0; i < TORRENTS; i++) {
    const s = join(dir, `small-${i}`);
    await mkdir(s, { recursive: true });
    for (let f = 0; f < 20; f++) await writeFile(join(s, `file-${f}.txt`), `torrent ${i} file ${f}\n`);
    small.push(s);
    const l = join(dir, `large-${i}.bin`);
    // Sparse: hashing reads zeros from the page cache, the info dict is what matters (6,400 piece hashes).
    const fh = await open(l, 'w');
    await fh.truncate(100 * 1024 * 1024 + i);
    await fh.close();
    large.push(l);
  }
  return { small, large };
}

async function seeders(paths: string[]): Promise<LibtorrentSeeder[]> {
  const out: LibtorrentSeeder[] = [];
  for (let s = 0; s < SEEDERS; s++) {
    out.push(await startLibtorrentSeeder(paths.map((path) => ({ path, piece_size: 16_384, v1_only: true })), `127.0.91.${s + 1}`, 120_000));
  }
  return out;
}

function targetsOf(seeders: LibtorrentSeeder[]): Array<{ infohash: Buffer; peer: PeerAddress }> {
  return seeders.flatMap((s) => s.torrents.map((t) => ({ infohash: Buffer.from(t.infohash, 'hex'), peer: s.address })));
}

interface IdlePeer {
  address: PeerAddress;
  infohash: string;
  /** Bytes each connection receives from it before going quiet. */
  expectBytes: number;
  stop(): void;
}

async function startIdlePeer(mode: 'idle' | 'partial'): Promise<IdlePeer> {
  const child = fork(fileURLToPath(import.meta.url), ['--idle-peer', mode], { execArgv: ['--import', './scripts/ts-node-register.mjs'] });
  const ready = await new Promise<Omit<IdlePeer, 'stop'>>((resolve) => child.once('message', (m) => resolve(m as never)));
  return { ...ready, stop: () => child.disconnect() };
}

/** Opens IDLE connections to `peer`, waits until each is in `state`, measures, aborts them all. */
interface PerConnection {
  heap: number;
  /** Buffers outside the JS heap (Node's `arrayBuffers`): allocated, not necessarily touched. */
  buffers: number;
  rss: number;
  n: number;
}

async function memoryPerConnection(peer: IdlePeer): Promise<PerConnection> {
  const settle = async (): Promise<void> => {
    for (let i = 0; i < 3; i++) {
      global.gc?.();
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  await settle();
  const before = process.memoryUsage();
  const controller = new AbortController();
  setMaxListeners(IDLE + 1, controller.signal);
  const infohash = Buffer.from(peer.infohash, 'hex');
  let connected = 0;
  const sockets: Array<{ bytesRead: number }> = [];
  const pending = Array.from({ length: IDLE }, () =>
    fetchFromPeer(infohash, peer.address, {
      signal: controller.signal,
      limits: { ...LIMITS, totalTimeoutMs: 600_000, handshakeTimeoutMs: 600_000 },
      connect: (p) => {
        const s = tcpConnect(p);
        sockets.push(s);
        s.once('connect', () => connected++);
        return s;
      },
    }).catch((e: unknown) => (e instanceof MetadataAbortError ? undefined : e)),
  );
  // Wait until every connection has received all the peer sends (both handshakes, and the partial message).
  while (connected < IDLE || sockets.some((s) => s.bytesRead < peer.expectBytes)) await new Promise((r) => setTimeout(r, 50));
  await settle();
  const during = process.memoryUsage();
  controller.abort();
  const errors = (await Promise.all(pending)).filter((e) => e !== undefined);
  if (errors.length > 0) throw new Error(`unexpected: ${String(errors[0])}`);
  return {
    heap: (during.heapUsed - before.heapUsed) / IDLE,
    buffers: (during.arrayBuffers - before.arrayBuffers) / IDLE,
    rss: (during.rss - before.rss) / IDLE,
    n: IDLE,
  };
}

/** A bencoded info dict of one-byte files just under `maxBytes`: the most decoded values per byte we accept. */
function worstInfoDict(maxBytes: number): Buffer {
  const entry = encode({ length: 1, path: ['x'] }).length;
  const files = Array.from({ length: Math.floor((maxBytes - 100) / entry) }, (_, i) => ({ length: 1, path: [String(i % 10)] }));
  return encode({ files, name: 'worst', 'piece length': 1 << 24, pieces: Buffer.alloc(20) });
}

/** Longest gap between the ticks of a 5 ms interval while `work` runs: how long the event loop was blocked. */
async function maxLoopLag(work: () => Promise<unknown>): Promise<{ ms: number; lagMs: number }> {
  let last = performance.now();
  let lag = 0;
  const tick = setInterval(() => {
    const now = performance.now();
    lag = Math.max(lag, now - last - 5);
    last = now;
  }, 5);
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, 20));
  await work();
  const ms = performance.now() - t0 - 20;
  await new Promise((r) => setTimeout(r, 20));
  clearInterval(tick);
  return { ms, lagMs: lag };
}

async function decodeCost(): Promise<{ bytes: number; files: number; ms: number; heapMb: number; inlineLagMs: number; threadMs: number; threadLagMs: number }> {
  const info = worstInfoDict(DEFAULT_MAX_METADATA_SIZE);
  global.gc?.();
  const before = process.memoryUsage().heapUsed;
  const t0 = performance.now();
  // The decoded tree is garbage once the summary is built; heap right after is an upper-bound-ish view of the peak.
  const summary = parseInfoDictionary(info);
  const ms = performance.now() - t0;
  const heapMb = (process.memoryUsage().heapUsed - before) / 1e6;
  global.gc?.();
  const inline = await maxLoopLag(async () => parseInfoDictionary(info));
  // What fetches use: the shared parser moves dicts this big to its worker thread (warmed up first).
  const parser = new InfoDictionaryParser();
  await parser.parse(info);
  const thread = await maxLoopLag(() => parser.parse(info));
  await parser.close();
  return { bytes: info.length, files: summary.fileCount, ms, heapMb, inlineLagMs: inline.lagMs, threadMs: thread.ms, threadLagMs: thread.lagMs };
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'dhtscope-bench-metadata-'));
  const lines: string[] = [];
  const say = (s: string): void => {
    console.log(s);
    lines.push(s);
  };
  try {
    say(`Node ${process.version}, ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), ${new Date().toISOString().slice(0, 10)}`);
    say(`SEEDERS=${SEEDERS} TORRENTS=${TORRENTS} (per seeder, per size class) DURATION_MS=${DURATION_MS} per cell, IDLE=${IDLE}`);
    say('');
    say('| seeder, info dict | fetches in flight | fetches/s | p50 ms | p99 ms | info dict KiB | our CPU ms/fetch | failures |');
    say('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    const files = await makeTorrentFiles(dir);
    for (const [label, paths] of [['small', files.small], ['large', files.large]] as const) {
      const started = await seeders(paths);
      try {
        const targets = targetsOf(started);
        const kib = (Buffer.from(started[0]!.torrents[0]!.info_hex, 'hex').length / 1024).toFixed(1);
        for (const c of CONCURRENCY) say(row(`libtorrent x${SEEDERS}, ${label} (${kib} KiB)`, c, await measure(targets, c)));
      } finally {
        await Promise.all(started.map((s) => s.stop()));
      }
    }
    for (const [label, info] of [['small', makeInfoDict('bench', 20)], ['large', makeInfoDict('bench', 2_800)]] as const) {
      const peer = await ScriptedPeer.start('127.0.92.1', serveMetadata(info));
      try {
        const targets = [{ infohash: sha1(info), peer: peer.address }];
        for (const c of CONCURRENCY) say(row(`in-process scripted, ${label} (${(info.length / 1024).toFixed(1)} KiB)`, c, await measure(targets, c)));
      } finally {
        await peer.close();
      }
    }
    say('');
    say('| open connections, state | n | JS heap B/conn | buffers B/conn | RSS B/conn |');
    say('| --- | ---: | ---: | ---: | ---: |');
    for (const mode of ['idle', 'partial'] as const) {
      const peer = await startIdlePeer(mode);
      try {
        const m = await memoryPerConnection(peer);
        const label = mode === 'idle' ? 'after both handshakes, waiting for data' : 'holding a partial 64 KiB message';
        say(`| ${label} | ${m.n} | ${m.heap.toFixed(0)} | ${m.buffers.toFixed(0)} | ${m.rss.toFixed(0)} |`);
      } finally {
        peer.stop();
      }
    }
    say('');
    const d = await decodeCost();
    say(`Worst accepted info dict: ${(d.bytes / 1024 / 1024).toFixed(2)} MiB, ${d.files} one-byte files: decoded and summarised inline in ${d.ms.toFixed(0)} ms (event loop blocked up to ${d.inlineLagMs.toFixed(0)} ms), JS heap +${d.heapMb.toFixed(0)} MB right after (garbage from then on).`);
    say(`The same through InfoDictionaryParser (what fetches use; its worker thread): ${d.threadMs.toFixed(0)} ms, event loop blocked at most ${d.threadLagMs.toFixed(0)} ms.`);
    if (global.gc === undefined) say('(run with --expose-gc for steadier memory figures)');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
