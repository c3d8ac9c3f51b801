"""The schedule: jobs due later (retries, ``enqueue_in``/``enqueue_at``) wait in a sorted set
under ``resque:pace:schedule`` and are moved to the tail of their queue when due, by any live
worker, each exactly once (one Lua script moves and removes)."""

from __future__ import annotations

from redis.asyncio import Redis

from pace.keys import Keys
from pace.lua import script

__all__ = ["move_due"]

_MOVE_DUE = script("move_due")


async def move_due(redis: Redis, keys: Keys, batch: int = 1000) -> int:
    """Move every job that is due (by Redis' clock) to its queue, ``batch`` per script call
    so Redis is never held long; return how many moved."""
    moved = 0
    while True:
        count: int = await _MOVE_DUE(
            redis, keys=[keys.schedule, keys.queues], args=[keys.queue(""), batch]
        )
        moved += count
        if count < batch:
            return moved
