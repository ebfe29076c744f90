#!lua
-- Schema 6: stores BEP 33 scrape estimates for infohashes of ONE shard (indexer/swarm-estimates.ts).
-- An estimate is kept only for an infohash that has a record (retention removes both together)
-- and only when it is newer than the one stored, so a late or replayed write changes nothing.
-- KEYS: 1 the shard's schema version, 2 the shard's seeders ZSET, then record and swarm
-- buckets by index.
-- ARGV[1]: JSON {v, cap (seeders ZSET size), e = [{r = record key index, w = swarm key index,
-- h = hex, s = seeders, l = leechers, m = minute taken}]}.
-- Returns the number stored, or {-1, version} at another schema version.
-- @include includes/hex.lua

local SWARM_FORMAT = '>I2I2I4'
local plan = cjson.decode(ARGV[1])
local version = redis.call('GET', KEYS[1]) or '0'
if version ~= plan.v then return {-1, version} end
local stored = 0
for _, e in ipairs(plan.e) do
  local field = hex_to_bytes(e.h)
  if redis.call('HEXISTS', KEYS[e.r], field) == 1 then
    local old = redis.call('HGET', KEYS[e.w], field)
    local newer = true
    if old and #old == 8 then
      local _, _, minute = struct.unpack(SWARM_FORMAT, old)
      newer = minute < e.m
    end
    if newer then
      redis.call('HSET', KEYS[e.w], field, struct.pack(SWARM_FORMAT, e.s, e.l, e.m))
      if e.s > 0 then redis.call('ZADD', KEYS[2], e.s, e.h) else redis.call('ZREM', KEYS[2], e.h) end
      stored = stored + 1
    end
  end
end
local size = redis.call('ZCARD', KEYS[2])
if size > plan.cap then redis.call('ZREMRANGEBYRANK', KEYS[2], 0, size - plan.cap - 1) end
return stored
