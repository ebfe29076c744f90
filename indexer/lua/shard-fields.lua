#!lua flags=no-writes
-- Schema 5: many HGETs in one call, one per (key, field) pair: the records of search
-- candidates and metadata candidates, the blobs of a search page. KEYS[i] is a bucket HASH
-- (records or metadata), ARGV[i] the 20-byte field. On a cluster the caller sends one shard's
-- pairs per call. Returns the values in order, '' where there is none.
local out = {}
for i = 1, #KEYS do
  out[i] = redis.call('HGET', KEYS[i], ARGV[i]) or ''
end
return out
