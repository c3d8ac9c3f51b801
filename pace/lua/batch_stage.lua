--! uses: batch
-- ARGV[3..]: batch id, kind ('' for any), stage n, then 'initiate' or 'delete'. 0: no such
-- batch.
-- initiate: start stage n now, before its turn (its waiting jobs go to their queues; jobs
-- added to it later run at once); the batch still reaches it in order, and waits there for
-- what is left of it. Once it is complete, a group not initiated yet starts. A stage already
-- running or complete is left alone.
-- delete: stage n loses its jobs (those in a queue or the schedule still run, as plain
-- jobs) and its counts; an empty stage completes.
init()
local id, n, op = ARGV[3], tonumber(ARGV[5]), ARGV[6]
local b = ctx.batch .. id
if not found(id, ARGV[4]) then return 0 end
if op == 'initiate' then
  if not started(b, n, tonumber(redis.call('HGET', b, 'stage'))) then
    start_stage(id, n)
    redis.call('HSET', b, 's' .. n .. ':started', 1)
    early_done(id, n)
    changed(id)
  end
  return 1
end
for _, job in ipairs(redis.call('LRANGE', b .. ':stage:' .. n .. ':jobs', 0, -1)) do
  for _, part in ipairs({':info', ':jobs', ':messages'}) do redis.call('HDEL', b .. part, job) end
end
redis.call('DEL', b .. ':stage:' .. n .. ':jobs', b .. ':stage:' .. n .. ':pending')
for _, what in ipairs({'total', 'completed', 'failed'}) do
  local counted = tonumber(redis.call('HGET', b, 's' .. n .. ':' .. what) or '0')
  if counted ~= 0 then count(b, n, what, 0 - counted) end
end
redis.call('HDEL', b, 's' .. n .. ':total', 's' .. n .. ':completed', 's' .. n .. ':failed',
  's' .. n .. ':started')
changed(id)
return 1
