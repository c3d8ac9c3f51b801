-- Move due jobs (by Redis' clock) from the schedule to the tail of their queues.
-- KEYS: schedule, queues set. ARGV: queue key prefix, most to move. Returns how many.
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
for _, entry in ipairs(due) do
  local sep = string.find(entry, ':', 1, true)
  local queue = string.sub(entry, 1, sep - 1)
  redis.call('RPUSH', ARGV[1] .. queue, string.sub(entry, sep + 1))
  redis.call('SADD', KEYS[2], queue)
  redis.call('ZREM', KEYS[1], entry)
end
return #due
