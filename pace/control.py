"""Remote control of the fleet: pause a queue for every worker, or one worker, optionally for a
set time.

Pauses live in one hash, ``<ns>:pace:paused``: field ``queue:<name>`` or ``worker:<id>``, value
the Unix time the pause ends (``0``: until resumed). Every worker re-reads it twice a second,
so a paused queue stops being fetched within a second everywhere, and a timed pause ends by
itself. Resque's own ``<ns>:pause-all-workers`` still pauses everything.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from redis.asyncio import Redis

from pace import checks
from pace.connection import text
from pace.errors import ConfigError
from pace.keys import Keys
from pace.queues import check_queue_name

__all__ = ["Pause", "Pauses", "read_pauses"]

logger = logging.getLogger("pace")


@dataclass(frozen=True, slots=True)
class Pause:
    """One pause in force: of a queue or of a worker, until a time or until resumed."""

    kind: str
    """``"queue"`` or ``"worker"``."""
    name: str
    """The queue name or the worker id."""
    until: float | None
    """Unix seconds when it ends by itself; ``None``: until resumed."""


async def read_pauses(redis: Redis, keys: Keys) -> list[Pause]:
    """The pauses in force (ended ones are removed on the way; a field pace did not write is
    skipped with a warning, never taken for a pause)."""
    now = time.time()
    pauses, ended = [], []
    for field, value in (await redis.hgetall(keys.paused)).items():
        kind, _, name = text(field).partition(":")
        try:
            until = float(value)
        except ValueError:
            until = math.nan
        if kind not in ("queue", "worker") or not name or not until >= 0:
            logger.warning("%s: field %r is not a pause (%r); skipped", keys.paused, field, value)
            continue
        if until and until <= now:
            ended.append(field)
        else:
            pauses.append(Pause(kind, name, until or None))
    if ended:
        await redis.hdel(keys.paused, *ended)
    return pauses


class Pauses:
    """Pause and resume queues for the whole fleet, or single workers.

    Example::

        async with pace.Client() as client:
            pauses = pace.Pauses(await client.redis(), client.keys)
            await pauses.pause_queue("mail", seconds=30)   # every worker, for 30 s
            await pauses.resume_queue("mail")
    """

    __slots__ = ("keys", "redis")

    def __init__(self, redis: Redis, keys: Keys | None = None) -> None:
        self.redis = redis
        self.keys = keys or Keys()

    async def pause_queue(self, queue: str, seconds: float | None = None) -> None:
        """No worker takes jobs from ``queue`` (within a second) until resumed or ``seconds``."""
        await self._pause("queue", check_queue_name(queue), seconds)

    async def resume_queue(self, queue: str) -> None:
        """Workers take jobs from ``queue`` again."""
        await self.redis.hdel(self.keys.paused, f"queue:{queue}")

    async def pause_worker(self, worker_id: str, seconds: float | None = None) -> None:
        """The worker ``worker_id`` takes no jobs until resumed or ``seconds``."""
        if not worker_id:
            raise ConfigError("pause_worker needs a worker id (host:pid:queues)")
        await self._pause("worker", worker_id, seconds)

    async def resume_worker(self, worker_id: str) -> None:
        """The worker ``worker_id`` takes jobs again."""
        await self.redis.hdel(self.keys.paused, f"worker:{worker_id}")

    async def list(self) -> list[Pause]:
        """The pauses in force."""
        return await read_pauses(self.redis, self.keys)

    async def _pause(self, kind: str, name: str, seconds: float | None) -> None:
        checks.number("pause seconds", seconds, positive=True, optional=True)
        until = 0.0 if seconds is None else time.time() + seconds
        await self.redis.hset(self.keys.paused, f"{kind}:{name}", repr(until))
