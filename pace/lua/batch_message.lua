--! uses: batch
-- ARGV[3..]: batch id, kind ('' for any), job id, message. 0 if the batch or the job is
-- unknown.
init()
local b = ctx.batch .. ARGV[3]
if not found(ARGV[3], ARGV[4]) or redis.call('HEXISTS', b .. ':jobs', ARGV[5]) == 0 then
  return 0
end
redis.call('HSET', b .. ':messages', ARGV[5], ARGV[6])
local ttl = redis.call('PTTL', b)
if ttl > 0 then redis.call('PEXPIRE', b .. ':messages', ttl) end
return 1
