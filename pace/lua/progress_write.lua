-- KEYS[1]: a progress scope's hash. ARGV: a job id; its entry (JSON), or '' to remove it; the
-- Unix time (ms) after which the entry may go, or '' while its job runs.
-- The hash lives as long as its longest-lived entry: for ever while an entry has no
-- expires_at (its job runs), else until the latest expires_at. Readers drop expired entries.

-- Milliseconds since 1970 of an ISO 8601 time ('2026-11-23T10:00:00.25+00:00', 'Z', or
-- Ruby's '2026-11-23 10:00:00 -0500'); nil if it is not one.
local function unix_ms(text)
  local y, mo, d, h, mi, s, frac, zone =
    string.match(text, '^(%d+)-(%d+)-(%d+)[T ](%d+):(%d+):(%d+)(%.?%d*)%s*(.-)$')
  if not y then return nil end
  y, mo = tonumber(y), tonumber(mo)
  if mo <= 2 then y = y - 1 end  -- days from the civil date (H. Hinnant's algorithm)
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local doy = math.floor((153 * ((mo + 9) % 12) + 2) / 5) + tonumber(d) - 1
  local days = era * 146097 + yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
    - 719468
  local offset = 0
  local sign, oh, om = string.match(zone, '^([%+%-])(%d%d):?(%d%d)$')
  if sign then
    offset = (tonumber(oh) * 60 + tonumber(om)) * 60 * (sign == '-' and -1 or 1)
  elseif zone ~= 'Z' and zone ~= '' then
    return nil
  end
  local seconds = days * 86400 + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(s) - offset
  return math.floor((seconds + (tonumber('0' .. frac) or 0)) * 1000)
end

local key, job, entry, until_ms = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
if entry == '' then
  redis.call('HDEL', key, job)
else
  redis.call('HSET', key, job, entry)
  if until_ms == '' then  -- it runs: the hash lives as long as it does
    redis.call('PERSIST', key)
    return 1
  end
end
local ttl = redis.call('PTTL', key)
if ttl == -2 then return 1 end  -- the last entry was removed
local latest = tonumber(until_ms) or 0
if ttl >= 0 then  -- no entry runs: only push the hash's end later
  local t = redis.call('TIME')
  if latest > tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + ttl then
    redis.call('PEXPIREAT', key, latest)
  end
  return 1
end
for _, value in ipairs(redis.call('HVALS', key)) do  -- no end yet: does an entry still run?
  local ok, data = pcall(cjson.decode, value)
  local at = ok and type(data) == 'table' and data['expires_at']
  local ms = type(at) == 'string' and unix_ms(at)
  if not ms then return 1 end  -- it runs (or is kept for ever): no end
  if ms > latest then latest = ms end
end
redis.call('PEXPIREAT', key, latest)
return 1
