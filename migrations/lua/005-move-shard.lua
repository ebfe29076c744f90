#!lua
-- Migration 005 (migrations/schema4-mover.ts): merges one chunk's schema-4 infohashes of ONE shard
-- into schema 5, as indexer/lua/apply-shard.lua merges a batch's, with the record flag MIGRATED
-- set: a record that has it already was merged before (a chunk redone after a crash between
-- this script and the one that drops the schema-4 keys), and is left as it is.
-- A torrent's metadata comes as a schema-5 blob with its name's postings, unless the infohash
-- got a blob from schema 5's fetcher meanwhile (newer); a failed fetch's state and wait entry
-- come only when the infohash has neither metadata nor a schema-5 fetch state.
-- KEYS: 1 the shard's schema version, 2 counts HASH, 3 recent ZSET, 4 popular ZSET, 5 last-seen
-- hours HASH, 6 metadata wait ZSET, then record, peer, meta and fetch buckets and postings, by
-- index.
-- ARGV[1]: JSON {v, cutoff, caps = {recent, popular, peers, postings, wait}, ih = [entries as
-- apply-shard.lua's, with fl = the MIGRATED flag, and optionally m = {k = meta bucket, b = ARGV
-- index of the blob, t = [posting key indexes]}, x = {k = fetch bucket, b = ARGV index of the
-- state, w = wait score (ms, string) or absent}]}; ARGV[2..]: blobs and states.
-- Returns {merged, of them new records}, or {-1, version} at another schema version.
-- @include ../../indexer/lua/includes/infohash-record.lua
-- @include ../../indexer/lua/includes/packed-peers.lua
-- @include ../../indexer/lua/includes/census-stats.lua
-- @include ../../indexer/lua/includes/apply-shard-body.lua

-- indexer/infohash-record.ts RECORD_FLAG
local METADATA, FETCH_FAILED, MIGRATED = 1, 2, 4
local plan = cjson.decode(ARGV[1])

local function with_flags(bucket, field, set, clear)
  local r = record_unpack(redis.call('HGET', bucket, field))
  r.flags = bit.band(bit.bor(r.flags, set), bit.bnot(clear))
  redis.call('HSET', bucket, field, record_pack(r))
  return r
end

-- The metadata and fetch state of an entry whose record was just merged.
local function move_metadata(e, field)
  local bucket = KEYS[e.k]
  if e.m and not redis.call('HGET', KEYS[e.m.k], field) then
    redis.call('HSET', KEYS[e.m.k], field, ARGV[e.m.b])
    redis.call('HINCRBY', KEYS[2], 'metadata', 1)
    local r = with_flags(bucket, field, METADATA, FETCH_FAILED)
    for _, t in ipairs(e.m.t) do
      redis.call('ZADD', KEYS[t], r.peers, field)
      zcap(KEYS[t], plan.caps.postings)
    end
    if e.x then redis.call('HDEL', KEYS[e.x.k], field) end
    redis.call('ZREM', KEYS[6], e.h)
  elseif e.x then
    local r = record_unpack(redis.call('HGET', bucket, field))
    if bit.band(r.flags, METADATA) == 0 and not redis.call('HGET', KEYS[e.x.k], field) then
      redis.call('HSET', KEYS[e.x.k], field, ARGV[e.x.b])
      with_flags(bucket, field, FETCH_FAILED, 0)
      if e.x.w then
        redis.call('ZADD', KEYS[6], e.x.w, e.h)
        zcap(KEYS[6], plan.caps.wait)
      end
    end
  end
end

local version = redis.call('GET', KEYS[1]) or '0'
if version ~= plan.v then return {-1, version} end
local V = { counts = KEYS[2], recent = KEYS[3], popular = KEYS[4], hours = KEYS[5] }
local merged, created = 0, 0
for _, e in ipairs(plan.ih) do
  local c = merge_infohash(plan, KEYS, V, e, MIGRATED)
  if c >= 0 then
    merged = merged + 1
    created = created + c
    move_metadata(e, hex_to_bytes(e.h))
  end
end
if created > 0 then redis.call('HINCRBY', KEYS[2], 'infohashes', created) end
zcap(KEYS[3], plan.caps.recent)
zcap(KEYS[4], plan.caps.popular)
return {merged, created}
