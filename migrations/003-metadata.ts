import { LuaScript } from '../redis/lua-script.js';
import { MigrationLockLostError } from './errors.js';
import { type Migration } from './types.js';

/**
 * Schema 3: torrent metadata and name search (SCHEMA.md "Torrent metadata").
 *
 * Version 3 only adds keys: per infohash `ih:<hex>:meta` (the metadata) and `ih:<hex>:fetch`
 * (failed fetches), and the global `metadata:fetched`, `metadata:wait` and `search:t:<token>`.
 * Nothing of version 2 changes shape, and version 2 never wrote metadata, so there is nothing
 * to convert or to index. What the step does:
 *
 * - It refuses to adopt metadata keys that a version-2 database should not have
 *   (`metadata:fetched`, `metadata:wait`): some other program wrote them under this prefix,
 *   and the version-3 code would trust them.
 * - It records when the index started keeping metadata (`meta` field `metadata_since`), so
 *   readers can tell "no metadata yet" from "fetched before metadata existed" for older
 *   infohashes.
 *
 * The version bump is what matters most: version-2 writers refuse a version-3 database, so
 * no old process keeps writing while the new one relies on the new keys. The write is fenced
 * by the migration lock and is idempotent (HSETNX), so a re-run after a crash is harmless.
 */

const mark = LuaScript.fromFile(new URL('./lua/003-metadata.lua', import.meta.url));

export const metadata: Migration = {
  version: 3,
  name: 'metadata',
  description: 'torrent metadata (name, size, files) and name search keys; records metadata_since',
  async up({ redis, keys, now, log, lock, assertLock }) {
    const foreign = await redis.exists(keys.metadataFetched, keys.metadataWait);
    if (foreign > 0) {
      throw new Error(`metadata keys under prefix "${keys.prefix}" exist in a version-2 index: refusing to adopt them (they were not written by dhtscope)`);
    }
    assertLock();
    const since = now();
    const r = Number(await mark.run(redis, [lock.key, keys.meta], [lock.token, String(since)]));
    if (r === -1) throw new MigrationLockLostError(lock.key);
    log(r === 1 ? `metadata: keeping torrent metadata from ${new Date(since).toISOString()}` : 'metadata: metadata_since was recorded already');
  },
};
