-- The schema-5 infohash record (indexer/infohash-record.ts has the layout and the reasons):
-- 24 bytes, big-endian. Included by the batch scripts with `-- @include includes/infohash-record.lua`.
-- Lua numbers are doubles: the 48-bit times are exact, but tostring() keeps only 14 digits, so
-- a time returned to the caller as text must go through string.format('%.0f', t).

local RECORD_BYTES = 24

local function u_be(s, at, n)
  local v = 0
  for i = at, at + n - 1 do v = v * 256 + string.byte(s, i) end
  return v
end

local function be_u(v, n)
  local out = {}
  for i = n, 1, -1 do
    out[i] = string.char(v % 256)
    v = math.floor(v / 256)
  end
  return table.concat(out)
end

-- nil for anything that is not a format-1 record.
local function record_unpack(s)
  if type(s) ~= 'string' or #s ~= RECORD_BYTES or string.byte(s, 1) ~= 1 then return nil end
  return {
    first = u_be(s, 2, 6), last = u_be(s, 8, 6), seen = u_be(s, 14, 4),
    sources = u_be(s, 18, 4), peers = u_be(s, 22, 2), flags = string.byte(s, 24),
  }
end

local function record_pack(r)
  return string.char(1) .. be_u(r.first, 6) .. be_u(r.last, 6) .. be_u(math.min(r.seen, 4294967295), 4)
    .. be_u(r.sources, 4) .. be_u(math.min(r.peers, 65535), 2) .. string.char(r.flags)
end

-- 32-bit multiply mod 2^32 without leaving the doubles' exact range.
local function mul32(a, b)
  local alo, ahi = a % 65536, math.floor(a / 65536)
  return (alo * b + ((ahi * b) % 65536) * 65536) % 4294967296
end

-- FNV-1a of the address text, mod 32: the bit this reporting node sets (sourceBit in TS).
local function source_bit(address)
  local h = 2166136261
  for i = 1, #address do
    local x = bit.bxor(h, string.byte(address, i))
    if x < 0 then x = x + 4294967296 end
    h = mul32(x, 16777619)
  end
  return h % 32
end

-- The bitmap with a node's bit set (as an unsigned 32-bit number).
local function source_add(bitmap, address)
  local v = bit.bor(bitmap, bit.lshift(1, source_bit(address)))
  if v < 0 then v = v + 4294967296 end
  return v
end
