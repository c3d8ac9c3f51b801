--! uses: batch
-- ARGV[3..]: batch id, then keys of it found by SCAN. If its hash is gone, delete them, drop
-- it from the index and, if a multi-step task's queue of that name is empty, from
-- resque:queues. Returns how many keys and index entries went, or -1 if the batch exists.
init()
local id = ARGV[3]
if redis.call('EXISTS', ctx.batch .. id) == 1 then return -1 end
local deleted = 0
if ctx.apart then outside('x' .. id) else deleted = redis.call('ZREM', ctx.index, id) end
for i = 4, #ARGV do deleted = deleted + redis.call('DEL', ARGV[i]) end
if redis.call('LLEN', ctx.queue .. id) == 0 then outside('q-' .. id, 'SREM', ctx.queues, id) end
return deleted
