-- Fleet-wide limits per queue (pace/limits.py), every key in the queue's slot. The limit's
-- hash holds its bounds (rate, period, concurrency), `admitted` (the jobs taken under it),
-- and, while it has a concurrency, each fetch list's jobs not settled yet (which
-- lib/inflight.lua's free() counts down). The starts of its rate's window are a sorted set:
-- one member a job, scored with the microsecond (Redis' clock) it was taken, moved later to
-- when it started by the worker that runs it (pace/worker/inflight.py), which the rate bounds.

-- Microseconds added to a rate's window: the jitter allowed between a job's start and the
-- time its worker logs for it (clocks a little apart, the time taken to start a batch).
local SLACK = 10000
local BOUNDS = {rate = true, period = true, concurrency = true, admitted = true}

-- How many of `want` jobs a queue's limit admits now, and a gate to count them with (nil: no
-- limit). `bounds`: the limit's rate, period and concurrency (HMGET). gate.wait: 0 if every
-- job wanted is admitted; else the microseconds until the rate admits more (its oldest start
-- leaves the window), or -1 when only the concurrency holds them back (a slot frees when a job
-- settles, anywhere). `now`: Redis' clock in microseconds (given by tests only).
local function admit(bounds, limit, starts, want, now)
  local rate, period, most = bounds[1], bounds[2], bounds[3]
  if not rate and not most then return want, nil end
  local gate = {limit = limit, starts = starts, wait = 0, most = most, at = 0}
  if most then
    local held, fields = 0, redis.call('HGETALL', limit)
    for i = 1, #fields, 2 do
      if not BOUNDS[fields[i]] then held = held + fields[i + 1] end
    end
    if held + want > tonumber(most) then want, gate.wait = math.max(most - held, 0), -1 end
  end
  if rate then
    if not now then
      local t = redis.call('TIME')
      now = t[1] * 1000000 + t[2]
    end
    gate.now, gate.window = now, period * 1000000 + SLACK
    redis.call('ZREMRANGEBYSCORE', starts, '-inf', string.format('%d', now - gate.window))
    local room = rate - redis.call('ZCARD', starts)
    if room < want or room <= 0 then -- the window is full: more once its oldest start leaves
      want = math.max(room, 0)
      local oldest = redis.call('ZRANGE', starts, 0, 0, 'WITHSCORES')[2]
      gate.wait = (oldest and tonumber(oldest) or now) + gate.window - now
    end
  end
  return want, gate
end

-- Count `n` jobs just taken into the fetch list `list` under the gate's limit: their slots,
-- and their starts (members '<at>.<1..n>' at `at`, later than every start logged, so members
-- never collide even if Redis' clock steps back). Sets gate.at.
local function count(gate, list, n)
  if gate.now then
    local last = redis.call('ZRANGE', gate.starts, -1, -1, 'WITHSCORES')[2]
    local at = last and math.max(gate.now, last + 1) or gate.now
    local log = {}
    for i = 1, n do
      log[2 * i - 1] = string.format('%d', at)
      log[2 * i] = string.format('%d.%d', at, i)
    end
    redis.call('ZADD', gate.starts, unpack(log))
    redis.call('PEXPIRE', gate.starts, math.ceil((at - gate.now + gate.window) / 1000) + 1000)
    gate.at = at
  end
  if gate.most then redis.call('HSET', gate.limit, list, n) end
  redis.call('HINCRBY', gate.limit, 'admitted', n)
end
