--! uses: batch
-- ARGV[3..]: batch id, kind ('' for any), 'seal' (a multi-step task's normal jobs are all
-- added) or 'initiate' (a staged group starts its first stage). Both then advance the batch.
-- 0: no such batch.
init()
local b = ctx.batch .. ARGV[3]
if not found(ARGV[3], ARGV[4]) then return 0 end
if ARGV[5] == 'initiate' then
  initiate(ARGV[3])
else
  redis.call('HSET', b, 'sealed', 1)
end
advance(ARGV[3])
return 1
