-- Schema 5's metadata blob (indexer/metadata-blob.ts has the layout). Scripts never decode
-- names or paths: they compare whole blobs byte for byte and read the fetch time, a u56 at
-- offset 1 (struct's I7; a double holds it exactly, as every safe integer).

local BLOB_HEADER_BYTES = 38

-- The blob's fetch time (ms), or nil for anything that is not a format-1 blob.
local function blob_fetched_at(b)
  if type(b) ~= 'string' or #b < BLOB_HEADER_BYTES or string.byte(b, 1) ~= 1 then return nil end
  return (struct.unpack('>I7', b, 2))
end
