--! uses: batch
-- ARGV[3..]: batch id, its creation time (Unix seconds), and JSON {fields: [name, value, ...],
-- stages: [{n, jobs: [ids in order], pending: [items]}], statuses: [id, status, ...]}, made
-- by pace/workflows/rebuild.py. Unless the batch's hash exists, writes it, its stage lists
-- and its jobs' statuses, keeps every key of it (no TTL), lists it in the index, then starts
-- its current stage and goes on as any batch. 1 if rebuilt, 0 if the hash exists.
init()
local id = ARGV[3]
local b = ctx.batch .. id
if redis.call('EXISTS', b) == 1 then return 0 end
local spec = cjson.decode(ARGV[5])
redis.call('HSET', b, unpack(spec.fields))
for _, stage in ipairs(spec.stages) do
  local list = b .. ':stage:' .. stage.n
  redis.call('DEL', list .. ':jobs', list .. ':pending')
  for _, job in ipairs(stage.jobs) do redis.call('RPUSH', list .. ':jobs', job) end
  for _, item in ipairs(stage.pending) do redis.call('RPUSH', list .. ':pending', item) end
end
for i = 1, #spec.statuses, 2 do
  redis.call('HSET', b .. ':jobs', spec.statuses[i], spec.statuses[i + 1])
end
set_ttl(id, nil)
outside('i' .. ARGV[4] .. '|' .. id, 'ZADD', ctx.index, ARGV[4], id)
local current = tonumber(redis.call('HGET', b, 'stage'))
if current > 0 then
  start_stage(id, current)
  changed(id)
end
return 1
