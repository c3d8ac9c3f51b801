--! uses: slots inflight
-- Put jobs of a lane back at the head of their queue, in the order they were taken; each is
-- marked settled in the lane (it is no longer the worker's) and its slot under the queue's
-- limit goes back. KEYS: queue, settled, the queue's limit (lib/limit.lua),
-- then each job's fetch list. ARGV: per job, in the order taken: member, index
-- in its list. Returns how many moved.
local n = 0
for i = #ARGV - 1, 1, -2 do
  local list = KEYS[4 + (i - 1) / 2]
  if take(KEYS[2], list, ARGV[i], KEYS[3]) then
    redis.call('LPUSH', KEYS[1], redis.call('LINDEX', list, ARGV[i + 1]))
    n = n + 1
  end
end
return n
