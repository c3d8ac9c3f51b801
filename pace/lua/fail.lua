--! uses: inflight batch
-- Settle a job that failed: it leaves the in-flight list, its failure record is appended to
-- resque:failed and counted as Ruby counts it (failed and processed); a batch job's batch
-- records it. KEYS: queues, schedule, batches, in-flight, deliveries, stat:processed,
-- stat:processed:ID, failed, stat:failed, stat:failed:ID. ARGV: batch prefix, queue prefix,
-- entry, failure record, batch id ('' for none), job id, stage. Returns 1, or 0 if the
-- entry was not in flight.
init()
if not take(ARGV[3]) then return 0 end
redis.call('RPUSH', KEYS[8], ARGV[4])
redis.call('INCR', KEYS[9])
redis.call('INCR', KEYS[10])
processed(1)
settle(ARGV[5], ARGV[6], ARGV[7], 'failed')
return 1
