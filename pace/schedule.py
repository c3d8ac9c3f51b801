"""The schedule: jobs due later (retries, ``enqueue_in``/``enqueue_at``) wait in a sorted set
under ``resque:pace:schedule`` and are moved to the tail of their queue when due, by any live
worker, each exactly once (one Lua script moves and removes)."""

from __future__ import annotations

from redis.asyncio import Redis

from pace.keys import Keys

__all__ = ["move_due"]

_MOVE_DUE = """
-- KEYS: schedule, queues set. ARGV: queue key prefix, most to move.
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
for _, entry in ipairs(due) do
  local sep = string.find(entry, ':', 1, true)
  local queue = string.sub(entry, 1, sep - 1)
  redis.call('RPUSH', ARGV[1] .. queue, string.sub(entry, sep + 1))
  redis.call('SADD', KEYS[2], queue)
  redis.call('ZREM', KEYS[1], entry)
end
return #due
"""


async def move_due(redis: Redis, keys: Keys, limit: int = 500) -> int:
    """Move the jobs that are due (by Redis' clock) to their queues; return how many."""
    script = redis.register_script(_MOVE_DUE)
    moved: int = await script(keys=[keys.schedule, keys.queues], args=[keys.queue(""), limit])
    return moved
