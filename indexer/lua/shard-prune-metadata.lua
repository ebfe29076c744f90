#!lua
-- Schema 5 retention, second step (indexer/sharded-prune.ts): removes records of ONE shard that
-- the bucket walk left because they have metadata or fetch state, with their blob, fetch state,
-- wait entry and search postings, after checking each is still past the cutoff and its blob is
-- still the one whose name's postings the caller declared.
-- KEYS: 1 schema version, 2 counts HASH, 3 recent, 4 popular, 5 last-seen hours HASH, 6 totals
-- HASH, 7 metadata wait ZSET, 8 seeders ZSET, then per record its records, meta and fetch
-- buckets, its peer hour and scrape-estimate buckets and its postings, by index.
-- ARGV[1]: JSON {v, cutoff (ms), e = [{h = hex, r, m, f = key indexes, p = [peer hour and
-- scrape-estimate key indexes], t = [posting key indexes], b = ARGV index of the blob read (0: none)}]};
-- ARGV[2..]: the blobs read.
-- Returns {pruned, changed meanwhile (left for a later pass)}, or {-1, version}.
-- @include includes/infohash-record.lua
-- @include includes/hex.lua

local plan = cjson.decode(ARGV[1])
local version = redis.call('GET', KEYS[1]) or '0'
if version ~= plan.v then return {-1, version} end
local cutoff = tonumber(plan.cutoff)
local HOUR_MS = 3600000

local pruned, changed, blobs = 0, 0, 0
for _, e in ipairs(plan.e) do
  local field = hex_to_bytes(e.h)
  local r = record_unpack(redis.call('HGET', KEYS[e.r], field))
  local blob = redis.call('HGET', KEYS[e.m], field)
  local read = e.b > 0 and ARGV[e.b] or false
  if r == nil or r.last >= cutoff or blob ~= read then
    changed = changed + 1
  else
    redis.call('HDEL', KEYS[e.r], field)
    redis.call('HDEL', KEYS[e.f], field)
    if blob then
      redis.call('HDEL', KEYS[e.m], field)
      blobs = blobs + 1
    end
    for _, p in ipairs(e.p) do redis.call('HDEL', KEYS[p], field) end
    for _, t in ipairs(e.t) do redis.call('ZREM', KEYS[t], field) end
    redis.call('ZREM', KEYS[3], e.h)
    redis.call('ZREM', KEYS[4], e.h)
    redis.call('ZREM', KEYS[7], e.h)
    redis.call('ZREM', KEYS[8], e.h)
    local h = math.floor(r.last / HOUR_MS)
    if redis.call('HINCRBY', KEYS[5], h, -1) <= 0 then redis.call('HDEL', KEYS[5], h) end
    pruned = pruned + 1
  end
end
if pruned > 0 then
  redis.call('HINCRBY', KEYS[2], 'infohashes', -pruned)
  redis.call('HINCRBY', KEYS[6], 'infohashes:pruned', pruned)
end
if blobs > 0 then redis.call('HINCRBY', KEYS[2], 'metadata', -blobs) end
return {pruned, changed}
