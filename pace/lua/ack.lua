--! uses: inflight batch
-- Settle jobs that succeeded: each leaves the in-flight list, and is counted as processed;
-- a batch job's batch records it (and may start its next stage).
-- KEYS: queues, schedule, batches, in-flight, deliveries, stat:processed,
-- stat:processed:ID. ARGV: batch prefix, queue prefix, k, then k batch jobs as (entry,
-- batch id, job id, stage), then the entries of plain jobs. Returns how many were settled.
init()
local k = tonumber(ARGV[3])
local done = 0
for i = 4, 3 + 4 * k, 4 do
  if take(ARGV[i]) then
    done = done + 1
    settle(ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], 'successful')
  end
end
for i = 4 + 4 * k, #ARGV do
  if take(ARGV[i]) then done = done + 1 end
end
processed(done)
return done
