#!lua
-- KEYS: 1 applied marker, 2 schema version, 3 recent, 4 popular, 5 infohash registry,
-- 6 nodes HLL, 7 version labels SET, 8 totals HASH, then per-batch keys referenced by index
-- from the plan (ARGV[1], JSON). Numbers that may exceed 2^31 (times) travel as strings.
local plan = cjson.decode(ARGV[1])

-- Refuse a database at another schema version (nothing written).
local version = redis.call('GET', KEYS[2]) or '0'
if version ~= plan.v then return {-1, version} end

-- Refuse a key of the wrong type (nothing written): a command on it would fail half-way
-- through the batch, after the marker. Only another program can have written one.
for _, t in ipairs(plan.types) do
  local found = redis.call('TYPE', KEYS[t[1]]).ok
  if found ~= 'none' and found ~= t[2] then return {-2, KEYS[t[1]], found, t[2]} end
end
local infohashTypes = {'hash', 'string', 'zset'}
for _, e in ipairs(plan.ih) do
  for j = 1, 3 do
    local found = redis.call('TYPE', KEYS[e.k[j]]).ok
    if found ~= 'none' and found ~= infohashTypes[j] then return {-2, KEYS[e.k[j]], found, infohashTypes[j]} end
  end
end

-- Idempotency: the first write. A batch seen before changes nothing.
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', plan.ttl) then return {0, 0} end

-- @include includes/census-stats.lua

local now = tonumber(plan.now)
local newCount = 0
for _, e in ipairs(plan.ih) do
  local hk, sk, pk = KEYS[e.k[1]], KEYS[e.k[2]], KEYS[e.k[3]]
  local cur = redis.call('HMGET', hk, 'first', 'last')
  local first, last = e.f, e.l
  if cur[1] then
    if tonumber(cur[1]) <= tonumber(first) then first = cur[1] end
    if cur[2] and tonumber(cur[2]) >= tonumber(last) then last = cur[2] end
  else
    newCount = newCount + 1
    if e.nk then redis.call('HINCRBY', KEYS[e.nk], e.nf, 1) end
  end
  redis.call('HINCRBY', hk, 'seen', e.n)
  if #e.s > 0 then chunked('PFADD', sk, false, e.s, 1000) end
  local sources = redis.call('PFCOUNT', sk)
  if #e.p > 0 then chunked('ZADD', pk, 'GT', e.p, 1000) end
  redis.call('ZREMRANGEBYSCORE', pk, '-inf', '(' .. plan.cutoff)
  local peers = redis.call('ZCARD', pk)
  if peers > plan.caps.peers then
    redis.call('ZREMRANGEBYRANK', pk, 0, peers - plan.caps.peers - 1)
    peers = plan.caps.peers
  end
  if peers > 0 then
    local top = redis.call('ZRANGE', pk, -1, -1, 'WITHSCORES')
    local ttl = math.max(1, math.floor(tonumber(top[2]) + plan.peerTtl - now))
    redis.call('PEXPIRE', pk, ttl)
    redis.call('ZADD', KEYS[4], peers, e.h)
  else
    redis.call('ZREM', KEYS[4], e.h)
  end
  redis.call('HSET', hk, 'first', first, 'last', last, 'sources', sources, 'peers', peers)
  redis.call('ZADD', KEYS[3], 'GT', last, e.h)
  redis.call('ZADD', KEYS[5], 'GT', last, e.h)
end
local function cap(key, n)
  local size = redis.call('ZCARD', key)
  if size > n then redis.call('ZREMRANGEBYRANK', key, 0, size - n - 1) end
end
cap(KEYS[3], plan.caps.recent)
cap(KEYS[4], plan.caps.popular)

apply_census_stats(plan, KEYS, KEYS[6], KEYS[7], KEYS[8])
if newCount > 0 then redis.call('HINCRBY', KEYS[8], 'infohashes:new', newCount) end
return {1, newCount}
