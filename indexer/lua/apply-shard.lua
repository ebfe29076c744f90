#!lua
-- Schema 5: one batch's infohashes of ONE shard (every key below carries that shard's tag).
-- KEYS: 1 applied marker (this batch, this shard), 2 the shard's schema version, 3 counts HASH,
-- 4 recent ZSET, 5 popular ZSET, 6 nodes HLL, 7 version labels SET, 8 totals HASH, 9 last-seen
-- hours HASH, then record
-- buckets, peer hour buckets, census and statistics keys, referenced by index.
-- ARGV[1]: JSON {v, ttl, cutoff (seconds: peers older are not live), caps = {recent, popular,
-- peers}, ih = [{k = record bucket key index, h = hex, f, l (first and last, ms as strings),
-- n (sightings), s (the reporting nodes' bits: infohash-record.ts sourceBit), p = [{k = hour bucket key index, x = expire at
-- (ms, string), e = [[compact peer hex, seconds]]}], w = [key indexes of the live hour buckets],
-- nk, nf (where a new infohash is counted: stats key index and minute)}], and the census and
-- statistics parts (includes/census-stats.lua)}.
-- Returns {1, new infohashes} when applied, {0, 0} when this shard had applied the batch
-- before, {-1, version} at another schema version (nothing written).
-- @include includes/infohash-record.lua
-- @include includes/packed-peers.lua
-- @include includes/census-stats.lua
-- @include includes/apply-shard-body.lua


return apply_shard(cjson.decode(ARGV[1]), KEYS)
