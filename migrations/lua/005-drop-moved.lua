#!lua
-- Migration 005 (migrations/schema4-mover.ts): drops the schema-4 keys and index entries of
-- infohashes whose data every shard script has merged into schema 5. Fenced by the lock.
-- KEYS: 1 migration lock, 2 registry (ihs), 3 recent, 4 popular, 5 metadata:fetched,
-- 6 metadata:wait, then per infohash its hash, :src, :peers, :meta and :fetch keys, then the
-- search posting keys, by index.
-- ARGV: 1 lock token, 2 JSON [{h = hex, k = first of its five key indexes, t = [posting key indexes]}].
-- Returns the number of infohashes dropped, or -1 when the lock is lost.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
local dropped = 0
for _, e in ipairs(cjson.decode(ARGV[2])) do
  redis.call('DEL', KEYS[e.k], KEYS[e.k + 1], KEYS[e.k + 2], KEYS[e.k + 3], KEYS[e.k + 4])
  for i = 2, 6 do redis.call('ZREM', KEYS[i], e.h) end
  for _, t in ipairs(e.t) do redis.call('ZREM', KEYS[t], e.h) end
  dropped = dropped + 1
end
return dropped
