--! uses: slots inflight batch
-- Settle a job that failed: it is marked settled in its lane and its failure record waits in
-- the lane's outbox until the worker has appended it to resque:failed and counted it (a
-- worker that dies meanwhile leaves it to whoever recovers the lane); a batch job's batch
-- records it. KEYS: queues, schedule, batches (for a job of no batch, any three keys of its
-- lane: a script's keys share one slot), settled, deliveries, the job's fetch list, outbox,
-- the queue's limit (lib/limit.lua).
-- ARGV: batch prefix, queue prefix, member, sha1 ('' if never recovered), outbox item ('f'
-- and the record), batch id ('' for none), job id, stage. Returns 1, or 0 if not in flight.
init()
if not take(KEYS[4], KEYS[6], ARGV[3], KEYS[8]) then return 0 end
forget(KEYS[5], ARGV[4])
redis.call('RPUSH', KEYS[7], ARGV[5])
settle(ARGV[6], ARGV[7], ARGV[8], 'failed')
return 1
