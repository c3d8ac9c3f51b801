--! uses: inflight batch
-- Settle a job that runs again later: it leaves the in-flight list for the schedule (as its
-- new entry, due after a delay by Redis' clock: every worker's "due" is the same clock);
-- a batch job is pending_re_run and holds its stage.
-- KEYS: queues, schedule, batches, in-flight, deliveries. ARGV: batch prefix, queue prefix,
-- entry, new entry, delay (seconds), batch id ('' for none), job id, stage. Returns 1, or 0
-- if the entry was not in flight.
init()
if not take(ARGV[3]) then return 0 end
local t = redis.call('TIME')
redis.call('ZADD', KEYS[2], tonumber(t[1]) + tonumber(t[2]) / 1000000 + tonumber(ARGV[5]),
  ARGV[4])
settle(ARGV[6], ARGV[7], ARGV[8], 'pending_re_run')
return 1
