-- The batch library (pace/workflows): multi-step tasks and staged groups.
-- Every script that uses it has KEYS[1..3] = Resque's queues set, pace's schedule and the
-- batches index, and ARGV[1..2] = the batch key prefix (<ns>:pace:batch:) and the queue key
-- prefix (<ns>:queue:). On a Redis Cluster those three keys live in other slots than the
-- batch: KEYS[1..3] are then one list of the batch's slot, an outbox, where each write meant
-- for them waits for the caller (pace.client.write_out): 'r<due>|<entry>' (onto the
-- schedule), 'i<created>|<id>' and 'x<id>' (into and out of the index), 'q-<queue>' (out of
-- resque:queues); a queue a job is pushed to is in resque:queues beforehand (the caller adds
-- it), and every queue of a batch is in its slot (its name has the batch's hash tag). A batch's keys are the prefix and its id, as pace.keys.Keys.batch
-- names them: the hash P<id>, P<id>:jobs (job id -> status), P<id>:messages, P<id>:info, and
-- per stage P<id>:stage:<n>:jobs (ids in order) and P<id>:stage:<n>:pending
-- ('<job id>|<delay>|<queue>:<payload>' items to enqueue when the stage starts; the delay is
-- empty, '+seconds' from the start, or '@unix time').
--
-- The batch hash holds kind, name, created_at, stage (the current stage, 0 before a staged
-- group is initiated), stages (the last stage), sealed ('1' once finalized or initiated:
-- only then can the current stage complete), on_failure ('continue' or 'stop'), expire (ms
-- a batch with failures is kept), queue (its jobs' queue), owns_queue ('1' for a multi-step
-- task: the queue is its own), complete and blocked flags, and counters: total, completed,
-- failed (jobs failed now), failures (every failure ever, requeued jobs' included), and per
-- stage s<n>:total, s<n>:completed, s<n>:failed (and s<n>:started once a stage was initiated
-- on its own, before its turn).

local ctx = {}
local function init()
  ctx.queues, ctx.schedule, ctx.index = KEYS[1], KEYS[2], KEYS[3]
  ctx.batch, ctx.queue = ARGV[1], ARGV[2]
  ctx.apart = KEYS[1] == KEYS[2]  -- a Redis Cluster: KEYS[1..3] are the outbox
end

-- A write to a key outside the batch's slot: done now on one Redis; on a cluster, `item`
-- waits in the outbox.
local function outside(item, command, key, ...)
  if ctx.apart then redis.call('RPUSH', ctx.queues, item) else redis.call(command, key, ...) end
end

-- Every key of a batch (those that do not exist included).
local function all_keys(id)
  local b = ctx.batch .. id
  local keys = {b, b .. ':jobs', b .. ':messages', b .. ':info'}
  for n = 1, tonumber(redis.call('HGET', b, 'stages') or '0') do
    keys[#keys + 1] = b .. ':stage:' .. n .. ':jobs'
    keys[#keys + 1] = b .. ':stage:' .. n .. ':pending'
  end
  return keys
end

-- PEXPIRE every key of a batch after ms milliseconds; PERSIST them when ms is nil.
local function set_ttl(id, ms)
  for _, k in ipairs(all_keys(id)) do
    if ms then redis.call('PEXPIRE', k, ms) else redis.call('PERSIST', k) end
  end
end

-- A multi-step task's own queue (false for a batch on a shared queue).
local function own_queue(id)
  local h = redis.call('HMGET', ctx.batch .. id, 'queue', 'owns_queue')
  return h[2] == '1' and h[1]
end

-- Delete a batch; a multi-step task's queue leaves resque:queues once it is empty.
local function drop(id)
  local queue = own_queue(id)
  for _, k in ipairs(all_keys(id)) do redis.call('DEL', k) end
  outside('x' .. id, 'ZREM', ctx.index, id)
  if queue and redis.call('LLEN', ctx.queue .. queue) == 0 then
    outside('q-' .. queue, 'SREM', ctx.queues, queue)
  end
end

-- Enqueue 'queue:payload' as Resque does, or put it on the schedule after a delay.
local function place(entry, delay)
  if delay ~= '' then
    local due = tonumber(string.sub(delay, 2))
    if string.sub(delay, 1, 1) == '+' then
      local t = redis.call('TIME')
      due = due + tonumber(t[1]) + tonumber(t[2]) / 1000000
    end
    outside('r' .. string.format('%.6f', due) .. '|' .. entry, 'ZADD', ctx.schedule, due, entry)
    return
  end
  local sep = string.find(entry, ':', 1, true)
  local queue = string.sub(entry, 1, sep - 1)
  redis.call('RPUSH', ctx.queue .. queue, string.sub(entry, sep + 1))
  if not ctx.apart then redis.call('SADD', ctx.queues, queue) end
end

-- Start stage n: its pending entries go to their queues (or the schedule), in order.
local function start_stage(id, n)
  local b = ctx.batch .. id
  local pending = b .. ':stage:' .. n .. ':pending'
  for _, item in ipairs(redis.call('LRANGE', pending, 0, -1)) do
    local s1 = string.find(item, '|', 1, true)
    local s2 = string.find(item, '|', s1 + 1, true)
    place(string.sub(item, s2 + 1), string.sub(item, s1 + 1, s2 - 1))
    redis.call('HSET', b .. ':jobs', string.sub(item, 1, s1 - 1), 'queued')
  end
  redis.call('DEL', pending)
end

-- A staged group not initiated yet starts its stage 1 (it goes on as any batch).
local function initiate(id)
  local b = ctx.batch .. id
  if redis.call('HGET', b, 'stage') ~= '0' then return end
  redis.call('HSET', b, 'stage', 1, 'sealed', 1)
  start_stage(id, 1)
end

-- While the current stage is sealed and settled (and not held by a failure under 'stop'),
-- complete it and start the next; after the last, the batch is complete: deleted, or kept
-- for 'expire' ms if any job failed. A batch held by a failure expires likewise.
local function advance(id)
  local b = ctx.batch .. id
  local h = redis.call('HMGET', b, 'sealed', 'stage', 'stages', 'on_failure', 'complete',
    'blocked', 'failed', 'expire')
  if h[1] ~= '1' or h[5] == '1' then return end
  local n, last = tonumber(h[2]), tonumber(h[3])
  while true do
    local s = 's' .. n .. ':'
    local c = redis.call('HMGET', b, s .. 'total', s .. 'completed', s .. 'failed')
    local total, done, failed = tonumber(c[1] or '0'), tonumber(c[2] or '0'), tonumber(c[3] or '0')
    if done + failed < total then break end
    if failed > 0 and h[4] == 'stop' then
      redis.call('HSET', b, 'blocked', '1')
      set_ttl(id, h[8])
      return
    end
    if n >= last then
      if tonumber(h[7] or '0') > 0 then
        redis.call('HSET', b, 'complete', '1')
        set_ttl(id, h[8])
      else
        drop(id)
      end
      return
    end
    n = n + 1
    redis.call('HSET', b, 'stage', n)
    start_stage(id, n)
  end
  if h[6] == '1' then
    redis.call('HDEL', b, 'blocked')
    set_ttl(id, nil)
  end
end

-- True if the batch exists and is of that kind ('' for any).
local function found(id, kind)
  local k = redis.call('HGET', ctx.batch .. id, 'kind')
  return k and (kind == '' or k == kind)
end

local function count(b, stage, what, by)
  redis.call('HINCRBY', b, 's' .. stage .. ':' .. what, by)
  redis.call('HINCRBY', b, what, by)
end

-- A job's status moves to outcome (running, successful, failed, pending_re_run), and the
-- counters with it: a settled job counts once; a failed one that runs again (requeued) is
-- uncounted first. An unknown job, or one already successful, changes nothing: false.
local function transition(id, job, stage, outcome)
  local b = ctx.batch .. id
  if redis.call('EXISTS', b) == 0 then return false end
  local prev = redis.call('HGET', b .. ':jobs', job)
  if not prev or prev == 'successful' then return false end
  if prev == 'failed' then
    if outcome == 'failed' then return false end
    count(b, stage, 'failed', -1)
  end
  redis.call('HSET', b .. ':jobs', job, outcome)
  if outcome == 'successful' then
    count(b, stage, 'completed', 1)
  elseif outcome == 'failed' then
    count(b, stage, 'failed', 1)
    redis.call('HINCRBY', b, 'failures', 1)
  end
  return true
end

-- After a change of a batch's jobs: advance it, or delete a kept (complete) batch once every
-- job of it succeeded, requeued ones included.
local function changed(id)
  local h = redis.call('HMGET', ctx.batch .. id, 'complete', 'total', 'completed')
  if h[1] ~= '1' then
    advance(id)
  elseif h[2] == h[3] then
    drop(id)
  end
end

-- True once stage n is running or complete: its turn came, or it was initiated on its own.
local function started(b, n, current)
  return n <= current or redis.call('HGET', b, 's' .. n .. ':started') == '1'
end

-- Once a stage initiated on its own is complete, its group starts if it had not (as in
-- resque-stages, where a completed stage initiates its group's next stage).
local function early_done(id, n)
  local s = 's' .. n .. ':'
  local h = redis.call('HMGET', ctx.batch .. id, 'stage', s .. 'started', s .. 'total',
    s .. 'completed', s .. 'failed')
  if h[1] == '0' and h[2] == '1'
    and tonumber(h[4] or '0') + tonumber(h[5] or '0') >= tonumber(h[3] or '0') then
    initiate(id)
  end
end

-- Store a job's outcome in its batch (nothing for a job of no batch: id ''), then see to it.
local function settle(id, job, stage, outcome)
  if id == '' or not transition(id, job, stage, outcome) then return end
  early_done(id, stage)
  changed(id)
end
