-- The in-flight library. A worker's jobs of one queue form its lane (pace.keys.Keys.lane,
-- pace/worker/inflight.py), in the queue's cluster slot: each fetch moves jobs from the queue
-- into a list of its own (the lane key, ':' and the fetch's number), which goes once all its
-- jobs are settled; a job settled while others of its fetch still run is marked in the lane's
-- settled set (its fetch's number * 65536 + its index in the list).

-- Mark one job of the fetch list `list` settled (its slot goes back): true the first time;
-- false if it was settled before (a call retried after a lost reply) or its list is gone
-- (another worker recovered it): then nothing else may change.
local function take(settled, list, member, limit)
  if redis.call('EXISTS', list) == 0 or redis.call('SADD', settled, member) == 0 then
    return false
  end
  free(limit, list)
  return true
end

-- A settled job that had been recovered from dead workers (its payload's sha1, '' if never)
-- is no longer counted in the queue's deliveries hash.
local function forget(deliveries, sha)
  if sha ~= '' then redis.call('HDEL', deliveries, sha) end
end
