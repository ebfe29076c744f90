-- One shard's part of a batch (lua/apply-shard.lua, lua/apply-shards.lua): K is that shard's
-- keys, in the order apply-shard.lua's header lists them.
-- @include hex.lua
local function zcap(key, n)
  local size = redis.call('ZCARD', key)
  if size > n then redis.call('ZREMRANGEBYRANK', key, 0, size - n - 1) end
end

local HOUR_MS = 3600000

-- Moves a record from one last-seen hour to another in the shard's histogram (nil: none).
local function move_hour(key, from_ms, to_ms)
  local from = from_ms and math.floor(from_ms / HOUR_MS)
  local to = to_ms and math.floor(to_ms / HOUR_MS)
  if from == to then return end
  if from and redis.call('HINCRBY', key, from, -1) <= 0 then redis.call('HDEL', key, from) end
  if to then redis.call('HINCRBY', key, to, 1) end
end

-- Merges one infohash's sightings and peers (e: one entry of plan.ih, see apply-shard.lua) into
-- its record, peers, and the shard's views V = {counts, recent, popular, hours} (key names).
-- Also used by migration 005 to merge a schema-4 record (migrations/schema4-mover.ts): e.fl
-- adds record flags, and a record that has a flag of `skip` already is left as it is (-1).
-- Returns 1 when the record is new, 0 when it existed.
local function merge_infohash(plan, K, V, e, skip)
  local bucket, field = K[e.k], hex_to_bytes(e.h)
  local r = record_unpack(redis.call('HGET', bucket, field))
  if r ~= nil and skip ~= nil and bit.band(r.flags, skip) ~= 0 then return -1 end
  local first, last = tonumber(e.f), tonumber(e.l)
  local last_before = r and r.last
  local created = 0
  if r == nil then
    created = 1
    r = { first = first, last = last, seen = 0, sources = 0, peers = 0, flags = 0 }
    if e.nk then redis.call('HINCRBY', K[e.nk], e.nf, 1) end
  else
    if first < r.first then r.first = first end
    if last > r.last then r.last = last end
  end
  r.seen = r.seen + e.n
  r.sources = bit.bor(r.sources, e.s)
  if r.sources < 0 then r.sources = r.sources + 4294967296 end
  if e.fl then r.flags = bit.bor(r.flags, e.fl) end
  if #e.p > 0 then
    for _, group in ipairs(e.p) do
      local key = K[group.k]
      local map = peers_unpack(redis.call('HGET', key, field))
      for _, entry in ipairs(group.e) do
        local addr = hex_to_bytes(entry[1])
        if (map[addr] or -1) < entry[2] then map[addr] = entry[2] end
      end
      redis.call('HSET', key, field, peers_pack(map, plan.caps.peers))
      redis.call('PEXPIREAT', key, group.x)
    end
    local lists = {}
    for _, k in ipairs(e.w) do lists[#lists + 1] = redis.call('HGET', K[k], field) end
    r.peers = math.min(peers_live(lists, plan.cutoff), plan.caps.peers)
    if r.peers > 0 then redis.call('ZADD', V.popular, r.peers, e.h) else redis.call('ZREM', V.popular, e.h) end
  end
  redis.call('HSET', bucket, field, record_pack(r))
  move_hour(V.hours, last_before, r.last)
  redis.call('ZADD', V.recent, 'GT', r.last, e.h)
  return created
end

-- whole_batch: the caller (lua/apply-shards.lua) has checked every shard's schema version and
-- holds one marker for the whole batch, so this shard's own marker is only checked (an attempt
-- through the per-shard path may have applied this shard alone before), not written.
local function apply_shard(plan, K, whole_batch)
  if not whole_batch then
    local version = redis.call('GET', K[2]) or '0'
    if version ~= plan.v then return {-1, version} end
  end
  if whole_batch then
    if redis.call('EXISTS', K[1]) == 1 then return {0, 0} end
  elseif not redis.call('SET', K[1], '1', 'NX', 'EX', plan.ttl) then
    -- Applied before, maybe by a worker that died before its replica had it: a write of ours
    -- now, so that a WAIT on this connection (redis/replication.ts) covers that earlier one too.
    redis.call('EXPIRE', K[1], plan.ttl)
    return {0, 0}
  end

  local V = { counts = K[3], recent = K[4], popular = K[5], hours = K[9] }
  local created = 0
  for _, e in ipairs(plan.ih) do created = created + merge_infohash(plan, K, V, e) end
  if created > 0 then
    redis.call('HINCRBY', K[3], 'infohashes', created)
    redis.call('HINCRBY', K[8], 'infohashes:new', created)
  end
  zcap(K[4], plan.caps.recent)
  zcap(K[5], plan.caps.popular)
  apply_census_stats(plan, K, K[6], K[7], K[8])
  return {1, created}
end
