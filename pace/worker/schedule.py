"""The schedule: jobs due later (retries, ``enqueue_in``/``enqueue_at``) wait in a sorted set
under ``resque:pace:schedule`` and are moved to the tail of their queue when due, by any live
worker, each exactly once (one Lua script moves and removes)."""

from __future__ import annotations

from redis.asyncio import Redis

from pace.keys import Keys
from pace.lua import script

__all__ = ["move_due"]

_MOVE_DUE = script("move_due")


async def move_due(redis: Redis, keys: Keys, limit: int = 500) -> int:
    """Move the jobs that are due (by Redis' clock) to their queues; return how many."""
    moved: int = await _MOVE_DUE(
        redis, keys=[keys.schedule, keys.queues], args=[keys.queue(""), limit]
    )
    return moved
