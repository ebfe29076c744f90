/**
 * Redis memory of the whole running system, per indexed infohash (issue 14: "measure the whole
 * running system: `run` at steady state, with peers, job records, fetch state and queues"). Run
 * from the repository root:
 *
 *   node --import ./scripts/ts-node-register.mjs bench/system-memory.ts [testnet nodes] [seconds]
 *   npm run bench:system-memory -- 300 300   # 300 nodes, deadline 300 s after ready (default 180)
 *
 * It starts its own redis-server (no persistence), then the real `dhtscope run --testnet N` as a
 * child process against it (REDIS_URL, a temporary HOME, so its data directory is temporary too,
 * `--api-port 0`, `--json`, testnet addresses 127.240.x.y, apart from the tests'). Two snapshots,
 * with the child running: A when the index stops growing (the count of indexed infohashes, the
 * 64 shards' counts summed as the product reads it, indexed-reads.ts `indexedInfohashCount`,
 * unchanged for QUIET_MS), B when the per-infohash work is done too (nothing waiting, active or
 * delayed in the peer-lookup and metadata queues); either is taken at the deadline, `seconds`
 * after the child is ready, if it comes first. A snapshot reads `used_memory` and every key's
 * `MEMORY USAGE key SAMPLES 0` (SCAN: fine in a benchmark, never in the product), summed per
 * class of key: the index's classes are schema 5's keys (indexer/SCHEMA.md, "Schema 5"), each
 * key checked against the name indexer/sharded-keys.ts builds for it; BullMQ job records are
 * split by queue and by state (kept completed, kept failed, live), and the job records,
 * deduplication keys and applied markers of the per-infohash queues are counted per indexed
 * infohash: the per-infohash trace the workers leave (a peer lookup's claim lives in the
 * infohash's record, so its queue should leave no deduplication key; its batch leaves one
 * applied marker in the infohash's shard, with its own TTL, PEER_LOOKUP_APPLIED_TTL_SEC).
 * Then it stops the child (SIGTERM, waits for its exit) and deletes the keys class by
 * class, reading `used_memory` after each class: MEMORY USAGE leaves out a key's share of the
 * keyspace and expires tables, the drop does not. Last, SCRIPT FLUSH and CONFIG RESETSTAT show
 * what no key holds (the script cache; Redis 7's per-command latency histograms). Prints
 * Markdown tables; progress goes to stderr. Stops the server and removes its temp dirs.
 *
 * This file runs the child and the snapshots and writes the report; which class a key is lives
 * in system-memory/key-classes.ts, what Redis reports in system-memory/redis-figures.ts.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { sleep } from '../bep5/clock.js';
import { indexedInfohashCount } from '../indexer/indexed-reads.js';
import { ShardedIndexKeys } from '../indexer/sharded-keys.js';
import { queueNames } from '../workers/queues.js';
import { PEER_LOOKUP_APPLIED_TTL_SEC } from '../workers/constants.js';
import { requireFreshBuild } from '../testkit/build.js';
import { startRedisServer } from '../testkit/redis-server.js';
import { IX, IndexClassifier, type QueueView, type Row, type Trace, classify, indexEntries, lookupMarkerKeys, queueViews, recordInfohashes } from './system-memory/key-classes.js';
import { type Sized, freedByClass, infoMemory, sizeAllKeys } from './system-memory/redis-figures.js';

const NODES = Number(process.argv[2] ?? 300);
const SECONDS = Number(process.argv[3] ?? 180);
/** Steady state: the count of indexed infohashes (the shards' counts summed) unchanged this long. */
const QUIET_MS = 20_000;
const POLL_MS = 1_000;
/** 127.240.x.y (and 127.241.x.y for the announcers): no test uses these. */
const ADDRESS_BASE = 240;
const ROOT = fileURLToPath(new URL('..', import.meta.url));

// ---- the child ----

interface ChildRun {
  child: ChildProcess;
  /** The `ready` event, then every `stats` event as it comes. */
  ready: Promise<Record<string, unknown>>;
  lastStats: () => Record<string, unknown> | null;
  exited: Promise<number | null>;
  stderrTail: () => string;
}

function startRun(redisUrl: string, home: string): ChildRun {
  requireFreshBuild();
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, REDIS_URL: redisUrl };
  for (const name of ['DHTSCOPE_DATA_DIR', 'DHTSCOPE_REDIS_PREFIX']) delete env[name];
  const args = ['bin/dhtscope.mjs', 'run', '--testnet', String(NODES), '--testnet-address-base', String(ADDRESS_BASE), '--api-port', '0', '--json', '--stats-interval', '5'];
  const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr = (stderr + s).slice(-4000)));
  let stats: Record<string, unknown> | null = null;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const ready = new Promise<Record<string, unknown>>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const event = JSON.parse(line) as Record<string, unknown>;
      if (event['event'] === 'ready') resolve(event);
      if (event['event'] === 'stats') stats = event;
    });
    void exited.then((code) => reject(new Error(`dhtscope run exited (${code}) before it was ready:\n${stderr}`)));
  });
  return { child, ready, lastStats: () => stats, exited, stderrTail: () => stderr };
}

async function stopRun(run: ChildRun): Promise<number | null> {
  if (run.child.exitCode !== null || run.child.signalCode !== null) return run.child.exitCode;
  run.child.kill('SIGTERM');
  const timer = setTimeout(() => run.child.kill('SIGKILL'), 60_000);
  const code = await run.exited;
  clearTimeout(timer);
  return code;
}

// ---- the run ----

const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

interface Depth {
  waiting: number;
  active: number;
  delayed: number;
}

interface Snapshot {
  label: string;
  afterReadyS: number;
  indexed: number;
  used: number;
  clients: number;
  sized: Sized[];
  rows: Map<string, Row>;
  traces: Map<string, Trace>;
  /** Entries of the per-infohash index keys (records: the record buckets' fields, to check `indexed`). */
  entries: Awaited<ReturnType<typeof indexEntries>>;
  /** XLEN of each queue's events stream. */
  events: Record<string, number>;
  /** The child's last stats event: its worker counters and queue depths. */
  stats: { workers?: Record<string, number>; queues?: Record<string, Depth> } | null;
}

const server = await startRedisServer();
const redis = new Redis(server.url);
const home = mkdtempSync(join(tmpdir(), 'dhtscope-system-memory-'));
let run: ChildRun | null = null;
try {
  const before = await infoMemory(redis);
  const startedAt = Date.now();
  const child = (run = startRun(server.url, home));
  let readyTimer: NodeJS.Timeout | undefined;
  const ready = await Promise.race([
    child.ready,
    new Promise<never>((_, reject) => (readyTimer = setTimeout(() => reject(new Error(`dhtscope run not ready in 300 s:\n${child.stderrTail()}`)), 300_000))),
  ]).finally(() => clearTimeout(readyTimer));
  const keys = ShardedIndexKeys.of(String(ready['prefix']));
  const index = new IndexClassifier(keys);
  const names = queueNames(keys.legacy);
  const queues = [names.discoveries, names.peerLookups, names.metadata];
  /** Indexed infohashes as the product counts them: the 64 shards' counts summed (plus schema 4's registry, empty here). */
  const indexedCount = (): Promise<number> => indexedInfohashCount(redis, keys);
  const classifyNow = async (sized: Sized[], views: Map<string, QueueView>): Promise<ReturnType<typeof classify>> =>
    classify(sized, index, names.bullPrefix, names, views, lookupMarkerKeys(keys, await recordInfohashes(redis, index, sized), startedAt));
  const readyAt = Date.now();
  const deadline = readyAt + SECONDS * 1000;
  const stats = (): Snapshot['stats'] => child.lastStats() as Snapshot['stats'];
  process.stderr.write(`ready after ${((readyAt - startedAt) / 1000).toFixed(1)} s; prefix ${keys.prefix}; waiting for the index to stop growing (shards' counts unchanged ${QUIET_MS / 1000} s, at most ${SECONDS} s)\n`);

  const snapshot = async (label: string): Promise<Snapshot> => {
    const afterReadyS = (Date.now() - readyAt) / 1000;
    const views = await queueViews(redis, names.bullPrefix, queues);
    const sized = await sizeAllKeys(redis);
    const info = await infoMemory(redis);
    const indexed = await indexedCount();
    const { rows, traces, indexClassOf } = await classifyNow(sized, views);
    const entries = await indexEntries(redis, indexClassOf);
    const events = Object.fromEntries(await Promise.all(queues.map(async (q) => [q, await redis.xlen(`${names.bullPrefix}:${q}:events`)] as const)));
    return { label, afterReadyS, indexed, used: info['used_memory']!, clients: info['mem_clients_normal']!, sized, rows, traces, entries, events, stats: stats() };
  };

  /** Polls until `done` (true) or the deadline (false), logging progress every 10 s. */
  let lastLog = 0;
  const waitFor = async (done: (count: number, now: number) => boolean): Promise<boolean> => {
    for (;;) {
      const now = Date.now();
      const n = await indexedCount();
      if (now - lastLog >= 10_000) {
        lastLog = now;
        const depths = Object.entries(stats()?.queues ?? {}).map(([q, d]) => `${q} ${d.waiting}/${d.active}/${d.delayed}`).join(', ');
        process.stderr.write(`  t=${Math.round((now - readyAt) / 1000)} s: ${n} infohashes, used_memory ${fmt((await infoMemory(redis))['used_memory']!)} B; waiting/active/delayed: ${depths}\n`);
      }
      if (done(n, now)) return true;
      if (now >= deadline) return false;
      if (child.child.exitCode !== null) throw new Error(`dhtscope run exited early:\n${child.stderrTail()}`);
      await sleep(POLL_MS);
    }
  };

  // 1. The index stops growing: the count of indexed infohashes unchanged for QUIET_MS.
  let count = -1;
  let changedAt = Date.now();
  const steady = await waitFor((n, now) => {
    if (n !== count) [count, changedAt] = [n, now];
    return n > 0 && now - changedAt >= QUIET_MS;
  });
  const snapshots = [await snapshot(steady ? `index steady (unchanged ${QUIET_MS / 1000} s)` : `deadline, index still growing`)];
  // 2. The per-infohash work done too: nothing waiting, active or delayed in the peer-lookup
  // and metadata queues (the child's stats event, every 5 s), or the deadline.
  if (steady) {
    process.stderr.write('index steady; waiting for the peer-lookup and metadata queues to drain\n');
    const drained = await waitFor(() => {
      const q = stats()?.queues;
      return q !== undefined && ['peerLookups', 'metadata'].every((name) => q[name] !== undefined && q[name]!.waiting + q[name]!.active + q[name]!.delayed === 0);
    });
    snapshots.push(await snapshot(drained ? 'queues drained' : 'deadline, queues not drained'));
  }
  const version = /redis_version:(\S+)/.exec(await redis.info('server'))?.[1] ?? '?';

  const stopAt = Date.now();
  const exitCode = await stopRun(child);
  run = null;
  const stopSeconds = (Date.now() - stopAt) / 1000;

  // After the stop: every key deleted class by class, to see what each really holds (MEMORY
  // USAGE leaves out the keyspace's and the expires table's share of a key).
  const stoppedViews = await queueViews(redis, names.bullPrefix, queues);
  const stoppedSized = await sizeAllKeys(redis);
  const stoppedMemory = (await infoMemory(redis))['used_memory']!;
  const stoppedIndexed = await indexedCount();
  const stopped = await classifyNow(stoppedSized, stoppedViews);
  const freed = await freedByClass(redis, stoppedSized, stopped.classOf);
  const emptied = (await infoMemory(redis))['used_memory']!;
  // What is left is not in any key: the script cache, and the per-command latency histograms
  // (latency-tracking, on by default since Redis 7.0; CONFIG RESETSTAT frees them).
  await redis.call('SCRIPT', 'FLUSH', 'SYNC');
  const flushed = (await infoMemory(redis))['used_memory']!;
  await redis.call('CONFIG', 'RESETSTAT');
  const reset = (await infoMemory(redis))['used_memory']!;
  const [scriptsFreed, histogramsFreed, leftover] = [emptied - flushed, flushed - reset, reset - before['used_memory']!];

  // ---- the report ----
  const growthOf = (s: Snapshot): number => s.used - before['used_memory']!;
  const keyBytesOf = (s: Snapshot): number => s.sized.reduce((sum, k) => sum + k.bytes, 0);
  const perIh = (s: Snapshot, b: number, digits = 1): string => (s.indexed > 0 ? fmt(b / s.indexed, digits) : '-');
  const last = snapshots[snapshots.length - 1]!;
  const share = (b: number): string => (growthOf(last) > 0 ? `${fmt((100 * b) / growthOf(last), 1)}%` : '-');
  const freedPerIh = (b: number | undefined): string => (b === undefined ? '' : stoppedIndexed > 0 ? fmt(b / stoppedIndexed, 1) : '-');

  const out: string[] = [];
  out.push(`dhtscope run --testnet ${NODES} (addresses 127.${ADDRESS_BASE}.x.y) against redis-server ${version} (no persistence); ready ${fmt((readyAt - startedAt) / 1000)} s after start; used_memory ${fmt(before['used_memory']!)} B empty`);
  snapshots.forEach((s, i) => {
    out.push(
      `- ${'AB'[i]}, ${s.label}, ${fmt(s.afterReadyS)} s after ready: ${fmt(s.indexed)} infohashes, ${fmt(s.sized.length)} keys, used_memory ${fmt(s.used)} B: ` +
        `growth ${fmt(growthOf(s))} B, **${perIh(s, growthOf(s))} B per indexed infohash** (keys alone ${perIh(s, keyBytesOf(s))}); ` +
        `queues waiting/active/delayed: ${Object.entries(s.stats?.queues ?? {}).map(([q, d]) => `${q} ${d.waiting}/${d.active}/${d.delayed}`).join(', ')}; ` +
        `events streams XLEN: ${Object.entries(s.events).map(([q, n]) => `${q} ${fmt(n)}`).join(', ')}`,
    );
  });
  out.push(
    `- after the stop (SIGTERM, ${fmt(stopSeconds, 1)} s, exit code ${exitCode}): ${fmt(stoppedSized.length)} keys, ${fmt(stoppedIndexed)} infohashes, used_memory ${fmt(stoppedMemory)} B; ` +
      `${fmt(emptied)} B once every key was deleted; then SCRIPT FLUSH freed ${fmt(scriptsFreed)} B and CONFIG RESETSTAT ${fmt(histogramsFreed)} B, leaving ${fmt(leftover)} B over the empty server`,
  );
  out.push('');
  const L = 'AB'[snapshots.length - 1]!;
  const heads = snapshots.map((_, i) => `${'AB'[i]}: keys | ${'AB'[i]}: B per infohash`).join(' | ');
  out.push(`| class (MEMORY USAGE per key, SAMPLES 0) | ${heads} | ${L}: B per key | ${L}: share of growth | freed by DEL after the stop, B per infohash |`);
  out.push(`|---|${snapshots.map(() => '---:|---:|').join('')}---:|---:|---:|`);
  const classes = [...last.rows.keys(), ...snapshots[0]!.rows.keys()].filter((c, i, all) => all.indexOf(c) === i);
  classes.sort((a, b) => (last.rows.get(b)?.bytes ?? 0) - (last.rows.get(a)?.bytes ?? 0));
  const cells = (s: Snapshot, r: Row | undefined): string => `${fmt(r?.keys ?? 0)} | ${perIh(s, r?.bytes ?? 0)}`;
  for (const c of classes) {
    const r = last.rows.get(c);
    out.push(`| ${c} | ${snapshots.map((s) => cells(s, s.rows.get(c))).join(' | ')} | ${r ? fmt(r.bytes / r.keys) : ''} | ${share(r?.bytes ?? 0)} | ${freedPerIh(freed.get(c))} |`);
  }
  const freedAll = [...freed.values()].reduce((sum, b) => sum + b, 0);
  out.push(`| **all keys** | ${snapshots.map((s) => `${fmt(s.sized.length)} | ${perIh(s, keyBytesOf(s))}`).join(' | ')} | ${fmt(keyBytesOf(last) / Math.max(1, last.sized.length))} | ${share(keyBytesOf(last))} | ${freedPerIh(freedAll)} |`);
  const other = (name: string, bytesOf: (s: Snapshot) => number): void => {
    out.push(`| ${name} | ${snapshots.map((s) => ` | ${perIh(s, bytesOf(s))}`).join(' | ')} | | ${share(bytesOf(last))} | |`);
  };
  other('client buffers (INFO mem_clients_normal, growth)', (s) => s.clients - before['mem_clients_normal']!);
  other('per-command latency histograms (freed by CONFIG RESETSTAT after the stop)', () => histogramsFreed);
  other('Lua script cache (freed by SCRIPT FLUSH after the stop)', () => scriptsFreed);
  other('rest: keyspace and expires tables, what MEMORY USAGE leaves out', (s) => growthOf(s) - keyBytesOf(s) - (s.clients - before['mem_clients_normal']!) - histogramsFreed - scriptsFreed);
  out.push(`| **used_memory growth** | ${snapshots.map((s) => ` | **${perIh(s, growthOf(s))}**`).join(' | ')} | | 100% | |`);
  out.push('');
  out.push(
    'Per-infohash traces of the workers (job hashes, one per job; their `:logs`/`:lock` keys are counted in the table above). ' +
      'Applied markers: on one Redis one per batch, `{T}:applied:<id>:all` in the first shard it touched; on a cluster one per batch and shard, `{T}:applied:<id>` (TTL appliedTtlSec for discovery batches), ' +
      `a peer lookup that found peers one in its infohash's shard (TTL ${PEER_LOOKUP_APPLIED_TTL_SEC} s); peer lookups are claimed in the record, with no dedup key:`,
  );
  out.push('');
  out.push('| when | queue | job hashes kept completed | kept failed | live | job hashes per indexed infohash | distinct infohashes in job ids | dedup keys `de:*` | dedup keys per indexed infohash | applied markers `{T}:applied:*` | markers per indexed infohash |');
  out.push('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  snapshots.forEach((s, i) => {
    for (const [q, t] of s.traces) {
      const jobs = t.jobs.completed + t.jobs.failed + t.jobs.live;
      const distinct = q === names.discoveries ? '(batches)' : fmt(t.jobInfohashes.size);
      out.push(`| ${'AB'[i]} | ${q} | ${fmt(t.jobs.completed)} | ${fmt(t.jobs.failed)} | ${fmt(t.jobs.live)} | ${perIh(s, jobs, 3)} | ${distinct} | ${fmt(t.dedupKeys)} | ${perIh(s, t.dedupKeys, 3)} | ${fmt(t.markers)} | ${perIh(s, t.markers, 3)} |`);
    }
  });
  out.push('');
  snapshots.forEach((s, i) => {
    const e = s.entries;
    const check = e.records === s.indexed ? '' : ` (**not** the ${fmt(s.indexed)} the shards' counts say)`;
    out.push(
      `- ${'AB'[i]}: per-infohash index entries: records ${fmt(e.records)}${check} in ${fmt(s.rows.get(IX.records)?.keys ?? 0)} buckets, ` +
        `peer lists ${fmt(e.peers)} (infohash × hour) in ${fmt(s.rows.get(IX.peers)?.keys ?? 0)} hour buckets, metadata blobs ${fmt(e.metadata)}, ` +
        `posting lists ${fmt(e.postings)}, fetch states ${fmt(e.fetch)}, waiting fetches ${fmt(e.wait)}; worker counters ${JSON.stringify(s.stats?.workers ?? null)}`,
    );
  });
  console.log(out.join('\n'));
} finally {
  if (run !== null) await stopRun(run);
  redis.disconnect();
  await server.stop();
  rmSync(home, { recursive: true, force: true });
}
