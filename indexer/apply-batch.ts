import { type Discovery } from '../crawler/discovery.js';
import { type ApplyOptions, planBatch } from './batch-plan.js';
import { IndexKeyTypeError, SchemaMismatchError } from './errors.js';
import { SCHEMA_4_VERSION } from './keys.js';
import { type RedisClient } from '../redis/client.js';
import { LuaScript } from '../redis/lua-script.js';

/**
 * Applies a batch of Discovery events to the index: atomically (one Lua script, one EVALSHA per
 * batch) and idempotently (the script's first write is `SET applied:<batchId> NX EX <ttl>`; a
 * batch delivered again finds the marker and changes nothing, so every count stays exact).
 * The events are aggregated first (batch-plan.ts), so the script's work grows with the distinct
 * infohashes and nodes of a batch, not with its events.
 *
 * Cluster: a script may only touch keys of one hash slot. Every key starts with the hash tag
 * `{<prefix>}` (indexer/keys.ts), so all keys of the index, and so of any batch, are in one
 * slot and the script runs on Redis Cluster unchanged; every key it touches is declared in
 * KEYS. The price is that the index cannot be spread over shards. That is acceptable here: a
 * crawl produces a few thousand events per second and one Redis node applies batches of them
 * far faster than that (see SCHEMA.md). The alternative, if memory ever outgrows one node, is
 * a tag per infohash group (`{<prefix>:<first hex digit>}`) with one script per group and one
 * applied marker per (batch, slot group), giving up atomicity across groups but not
 * idempotency.
 */

export interface ApplyResult {
  batchId: string;
  /** false: the batch had been applied before (nothing changed). */
  applied: boolean;
  /** Events the batch held as received, the malformed ones its caller dropped included. */
  events: number;
  /** Events dropped because they were malformed (counted in totals `events:invalid`). */
  invalid: number;
  /** Infohashes this batch created (0 when not applied). */
  newInfohashes: number;
}

export const applyScript = LuaScript.fromFile(new URL('./lua/apply-batch.lua', import.meta.url));

/**
 * Applies `events` (validated by the caller: validateDiscoveries, which also counts what it
 * dropped, passed on as `opts.invalid`) as one batch. Throws SchemaMismatchError (nothing
 * written) when the database is not at SCHEMA_4_VERSION, and IndexKeyTypeError (nothing written)
 * when a key it would write has another type.
 */
export async function applyBatch(redis: RedisClient, events: readonly Discovery[], opts: ApplyOptions): Promise<ApplyResult> {
  const plan = planBatch(events, opts);
  const reply = (await applyScript.run(redis, plan.keys, plan.args)) as [number, number | string, string?, string?];
  const [status, detail] = reply;
  if (status === -1) throw new SchemaMismatchError(Number(detail), SCHEMA_4_VERSION);
  if (status === -2) throw new IndexKeyTypeError(String(detail), String(reply[2]), String(reply[3]));
  return {
    batchId: plan.batchId,
    applied: status === 1,
    events: plan.events,
    invalid: plan.invalid,
    newInfohashes: status === 1 ? Number(detail) : 0,
  };
}
