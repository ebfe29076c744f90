#!lua
-- Schema 5 retention (and 6's scrape estimates) (indexer/sharded-prune.ts): removes the records of ONE shard's buckets last
-- seen before a cutoff, with their peers and their entries in the shard's views and counts.
-- KEYS: 1 the shard's schema version, 2 counts HASH, 3 recent ZSET, 4 popular ZSET, 5 last-seen
-- hours HASH, 6 totals HASH, 7 seeders ZSET, then the buckets' record HASHes, peer hour HASHes
-- and scrape-estimate HASHes, by index.
-- ARGV[1]: JSON {v, cutoff (ms), dry (0/1), b = [{r = records key index, p = [peer hour and
-- scrape-estimate key indexes: the record's field is removed from each]}]}.
-- A record with metadata or fetch state is not removed here: its hex is returned, and the
-- caller removes it with what its name's search postings need (declared keys).
-- Returns {pruned, {hex of records left to the caller}, records looked at}, or {-1, version}.
-- @include includes/infohash-record.lua
-- @include includes/hex.lua

local plan = cjson.decode(ARGV[1])
local version = redis.call('GET', KEYS[1]) or '0'
if version ~= plan.v then return {-1, version} end
local cutoff = tonumber(plan.cutoff)
local HOUR_MS = 3600000

local pruned, looked, left = 0, 0, {}
local hours = {}
for _, b in ipairs(plan.b) do
  local key = KEYS[b.r]
  local flat = redis.call('HGETALL', key)
  for i = 1, #flat, 2 do
    looked = looked + 1
    local r = record_unpack(flat[i + 1])
    if r ~= nil and r.last < cutoff then
      if bit.band(r.flags, 3) ~= 0 then -- metadata or fetch state (infohash-record.ts RECORD_FLAG)
        left[#left + 1] = bytes_to_hex(flat[i])
      else
        pruned = pruned + 1
        if plan.dry == 0 then
          local field, hex = flat[i], bytes_to_hex(flat[i])
          redis.call('HDEL', key, field)
          for _, p in ipairs(b.p) do redis.call('HDEL', KEYS[p], field) end
          redis.call('ZREM', KEYS[3], hex)
          redis.call('ZREM', KEYS[4], hex)
          redis.call('ZREM', KEYS[7], hex)
          local h = math.floor(r.last / HOUR_MS)
          hours[h] = (hours[h] or 0) + 1
        end
      end
    end
  end
end
if pruned > 0 and plan.dry == 0 then
  redis.call('HINCRBY', KEYS[2], 'infohashes', -pruned)
  redis.call('HINCRBY', KEYS[6], 'infohashes:pruned', pruned)
  for h, n in pairs(hours) do
    if redis.call('HINCRBY', KEYS[5], h, -n) <= 0 then redis.call('HDEL', KEYS[5], h) end
  end
end
return {pruned, left, looked}
