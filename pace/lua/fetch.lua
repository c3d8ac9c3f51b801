-- The worker's hot path, one call per lane and round trip: acknowledge jobs that succeeded
-- (none of a batch: see ack.lua), then move up to n jobs from the head of the queue into a
-- new fetch list, copied by the server (SORT ... STORE): no payload passes through Lua.
-- KEYS: queue, lane, settled, deliveries, the new fetch's list, then the lists of fetches
-- whose jobs are all settled now (they go), and last the lane's fence. ARGV: n, the new fetch's number, how many fetches
-- go, members to mark settled, members to unmark (of the fetches that go); then the numbers
-- of the fetches that go, how many of their jobs settle now, the members to mark, the members
-- to unmark, and last the sha1s of recovered jobs among those settled (their recovery counts
-- go). Returns {jobs taken, 1 if the deliveries hash exists (some may have been recovered),
-- jobs settled (not counting those settled before: a call sent again after a lost reply)};
-- or -1, changing nothing, when the lane is fenced: its worker was taken for dead and its jobs
-- recovered (release.lua), so whatever it sends now (a fetch held in the network) is void.
if redis.call('EXISTS', KEYS[#KEYS]) == 1 then return -1 end
local gone, marked, unmarked = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local settled, at = 0, 6
if gone > 0 then
  for i = 1, gone do
    if redis.call('DEL', KEYS[5 + i]) == 1 then settled = settled + ARGV[5 + gone + i] end
  end
  redis.call('SREM', KEYS[2], unpack(ARGV, at, at + gone - 1))
  at = at + 2 * gone
end
if marked > 0 then
  settled = settled + redis.call('SADD', KEYS[3], unpack(ARGV, at, at + marked - 1))
  at = at + marked
end
if unmarked > 0 then
  redis.call('SREM', KEYS[3], unpack(ARGV, at, at + unmarked - 1))
  at = at + unmarked
end
if at <= #ARGV then redis.call('HDEL', KEYS[4], unpack(ARGV, at)) end
local want = tonumber(ARGV[1])
if want == 0 then return {0, 0, settled} end
if redis.call('EXISTS', KEYS[5]) == 1 then return redis.error_reply('fetch list exists') end
local n = redis.call('SORT', KEYS[1], 'BY', 'nosort', 'LIMIT', 0, want, 'STORE', KEYS[5])
if n == 0 then return {0, 0, settled} end
redis.call('LTRIM', KEYS[1], n, -1)
redis.call('SADD', KEYS[2], ARGV[2])
return {n, redis.call('EXISTS', KEYS[4]), settled}
