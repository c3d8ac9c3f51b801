-- Remove failure records named by index and id (see failures_retry_by_id.lua). Every record
-- found is marked first (indexes do not shift while marking), then the marks go at once.
-- KEYS: failed. ARGV: a unique sentinel, then index, id pairs. Returns one code per record:
-- 1 removed, 0 no record there, -1 another record there.
local codes, marked = {}, 0
for i = 1, (#ARGV - 1) / 2 do
  local index = ARGV[2 * i]
  local record = redis.call('LINDEX', KEYS[1], index)
  if not record then
    codes[i] = 0
  elseif string.sub(redis.sha1hex(record), 1, 16) ~= ARGV[2 * i + 1] then
    codes[i] = -1
  else
    redis.call('LSET', KEYS[1], index, ARGV[1])
    codes[i] = 1
    marked = marked + 1
  end
end
if marked > 0 then
  redis.call('LREM', KEYS[1], 0, ARGV[1])
end
return codes
