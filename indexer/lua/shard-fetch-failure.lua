#!lua
-- Schema 5: records a failed metadata fetch (indexer/sharded-fetch-state.ts), schema 4's
-- lua/fetch-failure.lua with the state packed in the bucket's fetch HASH.
-- KEYS: 1 schema version, 2 records bucket, 3 metadata bucket, 4 fetch-state bucket, 5 wait ZSET
-- (all in the infohash's shard).
-- ARGV: 1 version, 2 field (20 bytes), 3 hex, 4 code index (0: ARGV[5] is the code's text),
-- 5 code text, 6 at, 7 base delay, 8 max delay, 9 max attempts, 10 give-up period, 11 retain,
-- 12 wait cap (this shard's). Times in ms, as strings.
-- @include includes/infohash-record.lua
-- @include includes/fetch-state.lua

local FLAG_FETCH_FAILED = 2 -- infohash-record.ts RECORD_FLAG

local version = redis.call('GET', KEYS[1]) or '0'
if version ~= ARGV[1] then return {-1, version} end
local field = ARGV[2]
local r = record_unpack(redis.call('HGET', KEYS[2], field))
if r == nil then return {-2} end
if redis.call('HEXISTS', KEYS[3], field) == 1 then return {0, 'has-metadata', 0, '', 0} end
local at = tonumber(ARGV[6])

-- A field cannot expire as schema 4's per-infohash key did: a state past its `expires` counts
-- as gone (readers skip it too), and this write drops every such state of the bucket, clearing
-- FETCH_FAILED in its record, so the flag says "has a fetch state" to retention.
local cur = nil
local all = redis.call('HGETALL', KEYS[4])
for i = 1, #all, 2 do
  local st = fetch_unpack(all[i + 1])
  if st == nil or st.expires <= at then
    redis.call('HDEL', KEYS[4], all[i])
    local other = all[i] ~= field and record_unpack(redis.call('HGET', KEYS[2], all[i]))
    if other then
      other.flags = bit.band(other.flags, bit.bnot(FLAG_FETCH_FAILED))
      redis.call('HSET', KEYS[2], all[i], record_pack(other))
    end
  elseif all[i] == field then
    cur = st
  end
end

if cur and cur.last == at then return {0, 'duplicate', cur.attempts, string.format('%.0f', cur.next), cur.gave_up} end
local attempts = (cur and cur.attempts or 0) + 1
local gave_up, next_at = 0, 0
if attempts >= tonumber(ARGV[9]) then
  gave_up, next_at = 1, at + tonumber(ARGV[10])
else
  next_at = at + math.min(tonumber(ARGV[8]), tonumber(ARGV[7]) * 2 ^ (attempts - 1))
end
local next_str = string.format('%.0f', next_at)
redis.call('HSET', KEYS[4], field, fetch_pack({
  attempts = attempts, first = cur and cur.first or at, last = at, next = next_at,
  expires = next_at + tonumber(ARGV[11]), gave_up = gave_up, code = tonumber(ARGV[4]), text = ARGV[5],
}))
redis.call('ZADD', KEYS[5], next_str, ARGV[3])
local n = redis.call('ZCARD', KEYS[5])
local cap = tonumber(ARGV[12])
if n > cap then redis.call('ZREMRANGEBYRANK', KEYS[5], 0, n - cap - 1) end
r.flags = bit.bor(r.flags, FLAG_FETCH_FAILED)
redis.call('HSET', KEYS[2], field, record_pack(r))
return {1, 'recorded', attempts, next_str, gave_up}
