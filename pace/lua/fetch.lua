--! uses: slots limit
-- The worker's hot path, one call per lane and round trip: acknowledge jobs that succeeded
-- (none of a batch: see ack.lua), then move up to n jobs from the head of the queue into a
-- new fetch list, copied by the server (SORT ... STORE): no payload passes through Lua; as
-- many as the queue's fleet-wide limit admits (lib/limit.lua), counted under it.
-- KEYS: queue, lane, settled, deliveries, the new fetch's list, the queue's limit, its starts,
-- then the lists of fetches whose jobs are all settled now (they go), Ruby's processed
-- counters (global, the worker's) when it counts, and last the lane's fence. ARGV: n, the new
-- fetch's number, how many fetches go, members to mark settled, members to unmark (of the
-- fetches that go), '1' if the queue is in the index of limits (else its limit is not even
-- read: a queue without one costs nothing), jobs to count as processed (on one Redis, the
-- exchange's successes are counted by one of its fetch calls: no command of their own; on a
-- cluster the counters live in other slots: 0, and the worker counts them); then the numbers of
-- the fetches that go, how many of their jobs settle now, the members to mark, the members to
-- unmark, and last the sha1s of recovered jobs among those settled (their recovery counts
-- go). Returns {jobs taken, 1 if the deliveries hash exists (some may have been recovered),
-- jobs settled (not counting those settled before: a call sent again after a lost reply), the
-- limit's wait (gate.wait: 0 when it held no job back), the time its starts were logged at
-- (gate.at: 0 for no rate)}; or -1, changing nothing, when the lane is fenced: its worker was
-- taken for dead and its jobs recovered (release.lua), so whatever it sends now (a fetch held
-- in the network) is void.
if redis.call('EXISTS', KEYS[#KEYS]) == 1 then return -1 end
local gone, marked, unmarked = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local settled, at = 0, 8
if ARGV[7] ~= '0' then
  redis.call('INCRBY', KEYS[8 + gone], ARGV[7])
  redis.call('INCRBY', KEYS[9 + gone], ARGV[7])
end
local bounds = ARGV[6] == '1' and redis.call('HMGET', KEYS[6], 'rate', 'period', 'concurrency')
local counted = bounds and bounds[3] -- jobs in flight are counted: slots go back as they settle
if gone > 0 then
  for i = 1, gone do
    if redis.call('DEL', KEYS[7 + i]) == 1 then
      settled = settled + ARGV[7 + gone + i]
      if counted then redis.call('HDEL', KEYS[6], KEYS[7 + i]) end
    end
  end
  redis.call('SREM', KEYS[2], unpack(ARGV, at, at + gone - 1))
  at = at + 2 * gone
end
if marked > 0 then
  if counted then
    for i = at, at + marked - 1 do
      local list = KEYS[2] .. ':' .. string.format('%d', math.floor(ARGV[i] / 65536))
      if redis.call('SADD', KEYS[3], ARGV[i]) == 1 then
        settled = settled + 1
        free(KEYS[6], list)
      end
    end
  else
    settled = settled + redis.call('SADD', KEYS[3], unpack(ARGV, at, at + marked - 1))
  end
  at = at + marked
end
if unmarked > 0 then
  redis.call('SREM', KEYS[3], unpack(ARGV, at, at + unmarked - 1))
  at = at + unmarked
end
if at <= #ARGV then redis.call('HDEL', KEYS[4], unpack(ARGV, at)) end
local want = tonumber(ARGV[1])
if want == 0 then return {0, 0, settled, 0, 0} end
if redis.call('EXISTS', KEYS[5]) == 1 then return redis.error_reply('fetch list exists') end
local gate
want, gate = admit(bounds, KEYS[6], KEYS[7], want)
if want == 0 then return {0, 0, settled, gate.wait, 0} end
-- numbers as Lua strings where they can be: redis.call formats a Lua number with snprintf
local count = want == tonumber(ARGV[1]) and ARGV[1] or want
local n = redis.call('SORT', KEYS[1], 'BY', 'nosort', 'LIMIT', '0', count, 'STORE', KEYS[5])
if n == 0 then return {0, 0, settled, 0, 0} end
redis.call('LTRIM', KEYS[1], n == want and count or n, '-1')
redis.call('SADD', KEYS[2], ARGV[2])
if not gate then return {n, redis.call('EXISTS', KEYS[4]), settled, 0, 0} end
gate.count(KEYS[5], n)
return {n, redis.call('EXISTS', KEYS[4]), settled, gate.wait, gate.at}
