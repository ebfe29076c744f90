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

const CONVERT_LUA = `#!lua
-- KEYS: 1 migration lock, 2 popular, then (hash, peers) per infohash.
-- ARGV: 1 lock token, 2 now (ms), 3 peer TTL (ms), 4 peers cap, then the infohash hexes.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
local now, ttl, cap = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local converted = 0
for i = 5, #ARGV do
  local hex = ARGV[i]
  local hk, pk = KEYS[3 + (i - 5) * 2], KEYS[4 + (i - 5) * 2]
  if redis.call('TYPE', pk).ok == 'set' then
    local members = redis.call('SMEMBERS', pk)
    local last = redis.call('HGET', hk, 'last')
    redis.call('DEL', pk)
    local count = 0
    if last and tonumber(last) + ttl > now then
      for j = 1, #members, 1000 do
        local args = {}
        for m = j, math.min(j + 999, #members) do
          args[#args + 1] = last
          args[#args + 1] = members[m]
        end
        redis.call('ZADD', pk, unpack(args))
      end
      count = redis.call('ZCARD', pk)
      if count > cap then
        redis.call('ZREMRANGEBYRANK', pk, 0, count - cap - 1)
        count = cap
      end
      redis.call('PEXPIRE', pk, math.max(1, math.floor(tonumber(last) + ttl - now)))
    end
    redis.call('HSET', hk, 'peers', count)
    if count > 0 then redis.call('ZADD', KEYS[2], count, hex) else redis.call('ZREM', KEYS[2], hex) end
    converted = converted + 1
  end
end
return converted
`;
const convert = new LuaScript(CONVERT_LUA);

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
