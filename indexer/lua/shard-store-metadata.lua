#!lua
-- Schema 5: stores one torrent's metadata blob (indexer/sharded-metadata.ts). Every key is in
-- the infohash's shard.
-- KEYS: 1 schema version, 2 records bucket, 3 metadata bucket, 4 fetch-state bucket, 5 wait
-- ZSET, 6 counts HASH, then the posting lists of the stored name's tokens (ARGV[7] of them),
-- then those of the new name's tokens.
-- ARGV: 1 version, 2 field (the 20 bytes), 3 hex, 4 the new blob, 5 the blob the caller read
-- ('' for none), 6 posting cap (this shard's), 7 how many old posting lists.
-- Returns {1, ''} stored, {0, 'stale' | 'unchanged'}, {-1, version} another schema, {-2, ''}
-- no record, {-3, ''} the stored blob is not the one read (the caller reads again and retries).
-- @include includes/infohash-record.lua
-- @include includes/metadata-blob.lua

-- infohash-record.ts RECORD_FLAG
local FLAG_METADATA, FLAG_FETCH_FAILED = 1, 2

local version = redis.call('GET', KEYS[1]) or '0'
if version ~= ARGV[1] then return {-1, version} end
local field, blob = ARGV[2], ARGV[4]
local r = record_unpack(redis.call('HGET', KEYS[2], field))
if r == nil then return {-2, ''} end
local cur = redis.call('HGET', KEYS[3], field)
if cur then
  local stored_at = blob_fetched_at(cur)
  if stored_at and stored_at > (blob_fetched_at(blob) or 0) then return {0, 'stale'} end
  -- Blobs are canonical (metadata-blob.ts), so equal bytes are equal content.
  if cur == blob then return {0, 'unchanged'} end
end
-- The old name's posting lists were declared from the blob the caller read: it must still be there.
if (cur or '') ~= ARGV[5] then return {-3, ''} end

local cap, n_old = tonumber(ARGV[6]), tonumber(ARGV[7])
local first_new = 7 + n_old
local keep = {}
for i = first_new, #KEYS do keep[KEYS[i]] = true end
for i = 7, first_new - 1 do
  if not keep[KEYS[i]] then redis.call('ZREM', KEYS[i], field) end
end
for i = first_new, #KEYS do
  redis.call('ZADD', KEYS[i], r.peers, field)
  local n = redis.call('ZCARD', KEYS[i])
  if n > cap then redis.call('ZREMRANGEBYRANK', KEYS[i], 0, n - cap - 1) end
end
redis.call('HSET', KEYS[3], field, blob)
if not cur then redis.call('HINCRBY', KEYS[6], 'metadata', 1) end
redis.call('HDEL', KEYS[4], field)
redis.call('ZREM', KEYS[5], ARGV[3])
r.flags = bit.band(bit.bor(r.flags, FLAG_METADATA), bit.bnot(FLAG_FETCH_FAILED))
redis.call('HSET', KEYS[2], field, record_pack(r))
return {1, ''}
