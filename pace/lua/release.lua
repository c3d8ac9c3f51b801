-- Give back a lane: its jobs not settled go back to the head of the queue in the order they
-- were taken (counted as recovered when the worker died), and the lane goes. Racing callers
-- are safe: the first takes everything, the others find nothing.
-- KEYS: queue, lane, settled, deliveries, outbox, fence. ARGV: the lane's fetch-list prefix
-- (the lane key and ':'), '1' to count a recovery (the worker died) or '0' (it is shutting
-- down), seconds to fence the lane for (0: not fenced): a fenced lane takes no more fetches
-- (fetch.lua), so a fetch of the worker held in the network that reaches Redis later takes
-- nothing; its settles find no fetch list either. Returns {jobs moved, then the outbox items
-- the caller must write}.
local fetches = redis.call('SMEMBERS', KEYS[2])
for i, n in ipairs(fetches) do fetches[i] = tonumber(n) end
table.sort(fetches)
local settled = {}
for _, member in ipairs(redis.call('SMEMBERS', KEYS[3])) do settled[member] = true end
local moved = 0
for f = #fetches, 1, -1 do
  local list = ARGV[1] .. fetches[f]
  local jobs = redis.call('LRANGE', list, 0, -1)
  for i = #jobs, 1, -1 do
    if not settled[string.format('%d', fetches[f] * 65536 + i - 1)] then
      redis.call('LPUSH', KEYS[1], jobs[i])
      if ARGV[2] == '1' then redis.call('HINCRBY', KEYS[4], redis.sha1hex(jobs[i]), 1) end
      moved = moved + 1
    end
  end
  redis.call('DEL', list)
end
local out = redis.call('LRANGE', KEYS[5], 0, -1)
redis.call('DEL', KEYS[2], KEYS[3], KEYS[5])
if ARGV[3] ~= '0' then redis.call('SET', KEYS[6], 1, 'EX', ARGV[3]) end
table.insert(out, 1, moved)
return out
