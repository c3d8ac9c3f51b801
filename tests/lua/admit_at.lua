-- A test's window on pace/lua/lib/limit.lua (prepended by tests/test_limits.py): admit up to
-- `want` jobs at a time the test chooses, and count those admitted as fetch.lua does.
-- KEYS: the limit, its starts, a fetch list. ARGV: want, Redis' clock (microseconds).
-- Returns {jobs admitted, gate.wait (0 for a queue with no limit)}.
local bounds = redis.call('HMGET', KEYS[1], 'rate', 'period', 'concurrency')
local want, gate = admit(bounds, KEYS[1], KEYS[2], tonumber(ARGV[1]), tonumber(ARGV[2]))
if gate and want > 0 then gate.count(KEYS[3], want) end
return {want, gate and gate.wait or 0}
