"""The schedule: jobs due later (retries, ``enqueue_in``/``enqueue_at``) wait in a sorted set
under ``resque:pace:schedule`` and are moved to the tail of their queue when due, by any live
worker.

On one Redis a Lua script moves and removes each due job, exactly once. On a Redis Cluster the
schedule and the queues live in different slots, so no script can touch both: the worker that
holds a short lease (``SET NX PX`` on :attr:`pace.keys.Keys.schedule_mover`) pushes the due
jobs to their queues, then removes them from the schedule. A mover that dies in between (or
stalls past its lease) leaves jobs that the next mover pushes again: on a cluster a due job is
moved at least once, never lost.
"""

from __future__ import annotations

import secrets
from typing import cast

from redis.asyncio import Redis

from pace.client import push
from pace.connection import is_cluster
from pace.keys import Keys
from pace.lua import script
from pace.wire import split_entry

__all__ = ["LEASE", "move_due"]

_MOVE_DUE = script("move_due")
_UNLOCK = script("unlock")

LEASE = 30.0
"""Seconds a mover holds the schedule on a cluster (if it dies, the next waits this long)."""


async def move_due(redis: Redis, keys: Keys, batch: int = 1000) -> int:
    """Move every job that is due (by Redis' clock) to its queue, ``batch`` per step so Redis
    is never held long; return how many moved (0 on a cluster if another worker is moving)."""
    if is_cluster(redis):
        return await _move_apart(redis, keys, batch)
    moved = 0
    while True:
        count: int = await _MOVE_DUE(
            redis, keys=[keys.schedule, keys.queues], args=[keys.queue(""), batch]
        )
        moved += count
        if count < batch:
            return moved


async def _move_apart(redis: Redis, keys: Keys, batch: int) -> int:
    """The cluster's move: under the lease, push then remove, ``batch`` at a time."""
    token = secrets.token_hex(8)
    moved = 0
    held = True  # from the moment SET is sent: a cancel may land after Redis took it
    try:
        if not await redis.set(keys.schedule_mover, token, nx=True, px=int(LEASE * 1000)):
            held = False
            return 0
        while True:
            seconds, micro = await redis.time()
            due = cast(
                "list[bytes]",
                await redis.zrangebyscore(
                    keys.schedule, "-inf", seconds + micro / 1e6, start=0, num=batch
                ),
            )
            if not due:
                return moved
            await push(redis, keys, map(split_entry, due))
            await redis.zrem(keys.schedule, *due)
            moved += len(due)
            if len(due) < batch:
                return moved
    finally:
        if held:
            await _UNLOCK(redis, keys=[keys.schedule_mover], args=[token])
