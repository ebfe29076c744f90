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
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { sleep } from '../bep5/clock.js';
import { METRICS, type NodeFlag } from '../indexer/keys.js';
import { indexedInfohashCount } from '../indexer/indexed-reads.js';
import { type ShardKeys, ShardedIndexKeys } from '../indexer/sharded-keys.js';
import { queueNames } from '../workers/queues.js';
import { PEER_LOOKUP_APPLIED_TTL_SEC, PEER_LOOKUP_REFRESH_MS } from '../workers/constants.js';
import { lookupBatchId } from '../workers/peer-lookup-processor.js';
import { startRedisServer } from '../testkit/redis-server.js';

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

// ---- Redis figures ----

async function infoMemory(redis: Redis): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const line of (await redis.info('memory')).split('\r\n')) {
    const [k, v] = line.split(':');
    if (k && v !== undefined && /^\d+$/.test(v)) out[k] = Number(v);
  }
  return out;
}

interface Sized {
  key: string;
  type: string;
  bytes: number;
  /** PTTL: -1 without a TTL. */
  ttlMs: number;
}

/** Every key with its type, MEMORY USAGE (SAMPLES 0: every element counted) and PTTL. */
async function sizeAllKeys(redis: Redis): Promise<Sized[]> {
  const out: Sized[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'COUNT', 1000);
    cursor = next;
    const p = redis.pipeline();
    for (const k of keys) p.type(k).memory('USAGE', k, 'SAMPLES', 0).pttl(k);
    const res = (await p.exec()) ?? [];
    keys.forEach((key, i) => {
      const type = res[3 * i]?.[1];
      const bytes = res[3 * i + 1]?.[1];
      const ttlMs = res[3 * i + 2]?.[1];
      if (typeof bytes === 'number' && type !== 'none') out.push({ key, type: String(type), bytes, ttlMs: Number(ttlMs) }); // gone in between: skipped
    });
  } while (cursor !== '0');
  return out;
}

// ---- classes of keys ----

/**
 * The index's classes: schema 5 (indexer/SCHEMA.md, "Schema 5"). `{T}` is a shard's tag
 * `{<prefix>:<ss>[.n]}` (shard.ts `shardTags`), `{P}` the index's own tag `{<prefix>}`.
 */
const IX = {
  records: 'index: record buckets `{T}:r:<bucket>`',
  peers: 'index: peer hour buckets `{T}:p:<bucket>:<hour>`',
  views: 'index: recent/popular/counts per shard `{T}:recent`, `:popular`, `:count`',
  census: 'index: census, stats, totals, last-seen histograms `{T}:nodes:*`, `:stats:*`, `:totals`, `:lastseen`',
  metadata: 'index: metadata blobs, postings `{T}:m:<bucket>`, `{T}:s:<token>`',
  fetch: 'index: fetch state, wait `{T}:f:<bucket>`, `{T}:metadata:wait`',
  discoveryMarkers: 'index: applied markers of discovery batches `{T}:applied:<id>`',
  lookupMarkers: 'index: applied markers of peer lookups `{T}:applied:<id>`',
  schema: 'index: schema and meta `{T}:schema:version`, `{P}:schema:*`, `{P}:meta`',
  surveys: 'index: survey series `{P}:surveys` (one entry per sweep, capped)',
  legacy: 'index: schema-4 keys under `{P}` (not written since migration 005)',
  other: 'index: other (under a shard tag, not a name sharded-keys.ts builds)',
} as const;
type IndexClass = keyof typeof IX;

const NODE_FLAGS: readonly NodeFlag[] = ['bep51:yes', 'bep51:no', 'bep42:yes', 'bep42:no'];

/**
 * Classifies the index's keys by the names indexer/sharded-keys.ts builds: the fixed names of
 * every shard are looked up; a parametrised name is parsed (bucket, hour, token, batch id, day,
 * label, metric) and kept only if the builder, given what was parsed, builds the same key.
 */
class IndexClassifier {
  /** Shard tag `{…}` → the shard's keys. */
  private readonly byTag: Map<string, ShardKeys>;
  /** Every shard's fixed key names → class. */
  private readonly fixed = new Map<string, IndexClass>();
  private readonly legacySchema: Set<string>;

  constructor(readonly keys: ShardedIndexKeys) {
    this.byTag = new Map(keys.shards.map((s) => [s.tag, s]));
    for (const s of keys.shards) {
      for (const k of [s.recent, s.popular, s.counts]) this.fixed.set(k, 'views');
      for (const k of [s.lastSeenHours, s.census.totals, s.census.nodes, s.census.nodeVersions, ...NODE_FLAGS.map((f) => s.census.nodesFlag(f))]) this.fixed.set(k, 'census');
      this.fixed.set(s.metadataWait, 'fetch');
      this.fixed.set(s.schemaVersion, 'schema');
    }
    const l = keys.legacy;
    this.legacySchema = new Set([l.schemaVersion, l.schemaHistory, l.schemaLock, l.meta]);
  }

  /** The shard whose tag the key starts with, if any. */
  shardOf(key: string): ShardKeys | undefined {
    const close = key.indexOf('}');
    return key.startsWith('{') && close > 0 ? this.byTag.get(key.slice(0, close + 1)) : undefined;
  }

  /** The key's class, or null when it is not the index's (BullMQ's, or someone else's). */
  classify(key: string): { cls: IndexClass; shard?: ShardKeys; batchId?: string } | null {
    const legacyTag = `${this.keys.legacy.tag}:`;
    if (key === this.keys.legacy.surveys) return { cls: 'surveys' };
    if (key.startsWith(legacyTag)) return { cls: this.legacySchema.has(key) ? 'schema' : 'legacy' };
    // hll-union.ts's copies on a cluster (census read with schema 4's HyperLogLogs): `{<prefix>:tmp}:hll:…`.
    if (key.startsWith(`{${this.keys.prefix}:tmp}:hll:`)) return { cls: 'census' };
    const s = this.shardOf(key);
    if (s === undefined) return null;
    const fixed = this.fixed.get(key);
    if (fixed !== undefined) return { cls: fixed, shard: s };
    const rest = key.slice(s.tag.length + 1);
    const builds = (build: () => string): boolean => {
      try {
        return build() === key;
      } catch {
        return false; // the builder refuses what was parsed (a bucket of another shard, a bad token)
      }
    };
    const hex = (t: string): number => Number.parseInt(t, 16);
    let m: RegExpExecArray | null;
    if ((m = /^r:([0-9a-f]+)$/.exec(rest)) && builds(() => s.records(hex(m![1]!)))) return { cls: 'records', shard: s };
    if ((m = /^p:([0-9a-f]+):(\d+)$/.exec(rest)) && builds(() => s.peers(hex(m![1]!), Number(m![2])))) return { cls: 'peers', shard: s };
    if ((m = /^m:([0-9a-f]+)$/.exec(rest)) && builds(() => s.meta(hex(m![1]!)))) return { cls: 'metadata', shard: s };
    if ((m = /^s:(.+)$/.exec(rest)) && builds(() => s.postings(m![1]!))) return { cls: 'metadata', shard: s };
    if ((m = /^f:([0-9a-f]+)$/.exec(rest)) && builds(() => s.fetch(hex(m![1]!)))) return { cls: 'fetch', shard: s };
    if ((m = /^applied:([0-9a-f]+)$/.exec(rest)) && builds(() => s.applied(m![1]!))) return { cls: 'discoveryMarkers', shard: s, batchId: m[1]! };
    if ((m = /^applied:([0-9a-f]+):all$/.exec(rest)) && builds(() => s.appliedBatch(m![1]!))) return { cls: 'discoveryMarkers', shard: s, batchId: m[1]! };
    if ((m = /^nodes:hll:(\d{8})$/.exec(rest)) && builds(() => s.census.nodesDay(m![1]!))) return { cls: 'census', shard: s };
    if ((m = /^nodes:v:(.+)$/.exec(rest)) && builds(() => s.census.nodesVersion(m![1]!))) return { cls: 'census', shard: s };
    if ((m = /^stats:(.+):(\d{8})$/.exec(rest)) && METRICS.some((metric) => builds(() => s.census.stats(metric, m![2]!)))) return { cls: 'census', shard: s };
    return { cls: 'other', shard: s };
  }
}

/** BullMQ's own keys of a queue (workers/queues.ts names the queues; bullmq's QueueKeys these). */
const QUEUE_STRUCTURE = new Set(['', 'active', 'wait', 'waiting-children', 'paused', 'id', 'delayed', 'prioritized', 'stalled-check', 'completed', 'failed', 'stalled', 'repeat', 'limiter', 'meta', 'pc', 'marker']);
const JOB_SUFFIX = /:(logs|lock|dependencies|processed|failed|unsuccessful)$/;
const IH = /[0-9a-f]{40}/;

type JobState = 'completed' | 'failed' | 'live';

interface QueueView {
  completed: Set<string>;
  failed: Set<string>;
}

interface Row {
  keys: number;
  bytes: number;
}

interface Trace {
  jobs: Record<JobState, number>;
  /** Distinct infohashes named by job ids (per-infohash queues only). */
  jobInfohashes: Set<string>;
  dedupKeys: number;
  /** `{T}:applied:<id>` markers the queue's jobs left in the index (a discovery batch: one per shard it touched). */
  markers: number;
}

async function queueViews(redis: Redis, bullPrefix: string, queues: string[]): Promise<Map<string, QueueView>> {
  const views = new Map<string, QueueView>();
  for (const q of queues) {
    const [completed, failed] = await Promise.all([redis.zrange(`${bullPrefix}:${q}:completed`, '0', '-1'), redis.zrange(`${bullPrefix}:${q}:failed`, '0', '-1')]);
    views.set(q, { completed: new Set(completed), failed: new Set(failed) });
  }
  return views;
}

function classify(
  sized: Sized[],
  index: IndexClassifier,
  bullPrefix: string,
  queues: { discoveries: string; peerLookups: string; metadata: string },
  views: Map<string, QueueView>,
  lookupMarkers: Set<string>,
): { rows: Map<string, Row>; traces: Map<string, Trace>; classOf: Map<string, string>; indexClassOf: Map<string, IndexClass> } {
  const rows = new Map<string, Row>();
  const classOf = new Map<string, string>();
  const indexClassOf = new Map<string, IndexClass>();
  const add = (key: string, name: string, bytes: number): void => {
    classOf.set(key, name);
    const r = rows.get(name) ?? { keys: 0, bytes: 0 };
    r.keys++;
    r.bytes += bytes;
    rows.set(name, r);
  };
  const names = [queues.discoveries, queues.peerLookups, queues.metadata];
  const traces = new Map<string, Trace>(names.map((q) => [q, { jobs: { completed: 0, failed: 0, live: 0 }, jobInfohashes: new Set<string>(), dedupKeys: 0, markers: 0 }]));
  let suspicious = 0;
  for (const { key, type, bytes, ttlMs } of sized) {
    const ix = index.classify(key);
    if (ix !== null) {
      // A peer lookup writes what it found as a batch of its own (lookupBatchId of its job id),
      // marked applied in its infohash's shard like any batch, with a shorter TTL.
      let cls = ix.cls;
      if (cls === 'discoveryMarkers' && lookupMarkers.has(key)) cls = 'lookupMarkers';
      if (cls === 'discoveryMarkers' && ttlMs >= 0 && ttlMs <= PEER_LOOKUP_APPLIED_TTL_SEC * 1000) suspicious++;
      if (cls === 'discoveryMarkers') traces.get(queues.discoveries)!.markers++;
      if (cls === 'lookupMarkers') traces.get(queues.peerLookups)!.markers++;
      indexClassOf.set(key, cls);
      add(key, IX[cls], bytes);
      continue;
    }
    const queue = names.find((q) => key.startsWith(`${bullPrefix}:${q}:`));
    if (queue === undefined) {
      add(key, 'other keys', bytes);
      continue;
    }
    const rest = key.slice(`${bullPrefix}:${queue}:`.length);
    const trace = traces.get(queue)!;
    if (rest === 'events') add(key, 'BullMQ: events streams (3 queues)', bytes);
    else if (QUEUE_STRUCTURE.has(rest) || rest.startsWith('metrics:')) add(key, 'BullMQ: queue lists, zsets, meta (3 queues)', bytes);
    else if (rest.startsWith('de:')) {
      add(key, `BullMQ ${queue}: dedup keys \`de:*\``, bytes);
      trace.dedupKeys++;
    } else {
      const jobId = rest.replace(JOB_SUFFIX, '');
      const view = views.get(queue)!;
      const state: JobState = view.completed.has(jobId) ? 'completed' : view.failed.has(jobId) ? 'failed' : 'live';
      add(key, `BullMQ ${queue}: job records, ${state === 'live' ? 'live (waiting, active, delayed)' : `kept ${state}`}`, bytes);
      if (type === 'hash' && !JOB_SUFFIX.test(rest)) {
        trace.jobs[state]++;
        const ih = queue === queues.discoveries ? undefined : IH.exec(jobId)?.[0];
        if (ih) trace.jobInfohashes.add(ih);
      }
    }
  }
  if (suspicious > 0) process.stderr.write(`warning: ${suspicious} applied markers classed as discovery batches' have a peer lookup's TTL (<= ${PEER_LOOKUP_APPLIED_TTL_SEC} s)\n`);
  return { rows, traces, classOf, indexClassOf };
}

/** Every infohash that has a record: the fields of the record buckets (20 binary bytes each). */
async function recordInfohashes(redis: Redis, index: IndexClassifier, sized: Sized[]): Promise<string[]> {
  const buckets = sized.filter((k) => index.classify(k.key)?.cls === 'records').map((k) => k.key);
  const out: string[] = [];
  for (let i = 0; i < buckets.length; i += 500) {
    const p = redis.pipeline();
    for (const k of buckets.slice(i, i + 500)) p.hkeysBuffer(k);
    for (const [, fields] of (await p.exec()) ?? []) for (const f of (fields as Buffer[] | null) ?? []) out.push(f.toString('hex'));
  }
  return out;
}

/**
 * The applied markers that peer lookups of the recorded infohashes write: one per lookup (job id
 * `<infohash>-<window>`, peer-lookup-scheduler.ts), in the infohash's shard, for every window
 * since `since`.
 */
function lookupMarkerKeys(keys: ShardedIndexKeys, infohashes: readonly string[], since: number): Set<string> {
  const out = new Set<string>();
  for (const ih of infohashes) {
    const { shard } = keys.locate(ih);
    for (let w = Math.floor(since / PEER_LOOKUP_REFRESH_MS); w <= Math.floor(Date.now() / PEER_LOOKUP_REFRESH_MS); w++) {
      // One Redis: one marker for the whole batch (appliedBatch); a cluster: one per shard.
      out.add(shard.applied(lookupBatchId(`${ih}-${w}`)));
      out.add(shard.appliedBatch(lookupBatchId(`${ih}-${w}`)));
    }
  }
  return out;
}

/** Entries of the index's per-infohash keys: fields of the bucket HASHes, members of the wait ZSETs. */
async function indexEntries(redis: Redis, indexClassOf: Map<string, IndexClass>): Promise<Record<'records' | 'peers' | 'metadata' | 'fetch' | 'wait' | 'postings', number>> {
  const out = { records: 0, peers: 0, metadata: 0, fetch: 0, wait: 0, postings: 0 };
  const todo: Array<[string, keyof typeof out, 'hlen' | 'zcard']> = [];
  for (const [key, cls] of indexClassOf) {
    const rest = key.slice(key.indexOf('}') + 2);
    if (cls === 'records') todo.push([key, 'records', 'hlen']);
    else if (cls === 'peers') todo.push([key, 'peers', 'hlen']);
    else if (cls === 'metadata' && rest.startsWith('m:')) todo.push([key, 'metadata', 'hlen']);
    else if (cls === 'metadata') out.postings++;
    else if (cls === 'fetch' && rest.startsWith('f:')) todo.push([key, 'fetch', 'hlen']);
    else if (cls === 'fetch') todo.push([key, 'wait', 'zcard']);
  }
  for (let i = 0; i < todo.length; i += 1000) {
    const part = todo.slice(i, i + 1000);
    const p = redis.pipeline();
    for (const [key, , cmd] of part) p[cmd](key);
    const res = (await p.exec()) ?? [];
    part.forEach(([, field], j) => (out[field] += Number(res[j]?.[1] ?? 0)));
  }
  return out;
}

/** used_memory drop when each class's keys are deleted (DEL, synchronous free), class by class. */
async function freedByClass(redis: Redis, sized: Sized[], classOf: Map<string, string>): Promise<Map<string, number>> {
  const byClass = new Map<string, string[]>();
  for (const { key } of sized) {
    const c = classOf.get(key) ?? 'other keys';
    if (!byClass.has(c)) byClass.set(c, []);
    byClass.get(c)!.push(key);
  }
  const freed = new Map<string, number>();
  for (const [c, names] of byClass) {
    const before = (await infoMemory(redis))['used_memory']!;
    for (let i = 0; i < names.length; i += 500) await redis.del(...names.slice(i, i + 500));
    freed.set(c, before - (await infoMemory(redis))['used_memory']!);
  }
  return freed;
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
