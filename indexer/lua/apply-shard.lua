#!lua
-- Schema 5: one batch's infohashes of ONE shard (every key below carries that shard's tag).
-- KEYS: 1 applied marker (this batch, this shard), 2 the shard's schema version, 3 counts HASH,
-- 4 recent ZSET, 5 popular ZSET, 6 nodes HLL, 7 version labels SET, 8 totals HASH, then record
-- buckets, peer hour buckets, census and statistics keys, referenced by index.
-- ARGV[1]: JSON {v, ttl, cutoff (seconds: peers older are not live), caps = {recent, popular,
-- peers}, ih = [{k = record bucket key index, h = hex, f, l (first and last, ms as strings),
-- n (sightings), s = [reporting node addresses], p = [{k = hour bucket key index, x = expire at
-- (ms, string), e = [[compact peer hex, seconds]]}], w = [key indexes of the live hour buckets],
-- nk, nf (where a new infohash is counted: stats key index and minute)}], and the census and
-- statistics parts (includes/census-stats.lua)}.
-- Returns {1, new infohashes} when applied, {0, 0} when this shard had applied the batch
-- before, {-1, version} at another schema version (nothing written).
-- @include includes/infohash-record.lua
-- @include includes/packed-peers.lua
-- @include includes/census-stats.lua

local plan = cjson.decode(ARGV[1])
local version = redis.call('GET', KEYS[2]) or '0'
if version ~= plan.v then return {-1, version} end
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', plan.ttl) then return {0, 0} end

local function hex_to_bytes(hex)
  return (hex:gsub('..', function(pair) return string.char(tonumber(pair, 16)) end))
end

local function cap(key, n)
  local size = redis.call('ZCARD', key)
  if size > n then redis.call('ZREMRANGEBYRANK', key, 0, size - n - 1) end
end

local created = 0
for _, e in ipairs(plan.ih) do
  local bucket, field = KEYS[e.k], hex_to_bytes(e.h)
  local r = record_unpack(redis.call('HGET', bucket, field))
  local first, last = tonumber(e.f), tonumber(e.l)
  if r == nil then
    created = created + 1
    r = { first = first, last = last, seen = 0, sources = 0, peers = 0, flags = 0 }
    if e.nk then redis.call('HINCRBY', KEYS[e.nk], e.nf, 1) end
  else
    if first < r.first then r.first = first end
    if last > r.last then r.last = last end
  end
  r.seen = r.seen + e.n
  for _, address in ipairs(e.s) do r.sources = source_add(r.sources, address) end
  if #e.p > 0 then
    for _, group in ipairs(e.p) do
      local key = KEYS[group.k]
      local map = peers_unpack(redis.call('HGET', key, field))
      for _, entry in ipairs(group.e) do
        local addr = hex_to_bytes(entry[1])
        if (map[addr] or -1) < entry[2] then map[addr] = entry[2] end
      end
      redis.call('HSET', key, field, peers_pack(map, plan.caps.peers))
      redis.call('PEXPIREAT', key, group.x)
    end
    local lists = {}
    for _, k in ipairs(e.w) do lists[#lists + 1] = redis.call('HGET', KEYS[k], field) end
    r.peers = math.min(peers_live(lists, plan.cutoff), plan.caps.peers)
    if r.peers > 0 then redis.call('ZADD', KEYS[5], r.peers, e.h) else redis.call('ZREM', KEYS[5], e.h) end
  end
  redis.call('HSET', bucket, field, record_pack(r))
  redis.call('ZADD', KEYS[4], 'GT', r.last, e.h)
end
if created > 0 then
  redis.call('HINCRBY', KEYS[3], 'infohashes', created)
  redis.call('HINCRBY', KEYS[8], 'infohashes:new', created)
end
cap(KEYS[4], plan.caps.recent)
cap(KEYS[5], plan.caps.popular)
apply_census_stats(plan, KEYS[6], KEYS[7], KEYS[8])
return {1, created}
