-- The in-flight library: a job leaves its worker's in-flight list in the same step that
-- stores its outcome. Every settle script (ack, fail, retry) has these keys:
-- KEYS[4] the worker's in-flight list, KEYS[5] the deliveries hash (sha1 of an entry -> how
-- often it was recovered), KEYS[6] stat:processed, KEYS[7] stat:processed:<worker id>.

local counted = nil  -- does the deliveries hash exist? (read once per call)

-- Take one entry out of the in-flight list, and forget its recovery count. False if it was
-- not there (settled already by a retried call, or recovered): then nothing may change.
local function take(entry)
  if redis.call('LREM', KEYS[4], 1, entry) == 0 then return false end
  if counted == nil then counted = redis.call('EXISTS', KEYS[5]) == 1 end
  if counted then redis.call('HDEL', KEYS[5], redis.sha1hex(entry)) end
  return true
end

-- Count n finished jobs, as Ruby does (failed ones included), globally and for the worker.
local function processed(n)
  if n > 0 then
    redis.call('INCRBY', KEYS[6], n)
    redis.call('INCRBY', KEYS[7], n)
  end
end
