import { LuaScript } from '../redis/lua-script.js';
import { MigrationLockLostError } from './errors.js';
import { type Migration } from './types.js';

/**
 * Schema 4: the infohash registry (`ihs`) is scored by when each infohash was last seen
 * instead of first seen, so retention (indexer/prune.ts) can find the ones that went quiet
 * among millions. Nothing read the old score (`first` is in each hash), and a second ZSET of
 * every infohash would have cost about 140 bytes per infohash, a fifth more memory.
 *
 * The step walks the registry with ZSCAN, 200 infohashes per script call, and raises each
 * score to its hash's `last` (`ZADD XX GT`: a re-run after a crash, or a value a newer writer
 * already put there, is left as is). An infohash whose hash is missing keeps its first-seen
 * score, so a damaged record is still pruned in time. Version-3 writers refuse a version-4
 * database; one that writes during the step can set a score back to first seen, which the
 * prune script notices and repairs (it checks `last` before it removes anything).
 */

const rescore = LuaScript.fromFile(new URL('./lua/004-registry-last-seen.lua', import.meta.url));

export const CHUNK = 200;

export const registryLastSeen: Migration = {
  version: 4,
  name: 'registry-last-seen',
  description: 'infohash registry (ihs) scored by last seen instead of first seen, for retention',
  async up({ redis, keys, log, lock, assertLock }) {
    let cursor = '0';
    let walked = 0;
    let changed = 0;
    do {
      assertLock();
      const [next, flat] = await redis.zscan(keys.infohashes, cursor, 'COUNT', CHUNK);
      cursor = next;
      const hexes = flat.filter((_, j) => j % 2 === 0);
      for (let i = 0; i < hexes.length; i += CHUNK) {
        const part = hexes.slice(i, i + CHUNK);
        const n = Number(await rescore.run(redis, [lock.key, keys.infohashes, ...part.map((h) => keys.infohash(h))], [lock.token, ...part]));
        if (n === -1) throw new MigrationLockLostError(lock.key);
        changed += n;
        walked += part.length;
      }
    } while (cursor !== '0');
    log(`registry-last-seen: ${walked} infohashes walked, ${changed} rescored by last seen`);
  },
};
