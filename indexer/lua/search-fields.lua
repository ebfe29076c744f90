#!lua flags=no-writes
local out = {}
for i = 1, #KEYS do
  local h = redis.call('HMGET', KEYS[i], 'peers', 'seen', 'last')
  out[#out + 1] = h[1] or '0'
  out[#out + 1] = h[2] or '0'
  out[#out + 1] = h[3] or '0'
end
return out
