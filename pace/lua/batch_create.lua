--! uses: batch
-- ARGV[3..]: batch id, created (Unix seconds), then the hash's field/value pairs.
init()
local b = ctx.batch .. ARGV[3]
if redis.call('EXISTS', b) == 1 then return 0 end
redis.call('HSET', b, unpack(ARGV, 5))
outside('i' .. ARGV[4] .. '|' .. ARGV[3], 'ZADD', ctx.index, ARGV[4], ARGV[3])
return 1
