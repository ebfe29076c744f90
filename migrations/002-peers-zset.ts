import { LuaScript } from '../redis/lua-script.js';
import { MigrationLockLostError } from './errors.js';
import { type Migration } from './types.js';

/**
 * Schema 2: peers per infohash become a ZSET scored by when each peer was last seen, trimmed
 * by age and count, with a TTL on the key.
 *
 * Schema 1 kept them as a SET of "ip:port": no times, so a peer seen once stayed forever, a
 * full set refused every newer peer, and "most recent first" was impossible. The migration
 * converts every `ih:<hex>:peers` SET into a ZSET. The only time schema 1 knows for those
 * peers is the infohash's `last` (the newest sighting, an upper bound for each peer), so every
 * member gets that score. Then schema 2's rules apply as if the batch had been written now:
 * members older than the peer TTL go (with schema 1 there is no way to keep a subset), at most
 * `peersCap` stay, the key expires peer TTL after `last`, and the hash's `peers` field and the
 * `popular` index get the resulting count.
 *
 * It walks the infohash registry (`ihs`, a ZSET of every infohash) with ZSCAN, 200 infohashes
 * per script call: no keyspace SCAN. Each call is fenced by the migration lock and converts a
 * key only while it is still a SET, so a re-run after a crash resumes where it stopped.
 */

const convert = LuaScript.fromFile(new URL('./lua/002-peers-zset.lua', import.meta.url));

export const CHUNK = 200;

export const peersZset: Migration = {
  version: 2,
  name: 'peers-zset',
  description: 'peers per infohash: SET of ip:port -> ZSET scored by last seen, capped, expiring',
  async up({ redis, keys, config, now, log, lock, assertLock }) {
    let cursor = '0';
    let seen = 0;
    let converted = 0;
    do {
      assertLock();
      const [next, flat] = await redis.zscan(keys.infohashes, cursor, 'COUNT', CHUNK);
      cursor = next;
      const hexes: string[] = [];
      for (let i = 0; i < flat.length; i += 2) hexes.push(flat[i]!);
      for (let i = 0; i < hexes.length; i += CHUNK) {
        const part = hexes.slice(i, i + CHUNK);
        const scriptKeys = [lock.key, keys.popular, ...part.flatMap((h) => [keys.infohash(h), keys.infohashPeers(h)])];
        const args = [lock.token, String(now()), String(config.peerTtlMs), String(config.peersCap), ...part];
        const n = Number(await convert.run(redis, scriptKeys, args));
        if (n === -1) throw new MigrationLockLostError(lock.key);
        converted += n;
        seen += part.length;
      }
    } while (cursor !== '0');
    const size = await redis.zcard(keys.popular);
    if (size > config.popularCap) await redis.zremrangebyrank(keys.popular, 0, size - config.popularCap - 1);
    log(`peers-zset: ${converted} peer sets converted (${seen} infohashes walked)`);
  },
};
