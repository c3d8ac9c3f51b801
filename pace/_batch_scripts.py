"""The Lua of the batch core (see :mod:`pace.batch`): one library of local functions,
prepended to every script, so the scripts share it by composition, not by copy.

Conventions of every script: ``KEYS[1..3]`` are Resque's queues set, pace's schedule and the
batches index; ``ARGV[1..2]`` the batch key prefix (``<ns>:pace:batch:``) and the queue key
prefix (``<ns>:queue:``). A batch's keys are built from the prefix and its id, as
:meth:`pace.keys.Keys.batch` names them: the hash ``P<id>``, ``P<id>:jobs`` (job id -> status),
``P<id>:messages``, ``P<id>:info``, and per stage ``P<id>:stage:<n>:jobs`` (ids in order) and
``P<id>:stage:<n>:pending`` (``<job id>|<delay>|<queue>:<payload>`` items to enqueue when the
stage starts; the delay is empty, ``+seconds`` from the start, or ``@unix time``).

The batch hash holds ``kind``, ``name``, ``created_at``, ``stage`` (the current stage, 0 before
a staged group is initiated), ``stages`` (the last stage), ``sealed`` ('1' once finalized or
initiated: only then can the current stage complete), ``on_failure`` (``continue`` or
``stop``), ``expire`` (ms a batch with failures is kept), ``queue`` (its jobs' queue),
``owns_queue`` ('1' for a multi-step task: the queue is its own), ``complete`` and ``blocked``
flags, and counters: ``total``, ``completed``, ``failed``
and per stage ``s<n>:total``, ``s<n>:completed``, ``s<n>:failed``.

Like pace's other scripts, these build some key names at run time (queues, a batch's stage
lists), so they are not Redis Cluster safe.
"""

from __future__ import annotations

__all__ = ["SCRIPTS"]

_LIB = """
local ctx = {}
local function init()
  ctx.queues, ctx.schedule, ctx.index = KEYS[1], KEYS[2], KEYS[3]
  ctx.batch, ctx.queue = ARGV[1], ARGV[2]
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
  redis.call('ZREM', ctx.index, id)
  if queue and redis.call('LLEN', ctx.queue .. queue) == 0 then
    redis.call('SREM', ctx.queues, queue)
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
    redis.call('ZADD', ctx.schedule, due, entry)
    return
  end
  local sep = string.find(entry, ':', 1, true)
  local queue = string.sub(entry, 1, sep - 1)
  redis.call('RPUSH', ctx.queue .. queue, string.sub(entry, sep + 1))
  redis.call('SADD', ctx.queues, queue)
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
  end
  return true
end

-- Store a job's outcome in its batch, then advance it (or delete a kept batch once every
-- job of it succeeded, requeued ones included).
local function settle(id, job, stage, outcome)
  if not transition(id, job, stage, outcome) then return end
  local b = ctx.batch .. id
  local h = redis.call('HMGET', b, 'complete', 'total', 'completed')
  if h[1] ~= '1' then
    advance(id)
  elseif h[2] == h[3] then
    drop(id)
  end
end
"""

_CREATE = """
-- ARGV[3..]: batch id, created (Unix seconds), then the hash's field/value pairs.
init()
local b = ctx.batch .. ARGV[3]
if redis.call('EXISTS', b) == 1 then return 0 end
redis.call('HSET', b, unpack(ARGV, 5))
redis.call('ZADD', ctx.index, ARGV[4], ARGV[3])
return 1
"""

_ADD = """
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
  if n <= current then
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
"""

_SEAL = """
-- ARGV[3..]: batch id, kind ('' for any), 'seal' (a multi-step task's normal jobs are all
-- added) or 'initiate' (a staged group starts its first stage). Both then advance the batch.
-- 0: no such batch.
init()
local b = ctx.batch .. ARGV[3]
if not found(ARGV[3], ARGV[4]) then return 0 end
if ARGV[5] == 'initiate' and redis.call('HGET', b, 'stage') == '0' then
  redis.call('HSET', b, 'stage', 1, 'sealed', 1)
  start_stage(ARGV[3], 1)
else
  redis.call('HSET', b, 'sealed', 1)
end
advance(ARGV[3])
return 1
"""

_DELETE = """
-- ARGV[3..]: batch id, kind ('' for any). Deletes the batch, and a multi-step task's queue
-- with the jobs still in it. 0: no such batch.
init()
local b = ctx.batch .. ARGV[3]
if not found(ARGV[3], ARGV[4]) then return 0 end
local queue = own_queue(ARGV[3])
if queue then redis.call('DEL', ctx.queue .. queue) end
drop(ARGV[3])
return 1
"""

_ORPHAN = """
-- ARGV[3..]: batch id, then keys of it found by SCAN. If its hash is gone, delete them, drop
-- it from the index and, if a multi-step task's queue of that name is empty, from
-- resque:queues. Returns how many keys and index entries went, or -1 if the batch exists.
init()
local id = ARGV[3]
if redis.call('EXISTS', ctx.batch .. id) == 1 then return -1 end
local deleted = redis.call('ZREM', ctx.index, id)
for i = 4, #ARGV do deleted = deleted + redis.call('DEL', ARGV[i]) end
if redis.call('LLEN', ctx.queue .. id) == 0 then redis.call('SREM', ctx.queues, id) end
return deleted
"""

_MESSAGE = """
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
"""

_RUNNING = """
-- ARGV[3..]: batch id, job id, stage. A worker starts the job.
init()
transition(ARGV[3], ARGV[4], ARGV[5], 'running')
return 1
"""

# The settles: what pace/inflight.py's _ACK, _FAIL and _SCHEDULE do for one job, gated on
# the same LREM of its in-flight entry, plus the batch's bookkeeping, in the same script.

_ACK = """
-- KEYS[4..]: in-flight, stat:processed, stat:processed:ID, deliveries.
-- ARGV[3..]: entry, batch id, job id, stage.
init()
if redis.call('LREM', KEYS[4], 1, ARGV[3]) == 0 then return 0 end
redis.call('INCR', KEYS[5])
redis.call('INCR', KEYS[6])
redis.call('HDEL', KEYS[7], redis.sha1hex(ARGV[3]))
settle(ARGV[4], ARGV[5], ARGV[6], 'successful')
return 1
"""

_FAIL = """
-- KEYS[4..]: in-flight, failed, stat:failed, stat:failed:ID, stat:processed,
-- stat:processed:ID, deliveries. ARGV[3..]: entry, failure record, batch id, job id, stage.
init()
if redis.call('LREM', KEYS[4], 1, ARGV[3]) == 0 then return 0 end
redis.call('RPUSH', KEYS[5], ARGV[4])
for i = 6, 9 do redis.call('INCR', KEYS[i]) end
redis.call('HDEL', KEYS[10], redis.sha1hex(ARGV[3]))
settle(ARGV[5], ARGV[6], ARGV[7], 'failed')
return 1
"""

_SCHEDULE = """
-- KEYS[4..]: in-flight, deliveries. ARGV[3..]: entry, new entry, due time (Unix seconds),
-- batch id, job id, stage. The job waits for its retry: its stage waits with it.
init()
if redis.call('LREM', KEYS[4], 1, ARGV[3]) == 0 then return 0 end
redis.call('ZADD', ctx.schedule, ARGV[5], ARGV[4])
redis.call('HDEL', KEYS[5], redis.sha1hex(ARGV[3]))
settle(ARGV[6], ARGV[7], ARGV[8], 'pending_re_run')
return 1
"""

SCRIPTS = {
    name: _LIB + body
    for name, body in (
        ("create", _CREATE), ("add", _ADD), ("seal", _SEAL), ("delete", _DELETE),
        ("orphan", _ORPHAN), ("message", _MESSAGE), ("running", _RUNNING), ("ack", _ACK),
        ("fail", _FAIL), ("schedule", _SCHEDULE),
    )
}  # fmt: skip
"""Script name to its Lua source (the library, then the script's body)."""
