#!lua flags=no-writes
-- KEYS: the posting lists of the query's tokens. ARGV: 1 how many candidates to return.
-- Returns {intersection size, {member, score, ...} best score first}.
local window = tonumber(ARGV[1])
for i = 1, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 0 then return {0, {}} end
end
if #KEYS == 1 then
  return {redis.call('ZCARD', KEYS[1]), redis.call('ZRANGE', KEYS[1], 0, window - 1, 'REV', 'WITHSCORES')}
end
local args = {#KEYS}
for i = 1, #KEYS do args[#args + 1] = KEYS[i] end
args[#args + 1] = 'AGGREGATE'
args[#args + 1] = 'MAX'
args[#args + 1] = 'WITHSCORES'
local all = redis.call('ZINTER', unpack(args))
local out = {}
local stop = math.max(1, #all - 2 * window + 1)
for i = #all - 1, stop, -2 do
  out[#out + 1] = all[i]
  out[#out + 1] = all[i + 1]
end
return {#all / 2, out}
