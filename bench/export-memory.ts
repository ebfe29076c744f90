/**
 * Export memory benchmark (issue 17, item 5): the real `dhtscope export` executable (the build in
 * dist/) over an index of INFOHASHES (default 1,000,000) records, its peak RSS against the target
 * of 200 MB. Run from the repository root, after `npm run build`:
 *
 *   node --import ./scripts/ts-node-register.mjs bench/export-memory.ts [infohashes]   # or: npm run bench:export
 *
 * The fill is not the system's write path: the benchmark measures the exporter, so the records are
 * written directly, the way the batch script stores them (indexer/infohash-record.ts encodeRecord,
 * HSET per bucket in pipelines, each shard's `counts`), a tenth of them with a metadata blob
 * (metadata-blob.ts encodeMetadataBlob: a name of ~40 bytes and 1-5 files, the record's METADATA
 * flag, `counts` metadata), on a redis-server this script starts on a free loopback port (no
 * persistence). Times are random within the last 30 days, sightings 1-100, sources bitmaps of 1-8
 * bits, live peers 0-20; the schema is the current one (migrations run first on the empty index).
 *
 * Then `dhtscope export` (NDJSON, then CSV) runs as a child process, `node dist/cli/main.js export`
 * (what bin/dhtscope.mjs imports; the build is checked once at the start, so a source edited
 * during the run does not stop the second export), with its stdout piped to this
 * one, which counts the lines and bytes and throws them away. Its RSS is read from
 * /proc/PID/status every 50 ms (VmRSS), and its peak (VmHWM) by a hook the child runs on exit
 * (`--import` of a data: URL that writes VmHWM to its stderr): the exact peak, which sampling can
 * miss. For reference, the same hook on `dhtscope export --help` (the process without the walk).
 * MB = 10^6 bytes. The report goes to stdout.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { IndexKeys } from '../indexer/keys.js';
import { RECORD_FLAG, encodeRecord } from '../indexer/infohash-record.js';
import { encodeMetadataBlob } from '../indexer/metadata-blob.js';
import { ShardedIndexKeys } from '../indexer/sharded-keys.js';
import { bucketOf, shardOfBucket } from '../indexer/shard.js';
import { ensureSchema } from '../migrations/runner.js';
import { requireFreshBuild } from '../testkit/build.js';
import { startRedisServer } from '../testkit/redis-server.js';

const INFOHASHES = Number(process.argv[2] ?? 1_000_000);
const TARGET_MB = 200;
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DAY = 86_400_000;
const WORDS = ['ubuntu', 'debian', 'linux', 'movie', 'music', 'album', 'season', 'episode', 'complete', 'collection', '1080p', 'x264'];
/** Writes the process's VmHWM (peak RSS) to its stderr when it exits. */
const HWM_HOOK =
  'data:text/javascript,' +
  encodeURIComponent(
    "import { readFileSync, writeSync } from 'node:fs';\n" +
      "process.on('exit', () => { const m = /^VmHWM:\\s+(\\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8')); writeSync(2, '\\nVMHWM_KB ' + (m ? m[1] : '?') + '\\n'); });",
  );

const mb = (bytes: number): string => (bytes / 1e6).toFixed(1);
const pick = <T>(list: readonly T[], i: number): T => list[i % list.length]!;

async function fill(redis: Redis, keys: ShardedIndexKeys): Promise<{ withMetadata: number }> {
  const now = Date.now();
  const perShard = new Map<number, { infohashes: number; metadata: number }>();
  let withMetadata = 0;
  const BATCH = 50_000;
  for (let from = 0; from < INFOHASHES; from += BATCH) {
    const records = new Map<string, Buffer[]>();
    const blobs = new Map<string, Buffer[]>();
    const push = (map: Map<string, Buffer[]>, key: string, field: Buffer, value: Buffer): void => {
      const list = map.get(key);
      if (list === undefined) map.set(key, [field, value]);
      else list.push(field, value);
    };
    for (let i = from; i < Math.min(INFOHASHES, from + BATCH); i++) {
      const field = randomBytes(20);
      const bucket = bucketOf(field);
      const shard = keys.shards[shardOfBucket(bucket)]!;
      const last = now - Math.floor(Math.random() * 30 * DAY);
      const meta = i % 10 === 0;
      let sources = 0;
      for (let s = 0; s <= i % 8; s++) sources |= 1 << Math.floor(Math.random() * 32);
      push(records, shard.records(bucket), field, encodeRecord({ firstSeen: last - Math.floor(Math.random() * DAY), lastSeen: last, sightings: 1 + (i % 100), sources: sources >>> 0, peers: i % 21, flags: meta ? RECORD_FLAG.METADATA : 0, lookupMinute: 0 }));
      const count = perShard.get(shard.shard) ?? { infohashes: 0, metadata: 0 };
      count.infohashes++;
      if (meta) {
        const files = 1 + (i % 5);
        const name = `${pick(WORDS, i)} ${pick(WORDS, i >> 3)} ${pick(WORDS, i >> 6)} ${i}`;
        push(
          blobs,
          shard.meta(bucket),
          field,
          encodeMetadataBlob({
            fetchedAt: last,
            peer: '198.51.100.7:51413',
            name: Buffer.from(name),
            nameTruncated: false,
            totalSize: files * 700_000_000,
            pieceLength: 1 << 20,
            pieceCount: Math.ceil((files * 700_000_000) / (1 << 20)),
            fileCount: files,
            singleFile: files === 1,
            private: false,
            metaVersion: 1,
            files: Array.from({ length: files }, (_, f) => ({ path: files === 1 ? [Buffer.from(name)] : [Buffer.from(name), Buffer.from(`part ${f}.mkv`)], size: 700_000_000, truncated: false })),
          }),
        );
        count.metadata++;
        withMetadata++;
      }
      perShard.set(shard.shard, count);
    }
    const p = redis.pipeline();
    for (const [key, pairs] of records) p.hset(key, ...pairs);
    for (const [key, pairs] of blobs) p.hset(key, ...pairs);
    await p.exec();
    process.stderr.write(`\rfilled ${Math.min(INFOHASHES, from + BATCH)} of ${INFOHASHES}`);
  }
  process.stderr.write('\n');
  const p = redis.pipeline();
  for (const [s, c] of perShard) p.hset(keys.shards[s]!.counts, 'infohashes', c.infohashes, 'metadata', c.metadata);
  await p.exec();
  return { withMetadata };
}

interface Run {
  code: number | null;
  ms: number;
  lines: number;
  bytes: number;
  /** Peak RSS (bytes): the child's VmHWM at exit. */
  peak: number;
  /** The largest VmRSS sampled (bytes). */
  sampled: number;
  samples: number;
}

function rssOf(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? 0 : Number(m[1]) * 1024;
  } catch {
    return 0; // gone between the check and the read
  }
}

async function runExport(args: string[]): Promise<Run> {
  const started = Date.now();
  const child: ChildProcess = spawn(process.execPath, ['--import', HWM_HOOK, 'dist/cli/main.js', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let lines = 0;
  let bytes = 0;
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, i + 1)) lines++;
  });
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  let sampled = 0;
  let samples = 0;
  const timer = setInterval(() => {
    sampled = Math.max(sampled, rssOf(child.pid!));
    samples++;
  }, 50);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  clearInterval(timer);
  const hwm = /VMHWM_KB (\d+)/.exec(stderr);
  if (code !== 0 || hwm === null) throw new Error(`dhtscope ${args.join(' ')} exited ${code}: ${stderr}`);
  return { code, ms: Date.now() - started, lines, bytes, peak: Number(hwm[1]) * 1024, sampled, samples };
}

requireFreshBuild();
const server = await startRedisServer();
const redis = new Redis(server.url);
try {
  const prefix = `bench-export-${randomBytes(4).toString('hex')}`;
  await ensureSchema(redis, new IndexKeys(prefix), { migrate: true });
  const keys = ShardedIndexKeys.of(prefix);
  const fillStart = Date.now();
  const { withMetadata } = await fill(redis, keys);
  const fillMs = Date.now() - fillStart;
  const used = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]);
  const index = ['--redis-url', server.url, '--prefix', prefix];

  const idle = await runExport(['export', '--help']);
  const runs: Array<[string, Run]> = [];
  for (const format of ['ndjson', 'csv']) {
    process.stderr.write(`exporting as ${format}...\n`);
    runs.push([format, await runExport(['export', '--format', format, ...index])]);
  }

  const [l1, l5, l15] = loadavg().map((x) => x.toFixed(2));
  const out: string[] = [];
  out.push(`## dhtscope export: ${INFOHASHES.toLocaleString('en-US')} infohashes, ${withMetadata.toLocaleString('en-US')} with metadata`);
  out.push('');
  out.push('| format | peak RSS (VmHWM) | largest sampled RSS | time | infohashes/s | lines | output |');
  out.push('|---|---|---|---|---|---|---|');
  for (const [format, r] of runs) {
    out.push(`| ${format} | ${mb(r.peak)} MB | ${mb(r.sampled)} MB (${r.samples} samples) | ${(r.ms / 1000).toFixed(1)} s | ${Math.round((INFOHASHES / r.ms) * 1000).toLocaleString('en-US')} | ${r.lines.toLocaleString('en-US')} | ${mb(r.bytes)} MB |`);
  }
  out.push(`| (export --help, no walk) | ${mb(idle.peak)} MB | | ${(idle.ms / 1000).toFixed(1)} s | | | |`);
  out.push('');
  out.push(
    `Fill: ${(fillMs / 1000).toFixed(1)} s, written directly (records and blobs by HSET per bucket, not the batch path); Redis used_memory ${mb(used)} MB. ` +
      `Node ${process.version}, ${availableParallelism()} cores, load average ${l1} ${l5} ${l15} at the end. MB = 10^6 bytes.`,
  );
  const worst = Math.max(...runs.map(([, r]) => r.peak));
  const expectedLines = (format: string): number => INFOHASHES + (format === 'csv' ? 1 : 0);
  const complete = runs.every(([format, r]) => r.lines === expectedLines(format));
  out.push('');
  out.push(`Target: peak RSS under ${TARGET_MB} MB for 1 M infohashes: ${mb(worst)} MB ${worst < TARGET_MB * 1e6 ? 'met' : 'NOT met'}; every infohash exported: ${complete ? 'yes' : 'NO'}.`);
  process.stdout.write(out.join('\n') + '\n');
} finally {
  redis.disconnect();
  await server.stop();
}
