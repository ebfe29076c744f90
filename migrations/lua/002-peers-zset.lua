#!lua
-- KEYS: 1 migration lock, 2 popular, then (hash, peers) per infohash.
-- ARGV: 1 lock token, 2 now (ms), 3 peer TTL (ms), 4 peers cap, then the infohash hexes.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
local now, ttl, cap = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local converted = 0
for i = 5, #ARGV do
  local hex = ARGV[i]
  local hk, pk = KEYS[3 + (i - 5) * 2], KEYS[4 + (i - 5) * 2]
  if redis.call('TYPE', pk).ok == 'set' then
    local members = redis.call('SMEMBERS', pk)
    local last = redis.call('HGET', hk, 'last')
    redis.call('DEL', pk)
    local count = 0
    if last and tonumber(last) + ttl > now then
      for j = 1, #members, 1000 do
        local args = {}
        for m = j, math.min(j + 999, #members) do
          args[#args + 1] = last
          args[#args + 1] = members[m]
        end
        redis.call('ZADD', pk, unpack(args))
      end
      count = redis.call('ZCARD', pk)
      if count > cap then
        redis.call('ZREMRANGEBYRANK', pk, 0, count - cap - 1)
        count = cap
      end
      redis.call('PEXPIRE', pk, math.max(1, math.floor(tonumber(last) + ttl - now)))
    end
    redis.call('HSET', hk, 'peers', count)
    if count > 0 then redis.call('ZADD', KEYS[2], count, hex) else redis.call('ZREM', KEYS[2], hex) end
    converted = converted + 1
  end
end
return converted
