--! uses: slots inflight batch
-- Settle batch jobs that succeeded, one by one: each is marked settled in its lane and its
-- batch records it (and may start its next stage). Other jobs are acknowledged by fetch.lua.
-- KEYS: queues, schedule, batches, settled, deliveries, the queue's limit (lib/limit.lua),
-- then each job's fetch list.
-- ARGV: batch prefix, queue prefix, then per job: member, sha1 ('' if never recovered), batch
-- id, job id, stage. Returns how many were settled.
init()
local done = 0
for i = 3, #ARGV, 5 do
  if take(KEYS[4], KEYS[7 + (i - 3) / 5], ARGV[i], KEYS[6]) then
    forget(KEYS[5], ARGV[i + 1])
    done = done + 1
    settle(ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], 'successful')
  end
end
return done
