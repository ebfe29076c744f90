import { SchemaMismatchError } from './errors.js';
import { type IndexKeys, SCHEMA_4_VERSION } from './keys.js';
import { type RedisClient } from '../redis/client.js';
import { LuaScript } from '../redis/lua-script.js';
import { PRUNE_CHUNK, PRUNE_MAX_CONFLICT_ROUNDS } from './retention-constants.js';
import { isCanonicalHexId } from '../bep5/node-id.js';

/**
 * Retention: removes infohashes that went quiet, with everything the index holds about them.
 *
 * Two rules, by the registry (`ihs`, scored by last seen since schema 4): infohashes last seen before
 * `seenBefore` go, and past `maxInfohashes` the least recently seen go. An infohash that is
 * seen again after a prune comes back as new.
 *
 * A pass works in chunks. Node picks the least recently seen candidates and reads the search
 * tokens of their names; one script per chunk then re-checks each candidate (its last-seen
 * score is still the one picked, its name's tokens are still the ones read, so a write that got
 * in between wins) and deletes its keys and index entries. Every key the script touches is
 * declared, as everywhere in the index, so it runs unchanged on Redis Cluster.
 */

export interface PruneOptions {
  keys: IndexKeys;
  /** Infohashes last seen before this time (ms since the epoch) are pruned. */
  seenBefore?: number;
  /** At most this many infohashes stay: the most recently seen. */
  maxInfohashes?: number;
  /** Count what would go, change nothing. */
  dryRun?: boolean;
  /** Infohashes per script (default PRUNE_CHUNK). */
  chunk?: number;
  /** Stop after pruning this many in this pass (default: no limit). */
  limit?: number;
  /** Ends the pass after the chunk under way (a pass over millions takes a while). */
  signal?: AbortSignal;
}

export interface PruneResult {
  /** Infohashes removed (with dryRun: that would be removed now). */
  pruned: number;
  /** Candidates left alone because a write changed them between picking and pruning. */
  conflicts: number;
  /** Infohashes in the index after the pass. */
  remaining: number;
  dryRun: boolean;
}

export const pruneScript = LuaScript.fromFile(new URL('./lua/prune.lua', import.meta.url));

/** How many infohashes the rules would remove now. */
export async function countPrunable(redis: RedisClient, opts: Pick<PruneOptions, 'keys' | 'seenBefore' | 'maxInfohashes'>): Promise<{ prunable: number; total: number }> {
  const { keys } = opts;
  const total = await redis.zcard(keys.infohashes);
  const byAge = opts.seenBefore === undefined ? 0 : await redis.zcount(keys.infohashes, '-inf', `(${opts.seenBefore}`);
  const byCount = opts.maxInfohashes === undefined ? 0 : Math.max(0, total - opts.maxInfohashes);
  return { prunable: Math.max(byAge, byCount), total };
}

export interface PruneCandidate {
  hex: string;
  /** Its last-seen score when picked, as Redis printed it. */
  score: string;
  /** Its name's search tokens when picked ('' without metadata). */
  tokens: string;
}

/** The `n` least recently seen infohashes, with what the prune script re-checks. */
export async function pickCandidates(redis: RedisClient, keys: IndexKeys, n: number): Promise<PruneCandidate[]> {
  if (n <= 0) return [];
  const flat = await redis.zrange(keys.infohashes, '0', String(n - 1), 'WITHSCORES');
  const picked: Array<{ hex: string; score: string }> = [];
  for (let i = 0; i < flat.length; i += 2) picked.push({ hex: flat[i]!, score: flat[i + 1]! });
  const valid = picked.filter((c) => isCanonicalHexId(c.hex));
  if (valid.length === 0) return [];
  const tokens = await Promise.all(valid.map((c) => redis.hget(keys.infohashMetadata(c.hex), 'tokens')));
  return valid.map((c, i) => ({ ...c, tokens: tokens[i] ?? '' }));
}

/** Removes the candidates that are still as picked; returns how many went and how many had changed. */
export async function pruneCandidates(redis: RedisClient, keys: IndexKeys, candidates: readonly PruneCandidate[]): Promise<{ pruned: number; conflicts: number }> {
  if (candidates.length === 0) return { pruned: 0, conflicts: 0 };
  // The first seven KEYS in the order lua/prune.lua's header lists them.
  const list = [keys.schemaVersion, keys.infohashes, keys.recent, keys.popular, keys.metadataFetched, keys.metadataWait, keys.totals];
  const index = new Map<string, number>();
  const add = (key: string): number => {
    let i = index.get(key);
    if (i === undefined) {
      list.push(key);
      index.set(key, (i = list.length));
    }
    return i;
  };
  const c = candidates.map(({ hex, score, tokens }) => ({
    h: hex,
    s: score,
    t: tokens,
    k: [keys.infohash(hex), keys.infohashSources(hex), keys.infohashPeers(hex), keys.infohashMetadata(hex), keys.infohashFetch(hex)].map(add),
    p: postingKeys(keys, tokens).map(add),
  }));
  const reply = (await pruneScript.run(redis, list, [JSON.stringify({ v: String(SCHEMA_4_VERSION), c })])) as [number, number | string];
  if (reply[0] === -1) throw new SchemaMismatchError(Number(reply[1]), SCHEMA_4_VERSION);
  return { pruned: Number(reply[0]), conflicts: Number(reply[1]) };
}

/**
 * The posting lists of a stored `tokens` field. A token our tokenizer cannot have made (only
 * another program writing under the prefix could store one) has no posting list of ours: it
 * is skipped rather than failing every pass.
 */
function postingKeys(keys: IndexKeys, tokens: string): string[] {
  const out: string[] = [];
  for (const token of tokens === '' ? [] : tokens.split(' ')) {
    try {
      out.push(keys.searchToken(token));
    } catch {
      // not one of ours
    }
  }
  return out;
}

/** One pass of both rules, chunk by chunk, until nothing more is due (or `limit`). */
export async function pruneIndex(redis: RedisClient, opts: PruneOptions): Promise<PruneResult> {
  const { keys } = opts;
  const chunk = opts.chunk ?? PRUNE_CHUNK;
  const limit = opts.limit ?? Number.POSITIVE_INFINITY;
  // Checked up front too (the script checks again), so a pass with nothing due still says so.
  const version = Number((await redis.get(keys.schemaVersion)) ?? 0);
  if (version !== SCHEMA_4_VERSION) throw new SchemaMismatchError(version, SCHEMA_4_VERSION);
  if (opts.seenBefore === undefined && opts.maxInfohashes === undefined) {
    return { pruned: 0, conflicts: 0, remaining: await redis.zcard(keys.infohashes), dryRun: opts.dryRun === true };
  }
  if (opts.dryRun) {
    const { prunable } = await countPrunable(redis, opts);
    return { pruned: prunable, conflicts: 0, remaining: await redis.zcard(keys.infohashes), dryRun: true };
  }
  let pruned = 0;
  let conflicts = 0;
  let conflictRounds = 0;
  while (pruned < limit && conflictRounds < PRUNE_MAX_CONFLICT_ROUNDS && opts.signal?.aborted !== true) {
    const { prunable } = await countPrunable(redis, opts);
    const n = Math.min(prunable, chunk, limit - pruned);
    if (n <= 0) break;
    const round = await pruneCandidates(redis, keys, await pickCandidates(redis, keys, n));
    pruned += round.pruned;
    conflicts += round.conflicts;
    if (round.pruned === 0) conflictRounds++;
  }
  return { pruned, conflicts, remaining: await redis.zcard(keys.infohashes), dryRun: false };
}
