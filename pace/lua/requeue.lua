-- Put in-flight jobs back at the head of their queues, in the order they were taken.
-- KEYS: in-flight. ARGV: queue key prefix, then entries in the order they were taken.
local n = 0
for i = #ARGV, 2, -1 do
  local entry = ARGV[i]
  if redis.call('LREM', KEYS[1], 1, entry) == 1 then
    local sep = string.find(entry, ':', 1, true)
    redis.call('LPUSH', ARGV[1] .. string.sub(entry, 1, sep - 1), string.sub(entry, sep + 1))
    n = n + 1
  end
end
return n
