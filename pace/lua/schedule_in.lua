-- Put an entry on the schedule, due after a delay by Redis' clock (the clock every worker's
-- schedule loop reads). KEYS: schedule. ARGV: delay (seconds), entry. Returns the due time.
local t = redis.call('TIME')
local due = tonumber(t[1]) + tonumber(t[2]) / 1000000 + tonumber(ARGV[1])
redis.call('ZADD', KEYS[1], due, ARGV[2])
return tostring(due)
