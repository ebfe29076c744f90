#!lua
-- dhtscope import (indexer/import-merge.ts): merges imported infohashes of ONE shard into their
-- records, as a batch would but with import's rules (indexer/SCHEMA.md, "Export and import"):
-- first seen the earliest, last seen the latest, sightings the larger of the two (re-importing a
-- file changes nothing), sources the larger count of the two: the bitmap keeps its bits and gets
-- the lowest free ones until as many are set as read the imported count (linear counting reads
-- the number of set bits, not where they are). No
-- peers (they expire), no statistics (nothing was discovered). Metadata replaces the stored blob
-- only when it was fetched later, or fills a record that has none, with its name's postings as
-- shard-store-metadata.lua keeps them.
-- KEYS: 1 the shard's schema version, 2 counts HASH, 3 recent ZSET, 4 last-seen hours HASH,
-- 5 metadata wait ZSET, then record, metadata and fetch buckets and posting lists, by index.
-- ARGV[1]: JSON {v, caps = {recent, postings}, ih = [{k = record bucket key index, h = hex,
-- f, l (first and last seen, ms as strings), n (sightings), s (sources: bits to set), m = {k = metadata
-- bucket, x = fetch bucket, b = ARGV index of the blob, o = sha1 hex of the blob the caller read
-- ('' for none), t = [posting key indexes of that blob's name], u = [those of the new name]}
-- or absent}]}; ARGV[2..]: blobs.
-- Returns one code per entry, record * 4 + metadata: record 0 new, 1 changed, 2 unchanged;
-- metadata 0 none given, 1 stored, 2 kept (the stored one was fetched as late or later), 3 the
-- stored blob is not the one read (the caller reads it again and retries the entry); or
-- {-1, version} at another schema version (nothing written).
-- @include includes/infohash-record.lua
-- @include includes/packed-peers.lua
-- @include includes/census-stats.lua
-- @include includes/apply-shard-body.lua
-- @include includes/metadata-blob.lua

-- indexer/infohash-record.ts RECORD_FLAG
local METADATA, FETCH_FAILED = 1, 2

local plan = cjson.decode(ARGV[1])
local version = redis.call('GET', KEYS[1]) or '0'
if version ~= plan.v then return {-1, version} end

-- The bitmap with at least `want` bits set: its own, then the lowest free ones.
local function with_bits(bitmap, want)
  local have = 0
  for i = 0, 31 do
    if bit.band(bitmap, bit.lshift(1, i)) ~= 0 then have = have + 1 end
  end
  for i = 0, 31 do
    if have >= want then break end
    if bit.band(bitmap, bit.lshift(1, i)) == 0 then
      bitmap = bit.bor(bitmap, bit.lshift(1, i))
      have = have + 1
    end
  end
  if bitmap < 0 then bitmap = bitmap + 4294967296 end
  return bitmap
end

local function merge_record(e, field)
  local bucket = KEYS[e.k]
  local first, last = tonumber(e.f), tonumber(e.l)
  local r = record_unpack(redis.call('HGET', bucket, field))
  local status, last_before
  if r == nil then
    status = 0
    r = { first = first, last = last, seen = e.n, sources = with_bits(0, e.s), peers = 0, flags = 0, lookup = 0 }
    redis.call('HINCRBY', KEYS[2], 'infohashes', 1)
  else
    last_before = r.last
    local sources = with_bits(r.sources, e.s)
    status = 2
    if first < r.first or last > r.last or e.n > r.seen or sources ~= r.sources then status = 1 end
    if status == 2 then return status, r end
    r.first, r.last, r.seen, r.sources = math.min(r.first, first), math.max(r.last, last), math.max(r.seen, e.n), sources
  end
  redis.call('HSET', bucket, field, record_pack(r))
  move_hour(KEYS[4], last_before, r.last)
  redis.call('ZADD', KEYS[3], 'GT', r.last, e.h)
  return status, r
end

local function merge_metadata(e, field, r)
  local m = e.m
  local blob = ARGV[m.b]
  local cur = redis.call('HGET', KEYS[m.k], field)
  if (cur and redis.sha1hex(cur) or '') ~= m.o then return 3 end
  if cur and (blob_fetched_at(cur) or 0) >= (blob_fetched_at(blob) or 0) then return 2 end
  local keep = {}
  for _, i in ipairs(m.u) do keep[KEYS[i]] = true end
  for _, i in ipairs(m.t) do
    if not keep[KEYS[i]] then redis.call('ZREM', KEYS[i], field) end
  end
  for _, i in ipairs(m.u) do
    redis.call('ZADD', KEYS[i], r.peers, field)
    zcap(KEYS[i], plan.caps.postings)
  end
  redis.call('HSET', KEYS[m.k], field, blob)
  if not cur then redis.call('HINCRBY', KEYS[2], 'metadata', 1) end
  redis.call('HDEL', KEYS[m.x], field)
  redis.call('ZREM', KEYS[5], e.h)
  r.flags = bit.band(bit.bor(r.flags, METADATA), bit.bnot(FETCH_FAILED))
  redis.call('HSET', KEYS[e.k], field, record_pack(r))
  return 1
end

local out = {}
for i, e in ipairs(plan.ih) do
  local field = hex_to_bytes(e.h)
  local status, r = merge_record(e, field)
  local meta = 0
  if e.m then meta = merge_metadata(e, field, r) end
  out[i] = status * 4 + meta
end
zcap(KEYS[3], plan.caps.recent)
return out
