-- Schema 5's fetch state after failed metadata fetches (indexer/sharded-fetch-state.ts has the
-- layout and decodes it): 35 bytes, big-endian, plus the failure code's text when it is not
-- one of METADATA_FAILURE_CODES (code index 0).

local FETCH_FORMAT = '>BI4I7I7I7I7BB'
local FETCH_BYTES = 35

-- nil for anything that is not a format-1 state.
local function fetch_unpack(s)
  if type(s) ~= 'string' or #s < FETCH_BYTES or string.byte(s, 1) ~= 1 then return nil end
  local _, attempts, first, last, nxt, expires, gave_up, code = struct.unpack(FETCH_FORMAT, s)
  local text = ''
  if code == 0 then
    local n = string.byte(s, FETCH_BYTES + 1)
    if n == nil or #s ~= FETCH_BYTES + 1 + n then return nil end
    text = string.sub(s, FETCH_BYTES + 2)
  elseif #s ~= FETCH_BYTES then
    return nil
  end
  return { attempts = attempts, first = first, last = last, next = nxt, expires = expires, gave_up = gave_up, code = code, text = text }
end

local function fetch_pack(st)
  local s = struct.pack(FETCH_FORMAT, 1, math.min(st.attempts, 4294967295), st.first, st.last, st.next, st.expires, st.gave_up, st.code)
  if st.code == 0 then s = s .. string.char(#st.text) .. st.text end
  return s
end
