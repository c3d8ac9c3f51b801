-- Ruby's Resque::Failure::Redis.remove, made atomic. KEYS: failed list. ARGV: index.
-- Returns {LLEN before, removed record}, or {LLEN} alone when the index is out of range.
local count = redis.call('LLEN', KEYS[1])
local record = redis.call('LINDEX', KEYS[1], ARGV[1])
if not record then
  return {count}
end
redis.call('LSET', KEYS[1], ARGV[1], '')
redis.call('LREM', KEYS[1], 1, '')
return {count, record}
