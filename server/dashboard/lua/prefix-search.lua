#!lua flags=no-writes
local key, prefix = KEYS[1], ARGV[1]
local want, cap, chunk = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local n = #prefix
local found = {}
local scanned = 0
while scanned < cap do
  local ask = math.min(chunk, cap - scanned)
  local members = redis.call('ZRANGE', key, scanned, scanned + ask - 1, 'REV')
  for i = 1, #members do
    if string.sub(members[i], 1, n) == prefix then
      found[#found + 1] = members[i]
      if #found == want then return {scanned + i, found} end
    end
  end
  scanned = scanned + #members
  if #members < ask then break end
end
return {scanned, found}
