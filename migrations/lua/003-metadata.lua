#!lua
-- KEYS: 1 migration lock, 2 meta hash. ARGV: 1 lock token, 2 now (ms).
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
return redis.call('HSETNX', KEYS[2], 'metadata_since', ARGV[2])
