-- Move up to n jobs, highest priority first, from the queues into the in-flight list.
-- KEYS: pause-all flag, in-flight list, deliveries hash, queues in priority order.
-- ARGV: how many, then the queue names. Returns {queue index, payload, recoveries, ...}.
if redis.call('GET', KEYS[1]) == 'true' then return {} end
local want = tonumber(ARGV[1])
local counted = redis.call('EXISTS', KEYS[3]) == 1
local out, entries = {}, {}
for i = 4, #KEYS do
  local jobs = redis.call('LPOP', KEYS[i], want)
  if jobs then
    local prefix = ARGV[i - 2] .. ':'
    for _, job in ipairs(jobs) do
      local entry = prefix .. job
      entries[#entries + 1] = entry
      out[#out + 1] = i - 4
      out[#out + 1] = job
      local recovered = counted and redis.call('HGET', KEYS[3], redis.sha1hex(entry))
      out[#out + 1] = tonumber(recovered or 0)
    end
    want = want - #jobs
    if want == 0 then break end
  end
end
if #entries > 0 then redis.call('RPUSH', KEYS[2], unpack(entries)) end
return out
