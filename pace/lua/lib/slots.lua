-- A job's slot under its queue's fleet-wide concurrency (pace/limits.py): the limit's hash
-- counts each fetch list's jobs in flight (lib/limit.lua); a job of the fetch list `list`
-- that settles gives its slot back, if it was counted.
local function free(limit, list)
  if redis.call('HEXISTS', limit, list) == 1 and redis.call('HINCRBY', limit, list, -1) <= 0 then
    redis.call('HDEL', limit, list)
  end
end
