#!lua
-- Schema 5 on ONE Redis (no cluster): a whole batch in one script, shard after shard, each as
-- lua/apply-shard.lua applies it (its own applied marker, its own schema version check).
-- KEYS: every shard's keys, one shard after the other. ARGV[1]: JSON list of how many KEYS
-- each shard has; ARGV[1 + i]: shard i's plan. Returns one {status, detail} per shard.
-- @include includes/infohash-record.lua
-- @include includes/packed-peers.lua
-- @include includes/census-stats.lua
-- @include includes/apply-shard-body.lua

local counts = cjson.decode(ARGV[1])
local offset, out = 0, {}
for i, n in ipairs(counts) do
  local K = {}
  for j = 1, n do K[j] = KEYS[offset + j] end
  offset = offset + n
  out[i] = apply_shard(cjson.decode(ARGV[i + 1]), K)
end
return out
