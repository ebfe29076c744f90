-- The schema-5 infohash record (indexer/infohash-record.ts has the layout and the reasons):
-- 28 bytes, big-endian. Included by the batch scripts with `-- @include includes/infohash-record.lua`.
-- Lua numbers are doubles: the 48-bit times are exact, but tostring() keeps only 14 digits, so
-- a time returned to the caller as text must go through string.format('%.0f', t).

local RECORD_BYTES = 28

-- nil for anything that is not a format-1 record. struct (bundled with Redis) packs and unpacks
-- in C: the byte loops it replaced were most of the batch script's time.
local RECORD_FORMAT = '>BI6I6I4I4I2BI4'

local function record_unpack(s)
  if type(s) ~= 'string' or #s ~= RECORD_BYTES or string.byte(s, 1) ~= 1 then return nil end
  local _, first, last, seen, sources, peers, flags, lookup = struct.unpack(RECORD_FORMAT, s)
  return { first = first, last = last, seen = seen, sources = sources, peers = peers, flags = flags, lookup = lookup }
end

local function record_pack(r)
  return struct.pack(RECORD_FORMAT, 1, r.first, r.last, math.min(r.seen, 4294967295), r.sources, math.min(r.peers, 65535), r.flags, r.lookup or 0)
end
