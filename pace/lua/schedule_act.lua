-- Run now (push to the tail of its queue) or delete scheduled jobs named by due time and
-- hash (the first 16 hex digits of the SHA-1 of the member). KEYS: schedule, queues set.
-- ARGV: queue key prefix, 'run' or 'delete', then per job: lowest and highest due time,
-- hash. Returns 1 per job acted on, 0 per job no longer there.
local codes = {}
for i = 1, (#ARGV - 2) / 3 do
  local a = 2 + (i - 1) * 3
  local found = nil
  for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[a + 1], ARGV[a + 2])) do
    if string.sub(redis.sha1hex(member), 1, 16) == ARGV[a + 3] then
      found = member
      break
    end
  end
  codes[i] = 0
  if found and redis.call('ZREM', KEYS[1], found) == 1 then
    if ARGV[2] == 'run' then
      local sep = string.find(found, ':', 1, true)
      local queue = string.sub(found, 1, sep - 1)
      redis.call('RPUSH', ARGV[1] .. queue, string.sub(found, sep + 1))
      redis.call('SADD', KEYS[2], queue)
    end
    codes[i] = 1
  end
end
return codes
