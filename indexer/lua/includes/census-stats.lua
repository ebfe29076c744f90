-- What both index writers do with a batch's nodes, statistics and totals (lua/apply-batch.lua,
-- lua/apply-shard.lua): the plan's `nodes`, `days`, `ver`, `flags`, `stats`, `exp` and `totals`
-- (built by indexer/census-stats-plan.ts), into the given census and totals keys; K is the
-- script's KEYS, or one shard's slice of them.

-- redis.call with a long list, in chunks (Lua's unpack limit).
local function chunked(cmd, key, opt, list, step)
  local n = #list
  local i = 1
  while i <= n do
    local j = math.min(i + step - 1, n)
    if opt then redis.call(cmd, key, opt, unpack(list, i, j)) else redis.call(cmd, key, unpack(list, i, j)) end
    i = j + 1
  end
end

local function apply_census_stats(plan, K, nodesKey, versionsKey, totalsKey)
  if #plan.nodes > 0 then chunked('PFADD', nodesKey, false, plan.nodes, 1000) end
  for _, d in ipairs(plan.days) do
    chunked('PFADD', K[d[1]], false, d[3], 1000)
    redis.call('EXPIREAT', K[d[1]], d[2])
  end
  for _, v in ipairs(plan.ver) do
    local key, label = K[v[1]], v[3]
    if redis.call('SISMEMBER', versionsKey, label) == 0 and redis.call('SCARD', versionsKey) >= plan.caps.versions then
      key, label = K[v[2]], 'other'
    end
    redis.call('SADD', versionsKey, label)
    chunked('PFADD', key, false, v[4], 1000)
  end
  for _, f in ipairs(plan.flags) do chunked('PFADD', K[f[1]], false, f[2], 1000) end

  for _, s in ipairs(plan.stats) do redis.call('HINCRBY', K[s[1]], s[2], s[3]) end
  for _, x in ipairs(plan.exp) do
    if redis.call('EXISTS', K[x[1]]) == 1 then redis.call('EXPIREAT', K[x[1]], x[2]) end
  end
  for _, t in ipairs(plan.totals) do redis.call('HINCRBY', totalsKey, t[1], t[2]) end
end
