#!lua
-- Schema 5: claims peer lookups for infohashes of ONE shard (indexer/peer-lookup-claims.ts): an
-- infohash is claimed when it has a record whose last claim is older than the window's start;
-- the claim is the record's lookup minute, so one lookup per window needs no key of its own.
-- KEYS: 1 the shard's schema version, then record buckets by index.
-- ARGV[1]: JSON {v, start (minute the window starts), now (minute), e = [{k = bucket key index, h = hex}]}.
-- Returns the hex of the claimed ones, or {-1, version} at another schema version.
-- @include includes/infohash-record.lua
-- @include includes/hex.lua

local plan = cjson.decode(ARGV[1])
local version = redis.call('GET', KEYS[1]) or '0'
if version ~= plan.v then return {-1, version} end
local claimed = {}
for _, e in ipairs(plan.e) do
  local field = hex_to_bytes(e.h)
  local r = record_unpack(redis.call('HGET', KEYS[e.k], field))
  if r ~= nil and r.lookup < plan.start then
    r.lookup = plan.now
    redis.call('HSET', KEYS[e.k], field, record_pack(r))
    claimed[#claimed + 1] = e.h
  end
end
return claimed
