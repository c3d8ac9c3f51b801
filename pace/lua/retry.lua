--! uses: inflight batch
-- Settle a job that runs again later: it leaves the in-flight list for the schedule (as its
-- new entry, due at a Unix time); a batch job is pending_re_run and holds its stage.
-- KEYS: queues, schedule, batches, in-flight, deliveries. ARGV: batch prefix, queue prefix,
-- entry, new entry, due time, batch id ('' for none), job id, stage. Returns 1, or 0 if the
-- entry was not in flight.
init()
if not take(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[4])
settle(ARGV[6], ARGV[7], ARGV[8], 'pending_re_run')
return 1
