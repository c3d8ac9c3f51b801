-- Requeue failure records (Resque::Failure.requeue, made atomic): each update writes the
-- record back with retried_at and enqueues its job, unless the record changed since it was
-- read. KEYS: failed list, queues set, then one queue list per update. ARGV: five values per
-- update: index, record as read, record with retried_at, queue, job. Returns the indexes of
-- the updates skipped.
local conflicts = {}
for i = 1, #ARGV / 5 do
  local a = (i - 1) * 5
  if redis.call('LINDEX', KEYS[1], ARGV[a + 1]) == ARGV[a + 2] then
    redis.call('LSET', KEYS[1], ARGV[a + 1], ARGV[a + 3])
    redis.call('SADD', KEYS[2], ARGV[a + 4])
    redis.call('RPUSH', KEYS[2 + i], ARGV[a + 5])
  else
    conflicts[#conflicts + 1] = tonumber(ARGV[a + 1])
  end
end
return conflicts
