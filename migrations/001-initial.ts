import { type Migration } from './types.js';

/**
 * Schema 1, the initial one. Redis has no DDL: the index's keys appear on first write. This
 * step records when and under which prefix the index was created, and refuses to adopt index
 * data that has no schema version (someone deleted `schema:version`, or another program uses
 * the prefix): guessing its version could corrupt it.
 *
 * Schema 1 as written by the first indexer (see SCHEMA.md "History"): per infohash a hash
 * (first, last, seen, sources, peers), a sources HyperLogLog and the peers as a plain SET of
 * "ip:port" (no times, capped by refusing new members once full, never expiring); the
 * registry, recent and popular sorted sets; the node census; stats; totals.
 */
export const initial: Migration = {
  version: 1,
  name: 'initial',
  description: 'the initial schema: records creation time and prefix',
  async up({ redis, keys, now }) {
    const existing = await redis.exists(keys.infohashes, keys.totals, keys.recent, keys.nodes);
    if (existing > 0) {
      throw new Error(`index keys under prefix "${keys.prefix}" exist but no schema version is recorded: refusing to adopt them`);
    }
    await redis.hset(keys.meta, 'prefix', keys.prefix);
    await redis.hsetnx(keys.meta, 'created_at', String(now()));
  },
};
