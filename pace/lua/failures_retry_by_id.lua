-- Requeue failure records named by index and id (the first 16 hex digits of the SHA-1 of
-- the record, pace.web.failed.record_id): a stale page never acts on another record.
-- KEYS: failed, queues, then one queue list per update. ARGV: five per update: index, id,
-- record with retried_at, queue name, job. Returns one code per update: 1 requeued, 0 no
-- record there, -1 another record there. With the failed list as its only key (a Redis
-- Cluster) it only writes the records back; the caller enqueues the jobs of those coded 1.
local codes, enqueue = {}, #KEYS > 1
for i = 1, #ARGV / 5 do
  local a = (i - 1) * 5
  local record = redis.call('LINDEX', KEYS[1], ARGV[a + 1])
  if not record then
    codes[i] = 0
  elseif string.sub(redis.sha1hex(record), 1, 16) ~= ARGV[a + 2] then
    codes[i] = -1
  else
    redis.call('LSET', KEYS[1], ARGV[a + 1], ARGV[a + 3])
    if enqueue then
      redis.call('SADD', KEYS[2], ARGV[a + 4])
      redis.call('RPUSH', KEYS[2 + i], ARGV[a + 5])
    end
    codes[i] = 1
  end
end
return codes
