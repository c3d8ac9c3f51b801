--! uses: slots inflight batch
-- Settle a job that runs again later: it is marked settled in its lane and its new entry waits
-- in the lane's outbox, with its due time by Redis' clock (every worker's "due" is the same
-- clock), until the worker has put it on the schedule; a batch job is pending_re_run and holds
-- its stage. KEYS: as fail.lua. ARGV: batch prefix, queue prefix, member, sha1, delay
-- (seconds), new entry, batch id ('' for none), job id, stage. Returns the outbox item ('r',
-- the due time, '|', the entry), or false if the job was not in flight.
init()
if not take(KEYS[4], KEYS[6], ARGV[3], KEYS[8]) then return false end
forget(KEYS[5], ARGV[4])
local t = redis.call('TIME')
local due = tonumber(t[1]) + tonumber(t[2]) / 1000000 + tonumber(ARGV[5])
local item = 'r' .. string.format('%.6f', due) .. '|' .. ARGV[6]
redis.call('RPUSH', KEYS[7], item)
settle(ARGV[7], ARGV[8], ARGV[9], 'pending_re_run')
return item
