-- Hex text and bytes: infohashes are hex in the views (recent, popular, wait) and 20 bytes as
-- the fields of the bucket hashes. Included by the schema-5 scripts that convert one to the other.
-- gsub with a lookup table runs in C: a Lua function per byte cost 2.6 µs per infohash, about a
-- tenth of the batch script's time. The tables are built on first use (about 90 µs a call).

local HEX_TO_BYTE, BYTE_TO_HEX

local function hex_tables()
  local digits = '0123456789abcdef'
  HEX_TO_BYTE, BYTE_TO_HEX = {}, {}
  for i = 0, 255 do
    local hi, lo = math.floor(i / 16) + 1, i % 16 + 1
    local pair, byte = string.sub(digits, hi, hi) .. string.sub(digits, lo, lo), string.char(i)
    HEX_TO_BYTE[pair] = byte
    HEX_TO_BYTE[string.upper(pair)] = byte
    BYTE_TO_HEX[byte] = pair
  end
end

-- The callers pass validated hex (an even number of hex digits).
local function hex_to_bytes(hex)
  if HEX_TO_BYTE == nil then hex_tables() end
  return (string.gsub(hex, '..', HEX_TO_BYTE))
end

local function bytes_to_hex(s)
  if BYTE_TO_HEX == nil then hex_tables() end
  return (string.gsub(s, '.', BYTE_TO_HEX))
end
