#!lua
-- KEYS: 1 schema version, 2 infohash hash, 3 metadata hash, 4 fetch attempts hash, 5 wait set.
-- ARGV: 1 version, 2 hex, 3 code, 4 at, 5 base delay, 6 max delay, 7 max attempts,
-- 8 give-up period, 9 retain, 10 wait cap (times in ms, as strings).
local version = redis.call('GET', KEYS[1]) or '0'
if version ~= ARGV[1] then return {-1, version} end
if redis.call('EXISTS', KEYS[2]) == 0 then return {-2} end
if redis.call('EXISTS', KEYS[3]) == 1 then return {0, 'has-metadata', 0, '', 0} end
local cur = redis.call('HMGET', KEYS[4], 'lastAttemptAt', 'attempts', 'nextAttemptAt', 'gaveUp')
if cur[1] == ARGV[4] then return {0, 'duplicate', tonumber(cur[2]), cur[3], tonumber(cur[4])} end
local at = tonumber(ARGV[4])
local attempts = redis.call('HINCRBY', KEYS[4], 'attempts', 1)
local gaveUp, nextAt = 0, 0
if attempts >= tonumber(ARGV[7]) then
  gaveUp, nextAt = 1, at + tonumber(ARGV[8])
else
  nextAt = at + math.min(tonumber(ARGV[6]), tonumber(ARGV[5]) * 2 ^ (attempts - 1))
end
local nextStr = string.format('%.0f', nextAt)
redis.call('HSETNX', KEYS[4], 'firstFailedAt', ARGV[4])
redis.call('HSET', KEYS[4], 'lastAttemptAt', ARGV[4], 'lastError', ARGV[3], 'nextAttemptAt', nextStr, 'gaveUp', gaveUp)
redis.call('PEXPIRE', KEYS[4], string.format('%.0f', math.max(1, nextAt - at + tonumber(ARGV[9]))))
redis.call('ZADD', KEYS[5], nextStr, ARGV[2])
local n = redis.call('ZCARD', KEYS[5])
local cap = tonumber(ARGV[10])
if n > cap then redis.call('ZREMRANGEBYRANK', KEYS[5], 0, n - cap - 1) end
return {1, 'recorded', attempts, nextStr, gaveUp}
