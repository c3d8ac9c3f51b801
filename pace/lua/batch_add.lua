--! uses: batch
-- ARGV[3..]: batch id, kind ('' for any), stage, 'run' or 'refuse' (jobs added to a complete
-- stage), the expected number of stages ('' for any), then 4 values per job: id, delay,
-- entry, info. Returns how many were added; -1: no such batch (or complete); -2: refused;
-- -3: the number of stages was not the expected one.
init()
local id, n = ARGV[3], tonumber(ARGV[5])
local b = ctx.batch .. id
if not found(id, ARGV[4]) then return -1 end
local h = redis.call('HMGET', b, 'stage', 'stages', 'complete', 'blocked')
if h[3] == '1' then return -1 end
local current, stages = tonumber(h[1]), tonumber(h[2])
if ARGV[7] ~= '' and stages ~= tonumber(ARGV[7]) then return -3 end
if n < current and ARGV[6] == 'refuse' then return -2 end
local added = (#ARGV - 7) / 4
count(b, n, 'total', added)
if n > stages then redis.call('HSET', b, 'stages', n) end
local ids = b .. ':stage:' .. n .. ':jobs'
for i = 8, #ARGV, 4 do
  local job, delay, entry = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  redis.call('HSET', b .. ':info', job, ARGV[i + 3])
  redis.call('RPUSH', ids, job)
  if started(b, n, current) then
    place(entry, delay)
    redis.call('HSET', b .. ':jobs', job, 'queued')
  else
    redis.call('RPUSH', b .. ':stage:' .. n .. ':pending', job .. '|' .. delay .. '|' .. entry)
    redis.call('HSET', b .. ':jobs', job, 'pending')
  end
end
if h[4] == '1' then  -- held by a failure: held still (and expiring) unless a job was added
  redis.call('HDEL', b, 'blocked')  -- to the held stage; advance() decides
  set_ttl(id, nil)
  advance(id)
end
return added
