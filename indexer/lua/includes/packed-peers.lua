-- Schema 5's peer lists (indexer/peer-pack.ts has the layout): per infohash and hour, entries of
-- [1 byte n = 6 or 18][n bytes compact peer][4 bytes seconds], newest first.

-- address bytes -> seconds; nil entries ignored; stops at the first malformed entry.
local function peers_unpack(s, into)
  into = into or {}
  if type(s) ~= 'string' then return into end
  local i, len = 1, #s
  while i <= len do
    local n = string.byte(s, i)
    if (n ~= 6 and n ~= 18) or i + n + 4 > len then break end
    local addr = string.sub(s, i + 1, i + n)
    local b1, b2, b3, b4 = string.byte(s, i + n + 1, i + n + 4)
    local at = ((b1 * 256 + b2) * 256 + b3) * 256 + b4
    if (into[addr] or -1) < at then into[addr] = at end
    i = i + n + 5
  end
  return into
end

-- The newest `cap` entries of a map, packed.
local function peers_pack(map, cap)
  local list = {}
  for addr, at in pairs(map) do list[#list + 1] = { addr, at } end
  table.sort(list, function(a, b) if a[2] ~= b[2] then return a[2] > b[2] end return a[1] < b[1] end)
  local out = {}
  for i = 1, math.min(#list, cap) do
    local at = list[i][2]
    out[i] = string.char(#list[i][1]) .. list[i][1]
      .. string.char(math.floor(at / 16777216) % 256, math.floor(at / 65536) % 256, math.floor(at / 256) % 256, at % 256)
  end
  return table.concat(out)
end

-- Distinct addresses seen at or after `cutoff` (seconds) over several packed lists.
local function peers_live(lists, cutoff)
  local map = {}
  for _, s in ipairs(lists) do peers_unpack(s, map) end
  local n = 0
  for _, at in pairs(map) do if at >= cutoff then n = n + 1 end end
  return n
end
