#!lua
-- KEYS: 1 schema version, 2 infohash hash, 3 metadata hash, 4 fetched registry, 5 fetch
-- attempts hash, 6 wait set, then the old tokens' posting lists (a.nOld of them), then the
-- new tokens' (one per a.tokens entry). ARGV[1]: JSON (times as strings).
local a = cjson.decode(ARGV[1])
local version = redis.call('GET', KEYS[1]) or '0'
if version ~= a.v then return {-1, version} end
if redis.call('EXISTS', KEYS[2]) == 0 then return {-2, ''} end
local cur = redis.call('HMGET', KEYS[3], 'tokens', 'digest', 'fetchedAt')
if cur[3] and tonumber(cur[3]) > tonumber(a.fetchedAt) then return {0, 'stale'} end
if cur[2] == a.digest then return {0, 'unchanged'} end
-- The old tokens we were told about must still be the stored ones (their keys are declared).
if (cur[1] or '') ~= a.old then return {-3, ''} end

local score = tonumber(redis.call('HGET', KEYS[2], 'peers') or '0') or 0
local first = 6 + a.nOld
local keep = {}
for i = 1, #a.tokens do keep[KEYS[first + i]] = true end
for i = 1, a.nOld do
  if not keep[KEYS[6 + i]] then redis.call('ZREM', KEYS[6 + i], a.hex) end
end
for i = 1, #a.tokens do
  local k = KEYS[first + i]
  redis.call('ZADD', k, score, a.hex)
  local n = redis.call('ZCARD', k)
  if n > a.cap then redis.call('ZREMRANGEBYRANK', k, 0, n - a.cap - 1) end
end
redis.call('DEL', KEYS[3])
redis.call('HSET', KEYS[3], unpack(a.fields))
redis.call('ZADD', KEYS[4], a.fetchedAt, a.hex)
redis.call('DEL', KEYS[5])
redis.call('ZREM', KEYS[6], a.hex)
return {1, ''}
