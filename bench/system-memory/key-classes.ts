import { type Redis } from 'ioredis';
import { METRICS, NODE_FLAGS } from '../../indexer/keys.js';
import { type ShardKeys, type ShardedIndexKeys } from '../../indexer/sharded-keys.js';
import { PEER_LOOKUP_APPLIED_TTL_SEC, PEER_LOOKUP_REFRESH_MS } from '../../workers/constants.js';
import { lookupBatchId } from '../../workers/peer-lookup-processor.js';
import { type Sized } from './redis-figures.js';

/**
 * Which class each key of the running system is, for bench/system-memory.ts: the index's keys
 * by the names indexer/sharded-keys.ts builds, BullMQ's by queue and job state, and the
 * per-infohash traces the workers leave; with the reads that need the classes (the recorded
 * infohashes, the index's entries per class).
 */

/**
 * The index's classes: schema 5 (indexer/SCHEMA.md, "Schema 5"). `{T}` is a shard's tag
 * `{<prefix>:<ss>[.n]}` (shard.ts `shardTags`), `{P}` the index's own tag `{<prefix>}`.
 */
export const IX = {
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
export type IndexClass = keyof typeof IX;



/**
 * Classifies the index's keys by the names indexer/sharded-keys.ts builds: the fixed names of
 * every shard are looked up; a parametrised name is parsed (bucket, hour, token, batch id, day,
 * label, metric) and kept only if the builder, given what was parsed, builds the same key.
 */
export class IndexClassifier {
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

export interface QueueView {
  completed: Set<string>;
  failed: Set<string>;
}

export interface Row {
  keys: number;
  bytes: number;
}

export interface Trace {
  jobs: Record<JobState, number>;
  /** Distinct infohashes named by job ids (per-infohash queues only). */
  jobInfohashes: Set<string>;
  dedupKeys: number;
  /** `{T}:applied:<id>` markers the queue's jobs left in the index (a discovery batch: one per shard it touched). */
  markers: number;
}

export async function queueViews(redis: Redis, bullPrefix: string, queues: string[]): Promise<Map<string, QueueView>> {
  const views = new Map<string, QueueView>();
  for (const q of queues) {
    const [completed, failed] = await Promise.all([redis.zrange(`${bullPrefix}:${q}:completed`, '0', '-1'), redis.zrange(`${bullPrefix}:${q}:failed`, '0', '-1')]);
    views.set(q, { completed: new Set(completed), failed: new Set(failed) });
  }
  return views;
}

export function classify(
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
export async function recordInfohashes(redis: Redis, index: IndexClassifier, sized: Sized[]): Promise<string[]> {
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
export function lookupMarkerKeys(keys: ShardedIndexKeys, infohashes: readonly string[], since: number): Set<string> {
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
export async function indexEntries(redis: Redis, indexClassOf: Map<string, IndexClass>): Promise<Record<'records' | 'peers' | 'metadata' | 'fetch' | 'wait' | 'postings', number>> {
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
