#!lua flags=no-writes
-- Schema 5: one shard's metadata candidates before the record flags are checked
-- (indexer/sharded-fetch-state.ts), schema 4's lua/fetch-candidates.lua without its
-- `metadata:fetched` exclusion: which infohashes have metadata is in their records, whose
-- bucket keys the caller declares in a second call once it knows the members.
-- KEYS: 1 popular ZSET (hex → live peers), 2 wait ZSET (hex → next attempt). ARGV: 1 now (ms).
-- Returns {never tried: hex joined with ',', their peers joined with ','; due again: the
-- same}, never-tried ones in ascending (peers, hex) order as ZDIFF gives it. Both are bounded
-- by popular's cap. One string per list, not an element per member: cheaper to parse.
local now = tonumber(ARGV[1])
local fresh = redis.call('ZDIFF', 2, KEYS[1], KEYS[2], 'WITHSCORES')
local fm, fs = {}, {}
for i = 1, #fresh, 2 do
  fm[#fm + 1] = fresh[i]
  fs[#fs + 1] = fresh[i + 1]
end
local waiting = redis.call('ZINTER', 2, KEYS[1], KEYS[2], 'WEIGHTS', 0, 1, 'WITHSCORES')
local dm, ds = {}, {}
for i = 1, #waiting, 2 do
  if tonumber(waiting[i + 1]) <= now then dm[#dm + 1] = waiting[i] end
end
-- In chunks: Lua's unpack() takes a few thousand values at most, and popularCap is a setting.
for i = 1, #dm, 1000 do
  local j = math.min(i + 999, #dm)
  local peers = redis.call('ZMSCORE', KEYS[1], unpack(dm, i, j))
  for k = i, j do ds[k] = peers[k - i + 1] end
end
return {table.concat(fm, ','), table.concat(fs, ','), table.concat(dm, ','), table.concat(ds, ',')}
