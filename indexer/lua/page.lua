#!lua flags=no-writes
local key, min, count = KEYS[1], ARGV[1], tonumber(ARGV[2])
if ARGV[3] == '' then
  return redis.call('ZRANGE', key, '+inf', min, 'BYSCORE', 'REV', 'LIMIT', 0, count, 'WITHSCORES')
end
local score, member = ARGV[3], ARGV[4]
-- Byte-wise a < b, as Redis orders members (Lua's own < follows the server's locale).
local function less(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end
local above = redis.call('ZCOUNT', key, '(' .. score, '+inf')
local lo, hi = 0, redis.call('ZCOUNT', key, score, score)
while lo < hi do
  local mid = math.floor((lo + hi) / 2)
  local m = redis.call('ZRANGE', key, above + mid, above + mid, 'REV')[1]
  if m == nil or less(m, member) then hi = mid else lo = mid + 1 end
end
return redis.call('ZRANGE', key, score, min, 'BYSCORE', 'REV', 'LIMIT', lo, count, 'WITHSCORES')
