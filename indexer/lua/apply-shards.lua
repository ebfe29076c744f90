#!lua
-- Schema 5 on ONE Redis (no cluster): a whole batch in one script, shard after shard, each as
-- lua/apply-shard.lua applies it (its own schema version check), under one applied marker for
-- the whole batch instead of one per shard (a shard's own marker, left by an earlier attempt
-- through the per-shard path, is still honoured).
-- KEYS: 1 the batch's marker, then every shard's keys, one shard after the other. ARGV[1]: JSON
-- list of how many KEYS each shard has; ARGV[1 + i]: shard i's plan. Returns one
-- {status, detail} per shard.
-- @include includes/infohash-record.lua
-- @include includes/packed-peers.lua
-- @include includes/census-stats.lua
-- @include includes/apply-shard-body.lua

local counts = cjson.decode(ARGV[1])
local plans, out = {}, {}
for i = 1, #counts do plans[i] = cjson.decode(ARGV[i + 1]) end
-- Every shard's schema version first: another version anywhere writes nothing at all.
local offset = 1
for i, n in ipairs(counts) do
  local version = redis.call('GET', KEYS[offset + 2]) or '0'
  if version ~= plans[i].v then
    for j = 1, #counts do out[j] = {-1, version} end
    return out
  end
  offset = offset + n
end
-- One marker for the whole batch (KEYS[1]): this one script applies every shard or none.
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', plans[1].ttl) then
  for i = 1, #counts do out[i] = {0, 0} end
  return out
end
offset = 1
for i, n in ipairs(counts) do
  local K = {}
  for j = 1, n do K[j] = KEYS[offset + j] end
  offset = offset + n
  out[i] = apply_shard(plans[i], K, true)
end
return out
