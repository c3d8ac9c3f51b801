-- Ruby's Resque::Failure.clear_retried (remove every record whose retried_at is not nil),
-- without its skipped records: every match is marked with a unique sentinel, then removed.
-- KEYS: failed list. ARGV: the sentinel. Returns how many were removed.
local records = redis.call('LRANGE', KEYS[1], 0, -1)
local removed = 0
for i, record in ipairs(records) do
  local ok, decoded = pcall(cjson.decode, record)
  if ok and type(decoded) == 'table' and decoded['retried_at'] ~= nil
      and decoded['retried_at'] ~= cjson.null then
    redis.call('LSET', KEYS[1], i - 1, ARGV[1])
    removed = removed + 1
  end
end
if removed > 0 then
  redis.call('LREM', KEYS[1], 0, ARGV[1])
end
return removed
