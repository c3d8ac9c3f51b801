-- Unless the worker is alive after all, put its in-flight jobs back at the head of their
-- queues, in order, and remove every trace of it. Returns the jobs moved, or -1 if alive.
-- KEYS: pace workers, alive key, in-flight, deliveries, Resque's workers set, heartbeat hash,
-- then the worker's own keys to delete. ARGV: queue key prefix, worker id, '1' to count a
-- recovery (the worker died) or '0' (it is shutting down).
if ARGV[3] == '1' and redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
local entries = redis.call('LRANGE', KEYS[3], 0, -1)
for i = #entries, 1, -1 do
  local entry = entries[i]
  local sep = string.find(entry, ':', 1, true)
  redis.call('LPUSH', ARGV[1] .. string.sub(entry, 1, sep - 1), string.sub(entry, sep + 1))
  if ARGV[3] == '1' then redis.call('HINCRBY', KEYS[4], redis.sha1hex(entry), 1) end
end
redis.call('SREM', KEYS[1], ARGV[2])
redis.call('SREM', KEYS[5], ARGV[2])
redis.call('HDEL', KEYS[6], ARGV[2])
redis.call('DEL', KEYS[2], KEYS[3], unpack(KEYS, 7))
return #entries
