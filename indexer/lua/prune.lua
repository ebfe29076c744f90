#!lua
-- KEYS: 1 schema version, 2 registry (infohash → last seen), 3 recent, 4 popular, 5 metadata
-- fetched, 6 metadata wait, 7 totals, then per candidate (hash, sources, peers, meta, fetch)
-- and its name's posting lists, referenced by index from ARGV[1] (JSON; scores as strings).
local plan = cjson.decode(ARGV[1])
local version = redis.call('GET', KEYS[1]) or '0'
if version ~= plan.v then return {-1, version} end
local pruned, conflicts = 0, 0
for _, c in ipairs(plan.c) do
  local score = redis.call('ZSCORE', KEYS[2], c.h)
  local cur = redis.call('HMGET', KEYS[c.k[1]], 'last')
  local tokens = redis.call('HGET', KEYS[c.k[4]], 'tokens') or ''
  if score and score ~= c.s then
    conflicts = conflicts + 1 -- seen again since it was picked
  elseif score and cur[1] and tonumber(cur[1]) > tonumber(score) then
    -- The registry lags the hash (an older writer during migration 4): repair, keep.
    redis.call('ZADD', KEYS[2], 'GT', cur[1], c.h)
    conflicts = conflicts + 1
  elseif tokens ~= c.t then
    conflicts = conflicts + 1 -- metadata stored since it was picked
  else
    redis.call('DEL', KEYS[c.k[1]], KEYS[c.k[2]], KEYS[c.k[3]], KEYS[c.k[4]], KEYS[c.k[5]])
    for _, g in ipairs({2, 3, 4, 5, 6}) do
      redis.call('ZREM', KEYS[g], c.h)
    end
    for _, p in ipairs(c.p) do redis.call('ZREM', KEYS[p], c.h) end
    if score then pruned = pruned + 1 end
  end
end
if pruned > 0 then redis.call('HINCRBY', KEYS[7], 'infohashes:pruned', pruned) end
return {pruned, conflicts}
