#!lua flags=no-writes
local now, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
local out = {}
-- Never tried: in popular, without metadata, not waiting. ZDIFF answers in ascending score
-- order, so the best are at the end.
local fresh = redis.call('ZDIFF', 3, KEYS[1], KEYS[2], KEYS[3], 'WITHSCORES')
local stop = math.max(1, #fresh - 2 * limit + 1)
for i = #fresh - 1, stop, -2 do out[#out + 1] = {fresh[i], tonumber(fresh[i + 1]), 0} end
-- Due again: in popular and in wait with a time already past (scored by that time here).
local waiting = redis.call('ZINTER', 2, KEYS[1], KEYS[3], 'WEIGHTS', 0, 1, 'WITHSCORES')
for i = 1, #waiting, 2 do
  if tonumber(waiting[i + 1]) <= now and not redis.call('ZSCORE', KEYS[2], waiting[i]) then
    out[#out + 1] = {waiting[i], tonumber(redis.call('ZSCORE', KEYS[1], waiting[i])), 1}
  end
end
table.sort(out, function(x, y)
  if x[2] ~= y[2] then return x[2] > y[2] end
  return x[1] < y[1]
end)
local flat = {}
for i = 1, math.min(limit, #out) do
  flat[#flat + 1] = out[i][1]
  flat[#flat + 1] = tostring(out[i][2])
  flat[#flat + 1] = out[i][3]
end
return flat
