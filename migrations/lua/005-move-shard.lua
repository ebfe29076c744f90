#!lua
-- Migration 005 (migrations/schema4-mover.ts): merges one chunk's schema-4 infohashes of ONE shard
-- into schema 5, as indexer/lua/apply-shard.lua merges a batch's, with the record flag MIGRATED
-- set: a record that has it already was merged before (a chunk redone after a crash between
-- this script and the one that drops the schema-4 keys), and is left as it is.
-- KEYS: 1 the shard's schema version, 2 counts HASH, 3 recent ZSET, 4 popular ZSET, 5 last-seen
-- hours HASH, then record buckets and peer hour buckets, by index.
-- ARGV[1]: JSON {v, cutoff, caps = {recent, popular, peers}, ih = [entries as apply-shard.lua's,
-- with fl = the MIGRATED flag]}.
-- Returns {merged, of them new records}, or {-1, version} at another schema version.
-- @include ../../indexer/lua/includes/infohash-record.lua
-- @include ../../indexer/lua/includes/packed-peers.lua
-- @include ../../indexer/lua/includes/census-stats.lua
-- @include ../../indexer/lua/includes/apply-shard-body.lua

local MIGRATED = 4 -- indexer/infohash-record.ts RECORD_FLAG
local plan = cjson.decode(ARGV[1])
local version = redis.call('GET', KEYS[1]) or '0'
if version ~= plan.v then return {-1, version} end
local V = { counts = KEYS[2], recent = KEYS[3], popular = KEYS[4], hours = KEYS[5] }
local merged, created = 0, 0
for _, e in ipairs(plan.ih) do
  local c = merge_infohash(plan, KEYS, V, e, MIGRATED)
  if c >= 0 then
    merged = merged + 1
    created = created + c
  end
end
if created > 0 then redis.call('HINCRBY', KEYS[2], 'infohashes', created) end
zcap(KEYS[3], plan.caps.recent)
zcap(KEYS[4], plan.caps.popular)
return {merged, created}
