#!lua
-- Records one survey entry in the survey series (indexer/survey-series.ts) and trims the series
-- to its bound, oldest first. Both keys carry the index's own tag {P}, so this is one slot.
-- KEYS: 1 the index's schema version STRING, 2 the series ZSET.
-- ARGV: 1 the schema version this code writes, 2 the entry's time (ms, the score), 3 the entry
-- (JSON), 4 the bound (entries kept).
-- Returns {entries kept, entries trimmed}; {-1, version found} on another schema version and
-- {-2, type found} when the series key holds another type: nothing is written then.
local version = redis.call('GET', KEYS[1]) or '0'
if version ~= ARGV[1] then return {-1, version} end
local found = redis.call('TYPE', KEYS[2]).ok
if found ~= 'none' and found ~= 'zset' then return {-2, found} end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
local n = redis.call('ZCARD', KEYS[2])
local bound = tonumber(ARGV[4])
local trimmed = 0
if n > bound then trimmed = redis.call('ZREMRANGEBYRANK', KEYS[2], 0, n - bound - 1) end
return {n - trimmed, trimmed}
