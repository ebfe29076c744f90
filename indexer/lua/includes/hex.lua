-- Hex text and bytes: infohashes are hex in the views (recent, popular, wait) and 20 bytes as
-- the fields of the bucket hashes. Included by the schema-5 scripts that convert one to the other.

local function hex_to_bytes(hex)
  return (hex:gsub('..', function(pair) return string.char(tonumber(pair, 16)) end))
end

local function bytes_to_hex(s)
  return (s:gsub('.', function(c) return string.format('%02x', string.byte(c)) end))
end
