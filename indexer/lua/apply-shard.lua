#!lua
-- Schema 5: one batch's infohashes of ONE shard (every key below carries that shard's tag).
-- KEYS: 1 applied marker (this batch, this shard), 2 the shard's schema version, 3 counts HASH,
-- 4 recent ZSET, then the record buckets, referenced by index from the plan.
-- ARGV[1]: JSON {v, ttl, caps = {recent}, ih = [{k = bucket key index, h = hex, f, l (first and
-- last, ms as strings), n (sightings), s = [reporting node addresses]}]}.
-- Returns {1, new infohashes} when applied, {0, 0} when this shard had applied the batch
-- before, {-1, version} at another schema version (nothing written).
-- @include includes/infohash-record.lua

local plan = cjson.decode(ARGV[1])
local version = redis.call('GET', KEYS[2]) or '0'
if version ~= plan.v then return {-1, version} end
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', plan.ttl) then return {0, 0} end

local function hex_to_bytes(hex)
  return (hex:gsub('..', function(pair) return string.char(tonumber(pair, 16)) end))
end

local created = 0
for _, e in ipairs(plan.ih) do
  local bucket, field = KEYS[e.k], hex_to_bytes(e.h)
  local r = record_unpack(redis.call('HGET', bucket, field))
  local first, last = tonumber(e.f), tonumber(e.l)
  if r == nil then
    created = created + 1
    r = { first = first, last = last, seen = 0, sources = 0, peers = 0, flags = 0 }
  else
    if first < r.first then r.first = first end
    if last > r.last then r.last = last end
  end
  r.seen = r.seen + e.n
  for _, address in ipairs(e.s) do r.sources = source_add(r.sources, address) end
  redis.call('HSET', bucket, field, record_pack(r))
  redis.call('ZADD', KEYS[4], 'GT', r.last, e.h)
end
if created > 0 then redis.call('HINCRBY', KEYS[3], 'infohashes', created) end
local size = redis.call('ZCARD', KEYS[4])
if size > plan.caps.recent then redis.call('ZREMRANGEBYRANK', KEYS[4], 0, size - plan.caps.recent - 1) end
return {1, created}
