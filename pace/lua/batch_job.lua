--! uses: batch
-- ARGV[3..]: batch id, kind ('' for any), job id, then 'delete', or 'enqueue' and the
-- schedule entries that are the job's (found by ZSCAN, checked by the caller; on a cluster the
-- caller takes them off the schedule after this script has pushed them).
-- delete: the job leaves its batch and its stage's counts (one already in a queue or the
-- schedule still runs, as a plain job). enqueue: a job waiting for its stage goes to its queue
-- now, and so does one in the schedule (a retry's delay, a delayed job).
-- 1 if done; 0 if the batch or the job is unknown, or (enqueue) the job is not waiting.
init()
local id, job, op = ARGV[3], ARGV[5], ARGV[6]
local b = ctx.batch .. id
if not found(id, ARGV[4]) then return 0 end
local info = redis.call('HGET', b .. ':info', job)
if not info then return 0 end
local n = cjson.decode(info)['stage']
local pending = b .. ':stage:' .. n .. ':pending'
local item = nil  -- its '<job>|<delay>|<entry>' in its stage's pending list
for _, it in ipairs(redis.call('LRANGE', pending, 0, -1)) do
  if string.sub(it, 1, #job + 1) == job .. '|' then item = it break end
end
if item then redis.call('LREM', pending, 1, item) end
if op == 'delete' then
  local status = redis.call('HGET', b .. ':jobs', job)
  count(b, n, 'total', -1)
  if status == 'successful' then count(b, n, 'completed', -1) end
  if status == 'failed' then count(b, n, 'failed', -1) end
  for _, part in ipairs({':info', ':jobs', ':messages'}) do redis.call('HDEL', b .. part, job) end
  redis.call('LREM', b .. ':stage:' .. n .. ':jobs', 1, job)
  early_done(id, n)
  changed(id)
  return 1
end
if item then
  local sep = string.find(item, '|', #job + 2, true)
  place(string.sub(item, sep + 1), '')
else
  for i = 7, #ARGV do
    if ctx.apart or redis.call('ZREM', ctx.schedule, ARGV[i]) == 1 then
      item = ARGV[i] place(item, '') break
    end
  end
  if not item then return 0 end
end
redis.call('HSET', b .. ':jobs', job, 'queued')
return 1
