--! uses: batch
-- ARGV[3..]: batch id, kind ('' for any). Deletes the batch, and a multi-step task's queue
-- with the jobs still in it. 0: no such batch.
init()
local b = ctx.batch .. ARGV[3]
if not found(ARGV[3], ARGV[4]) then return 0 end
local queue = own_queue(ARGV[3])
if queue then redis.call('DEL', ctx.queue .. queue) end
drop(ARGV[3])
return 1
