-- Fleet-wide limits per queue (pace/limits.py), every key in the queue's slot: the limit's
-- hash (rate, period, concurrency; admitted: the jobs taken under it), the starts of the
-- rate's window (a sorted set of admission times in microseconds by Redis' clock, one member
-- a job), and the jobs in flight (a hash of fetch list -> its jobs not settled yet, which
-- lib/inflight.lua's free() counts down).

-- Microseconds added to a rate's window: the jitter allowed between a job's admission here
-- and its start in a worker (which is what the rate bounds, as pace.limiter does).
local SLACK = 10000

-- How many of `want` jobs the limit of a queue admits now, and a gate to count them with
-- (nil: the queue has no limit). gate.wait: 0 if every job wanted is admitted; else the
-- microseconds until the rate admits more (its oldest start leaves the window), or -1 when
-- only the concurrency holds them back (a slot frees when a job settles, anywhere). `now`:
-- Redis' clock in microseconds (given by tests only).
local function admit(limit, starts, running, want, now)
  local rate, period, most = unpack(redis.call('HMGET', limit, 'rate', 'period', 'concurrency'))
  if not rate and not most then return want, nil end
  local gate = {limit = limit, starts = starts, running = running, wait = 0, most = most}
  if most then
    local held = 0
    for _, n in ipairs(redis.call('HVALS', running)) do held = held + n end
    if held + want > tonumber(most) then want, gate.wait = math.max(most - held, 0), -1 end
  end
  if rate then
    if not now then
      local t = redis.call('TIME')
      now = t[1] * 1000000 + t[2]
    end
    gate.now, gate.window = now, period * 1000000 + SLACK
    redis.call('ZREMRANGEBYSCORE', starts, '-inf', string.format('%d', gate.now - gate.window))
    local room = rate - redis.call('ZCARD', starts)
    if room < want or room <= 0 then -- the window is full: more once its oldest start leaves
      want = math.max(room, 0)
      local oldest = redis.call('ZRANGE', starts, 0, 0, 'WITHSCORES')[2]
      gate.wait = (oldest and tonumber(oldest) or gate.now) + gate.window - gate.now
    end
  end
  return want, gate
end

-- Count `n` jobs just taken into the fetch list `list` under the gate's limit: their starts
-- (each later than every start logged, so members never collide and the log stays ordered
-- even if Redis' clock steps back) and their slots.
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
    redis.call('PEXPIRE', gate.starts, math.ceil((at - gate.now + gate.window) / 1000))
  end
  if gate.most then redis.call('HSET', gate.running, list, n) end
  redis.call('HINCRBY', gate.limit, 'admitted', n)
end
