-- Requeue failure records (Resque::Failure.requeue, made atomic): each update writes the
-- record back with retried_at and enqueues its job, unless the record changed since it was
-- read. KEYS: failed list, queues set, then one queue list per update. ARGV: five values per
-- update: index, record as read, record with retried_at, queue, job. Returns the indexes of
-- the updates skipped. With the failed list as its only key (a Redis Cluster, where queues live
-- in other slots) it only writes the records back; the caller enqueues the jobs of the others.
local conflicts, enqueue = {}, #KEYS > 1
for i = 1, #ARGV / 5 do
  local a = (i - 1) * 5
  if redis.call('LINDEX', KEYS[1], ARGV[a + 1]) == ARGV[a + 2] then
    redis.call('LSET', KEYS[1], ARGV[a + 1], ARGV[a + 3])
    if enqueue then
      redis.call('SADD', KEYS[2], ARGV[a + 4])
      redis.call('RPUSH', KEYS[2 + i], ARGV[a + 5])
    end
  else
    conflicts[#conflicts + 1] = tonumber(ARGV[a + 1])
  end
end
return conflicts
