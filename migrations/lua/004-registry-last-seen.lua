#!lua
-- KEYS: 1 migration lock, 2 registry, then one infohash hash per ARGV entry after 1.
-- ARGV: 1 lock token, then the infohash hexes.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
local changed = 0
for i = 2, #ARGV do
  local last = redis.call('HGET', KEYS[i + 1], 'last')
  if last then changed = changed + redis.call('ZADD', KEYS[2], 'XX', 'GT', 'CH', last, ARGV[i]) end
end
return changed
