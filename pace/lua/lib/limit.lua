-- Fleet-wide limits per queue (pace/limits.py), every key in the queue's slot. The limit's
-- hash holds its bounds (rate, period, concurrency), `admitted` (the jobs taken under it),
-- and, while it has a concurrency, each fetch list's jobs not settled yet (which
-- lib/slots.lua's free() counts down). The starts of its rate's window are a sorted set:
-- one member a job, scored with the microsecond (Redis' clock) it was taken, moved later to
-- when it started by the worker that runs it (pace/worker/inflight.py), which the rate bounds.

-- Microseconds added to a rate's window: the jitter allowed between a job's start and the
-- time its worker logs for it (clocks a little apart, the time taken to start a batch).
local SLACK = 10000

-- How many of `want` jobs a queue's limit admits now, and a gate (nil: no limit).
-- `bounds`: the limit's rate, period and concurrency (HMGET; false: the queue is not in the
-- index of limits). gate.wait: 0 if every job wanted is admitted; else the microseconds until
-- the rate admits more (its oldest start leaves the window), or -1 when only the concurrency
-- holds them back (a slot frees when a job settles, anywhere). gate.count(list, n) counts the
-- n jobs then taken into the fetch list `list`: their slots, and their starts (members
-- '<at>.<1..n>' at `at`, later than every start logged, so members never collide even if
-- Redis' clock steps back; gate.at). `now`: Redis' clock in microseconds (given by tests only).
-- One function, so that a script run for a queue without a limit makes no other.
local function admit(bounds, limit, starts, want, now)
  if not bounds or not (bounds[1] or bounds[3]) then return want, nil end
  local rate, period, most = bounds[1], bounds[2], bounds[3]
  local gate = {wait = 0, at = 0}
  if most then
    local held, fields = 0, redis.call('HGETALL', limit)
    for i = 1, #fields, 2 do -- the fetch lists' counts, not the bounds' fields
      local f = fields[i]
      if f ~= 'rate' and f ~= 'period' and f ~= 'concurrency' and f ~= 'admitted' then
        held = held + fields[i + 1]
      end
    end
    if held + want > tonumber(most) then want, gate.wait = math.max(most - held, 0), -1 end
  end
  local window
  if rate then
    if not now then
      local t = redis.call('TIME')
      now = t[1] * 1000000 + t[2]
    end
    window = period * 1000000 + SLACK
    redis.call('ZREMRANGEBYSCORE', starts, '-inf', string.format('%d', now - window))
    local room = rate - redis.call('ZCARD', starts)
    if room < want or room <= 0 then -- the window is full: more once its oldest start leaves
      want = math.max(room, 0)
      local oldest = redis.call('ZRANGE', starts, 0, 0, 'WITHSCORES')[2]
      gate.wait = (oldest and tonumber(oldest) or now) + window - now
    end
  end
  function gate.count(list, n)
    if rate then
      local last = redis.call('ZRANGE', starts, -1, -1, 'WITHSCORES')[2]
      local at = last and math.max(now, last + 1) or now
      local log = {}
      for i = 1, n do
        log[2 * i - 1] = string.format('%d', at)
        log[2 * i] = string.format('%d.%d', at, i)
      end
      redis.call('ZADD', starts, unpack(log))
      redis.call('PEXPIRE', starts, math.ceil((at - now + window) / 1000) + 1000)
      gate.at = at
    end
    if most then redis.call('HSET', limit, list, n) end
    redis.call('HINCRBY', limit, 'admitted', n)
  end
  return want, gate
end
