#!lua flags=no-writes
-- Schema 5: the AND of a query's tokens in one or more shards (indexer/sharded-search.ts),
-- schema 4's lua/search.lua per shard, and the best ARGV[2] of them over all the shards given.
-- KEYS: per shard, the posting lists of the query's ARGV[1] tokens; shard after shard, in
-- shard order (lowest first).
-- ARGV: 1 tokens per shard, 2 the window (how many best postings over all these shards).
-- Returns per shard {intersection size, members (20 bytes each, concatenated), scores joined
-- with ','}, best first. Together the shards' members are exactly the window's (fewer when fewer
-- match), by score, then member descending: schema 4's order.
--
-- Why not each shard's best `window`: a broad query then returns every match of every shard
-- (7,000 for a token in 7,000 names), which cost 4 ms here and as much again in Node
-- (bench/metadata-layout.ts). The window's lowest score S is found first (binary search over
-- the counts at or above a score: scores are live-peer counts, integers), then the shards give
-- what is above S and the ties at S are taken from the highest shard down. That is member order
-- because a shard is its members' leading 6 bits, so no member is ever compared here (Lua's
-- string comparison follows the server's locale, not bytes).

local n, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local groups = #KEYS / n

-- Each shard's matches: a posting list itself (one token) or the ZINTER reply (ascending).
local src, total, lo, hi = {}, 0, nil, nil
for g = 1, groups do
  local K, missing = {}, false
  for i = 1, n do
    K[i] = KEYS[(g - 1) * n + i]
    if not missing and redis.call('EXISTS', K[i]) == 0 then missing = true end
  end
  local s = { count = 0 }
  if not missing then
    local first, last
    if n == 1 then
      s.key = K[1]
      s.count = redis.call('ZCARD', K[1])
      first = tonumber(redis.call('ZRANGE', K[1], 0, 0, 'WITHSCORES')[2])
      last = tonumber(redis.call('ZRANGE', K[1], -1, -1, 'WITHSCORES')[2])
    else
      local args = { n }
      for i = 1, n do args[#args + 1] = K[i] end
      args[#args + 1] = 'AGGREGATE'
      args[#args + 1] = 'MAX'
      args[#args + 1] = 'WITHSCORES'
      s.asc = redis.call('ZINTER', unpack(args))
      s.count = #s.asc / 2
      if s.count > 0 then first, last = tonumber(s.asc[2]), tonumber(s.asc[#s.asc]) end
    end
    if s.count > 0 then
      if lo == nil or first < lo then lo = first end
      if hi == nil or last > hi then hi = last end
    end
  end
  src[g] = s
  total = total + s.count
end

-- How many of a shard's matches score at least x.
local function count_at_least(s, x)
  if s.count == 0 then return 0 end
  if s.key then return redis.call('ZCOUNT', s.key, x, '+inf') end
  local a, l, h = s.asc, 1, s.count + 1
  while l < h do
    local mid = math.floor((l + h) / 2)
    if tonumber(a[2 * mid]) >= x then h = mid else l = mid + 1 end
  end
  return s.count - l + 1
end

-- The window's lowest score: the highest x with at least `window` matches scoring x or more.
local floor_score = nil
if total > window then
  local l, h = math.floor(lo), math.ceil(hi)
  while l < h do
    local mid = math.ceil((l + h) / 2)
    local c = 0
    for g = 1, groups do c = c + count_at_least(src[g], mid) end
    if c >= window then l = mid else h = mid - 1 end
  end
  floor_score = l
end

-- A shard's matches scoring above x (all when x is nil), best first, as a flat member/score list.
local function above(s, x)
  if s.count == 0 then return {} end
  if s.key then
    if x == nil then return redis.call('ZRANGE', s.key, 0, -1, 'REV', 'WITHSCORES') end
    return redis.call('ZRANGE', s.key, '+inf', '(' .. x, 'BYSCORE', 'REV', 'WITHSCORES')
  end
  local out, a = {}, s.asc
  for i = #a - 1, 1, -2 do
    if x ~= nil and tonumber(a[i + 1]) <= x then break end
    out[#out + 1] = a[i]
    out[#out + 1] = a[i + 1]
  end
  return out
end

-- At most `need` of a shard's matches scoring exactly x, member descending.
local function ties(s, x, need)
  if s.count == 0 or need <= 0 then return {} end
  if s.key then return redis.call('ZRANGE', s.key, x, x, 'BYSCORE', 'REV', 'LIMIT', 0, need, 'WITHSCORES') end
  local out, a = {}, s.asc
  for i = #a - 1, 1, -2 do
    local v = tonumber(a[i + 1])
    if v < x or #out >= 2 * need then break end
    if v == x then
      out[#out + 1] = a[i]
      out[#out + 1] = a[i + 1]
    end
  end
  return out
end

local lists, taken = {}, 0
for g = 1, groups do
  lists[g] = above(src[g], floor_score)
  taken = taken + #lists[g] / 2
end
if floor_score ~= nil then
  local need = window - taken
  for g = groups, 1, -1 do
    if need <= 0 then break end
    local t = ties(src[g], floor_score, need)
    for i = 1, #t do lists[g][#lists[g] + 1] = t[i] end
    need = need - #t / 2
  end
end

local out = {}
for g = 1, groups do
  local members, scores, l = {}, {}, lists[g]
  for i = 1, #l, 2 do
    -- Only the store script writes posting lists, always 20-byte members; the check keeps the
    -- concatenation parseable whatever else is there.
    if #l[i] == 20 then
      members[#members + 1] = l[i]
      scores[#scores + 1] = l[i + 1]
    end
  end
  out[g] = { src[g].count, table.concat(members), table.concat(scores, ',') }
end
return out
