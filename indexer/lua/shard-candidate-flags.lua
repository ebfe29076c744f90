#!lua flags=no-writes
-- Schema 5: which metadata candidates already have metadata (indexer/sharded-fetch-state.ts):
-- KEYS[i] the records bucket of candidate i, ARGV[i] its 20-byte field (one shard per call on a
-- cluster). Returns one character per candidate, '1' when its record has the METADATA flag
-- (infohash-record.ts RECORD_FLAG), else '0': a single string, because this runs over every
-- candidate of every shard each sweep and one reply element per candidate cost more than the
-- lookups themselves.
local out = {}
for i = 1, #KEYS do
  local r = redis.call('HGET', KEYS[i], ARGV[i])
  out[i] = (r and #r == 28 and bit.band(string.byte(r, 24), 1) == 1) and '1' or '0'
end
return table.concat(out)
