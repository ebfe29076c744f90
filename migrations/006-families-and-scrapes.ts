import { ShardedIndexKeys } from '../indexer/sharded-keys.js';
import { type Migration } from './types.js';

/**
 * Schema 6: the census keeps each node's address family, and the index keeps BEP 33 scrape
 * estimates (indexer/SCHEMA.md, "Schema 6").
 *
 * Family: two more census HyperLogLogs per shard, `nodes:family:4` and `nodes:family:6`. Every
 * node a schema-5 writer counted was reached over IPv4 (crawlers before schema 6 swept IPv4
 * only), so the step merges each census's `nodes` into its `family:4`: the family counts then
 * cover the whole history, not only what was seen after the upgrade. Scrape estimates are new
 * keys that start empty; nothing to move.
 *
 * The shards' version copies go to 6 first, so that no schema-5 writer adds a node to `nodes`
 * after its census was merged. Both steps are idempotent (SET; PFMERGE is a union), so a re-run
 * after a crash finishes the job. On a cluster each PFMERGE stays in one slot: a census's keys
 * share their shard's tag.
 */
export const familiesAndScrapes: Migration = {
  version: 6,
  name: 'families-and-scrapes',
  description: 'census per address family (IPv4 / IPv6), BEP 33 seeders and leechers per infohash',
  async up({ redis, keys, log, assertLock }) {
    const sharded = new ShardedIndexKeys(keys.prefix);
    assertLock();
    await Promise.all(sharded.shards.map((s) => redis.set(s.schemaVersion, '6')));
    assertLock();
    let merged = 0;
    for (const census of [...sharded.shards.map((s) => s.census), sharded.legacy]) {
      if ((await redis.exists(census.nodes)) === 0) continue;
      await redis.pfmerge(census.nodesFlag('family:4'), census.nodes);
      merged++;
    }
    log(`families-and-scrapes: 64 shards at version 6; ${merged} censuses counted as IPv4`);
  },
};
