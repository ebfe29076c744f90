import { ShardedIndexKeys } from '../indexer/sharded-keys.js';
import { type Migration } from './types.js';

/**
 * Schema 5: the index sharded for Redis Cluster and compact per infohash (SCHEMA.md, "Schema 5").
 *
 * The step is the switch, and it is quick: it sets every shard's own copy of the schema version
 * (a shard's scripts check the copy in their own slot), then the runner sets the index's. From
 * then on writers write schema 5 and schema-4 writers refuse. The data stays where it is: the
 * mover (schema4-mover.ts) moves it afterwards, online, in chunks (`dhtscope migrate` runs it to
 * the end; `dhtscope run` runs it in the background), and readers answer from both layouts
 * until it is done (indexer/indexed-reads.ts).

 */
export const shardedLayout: Migration = {
  version: 5,
  name: 'sharded-layout',
  description: 'index sharded over 64 hash-slot groups for Redis Cluster, binary records; schema-4 data moved online afterwards',
  async up({ redis, keys, log, assertLock }) {
    const sharded = new ShardedIndexKeys(keys.prefix);
    assertLock();
    // Idempotent: a re-run after a crash sets the same values. Version 5 itself, not the latest:
    // later steps raise the shards' copies with the index's.
    await Promise.all(sharded.shards.map((s) => redis.set(s.schemaVersion, '5')));
    const legacy = await redis.zcard(keys.infohashes);
    log(`sharded-layout: 64 shards at version 5; ${legacy} schema-4 infohashes to move`);
  },
};
