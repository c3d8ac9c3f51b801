"""Which queues a worker fetches from, and how many jobs from each.

The queue list (names, ``*``, globs) resolved against ``resque:queues``, minus the queues the
fleet paused (:mod:`pace.control`), in priority order. A fetch takes from the first queue that
has jobs, then the next: one round trip reads the lengths of the queues worth trying. A queue
found empty naps (a list of n queues: up to n x 0.2 ms, never over a second, spread at random;
none in burst mode), so a fetch from 5,000 queues asks about a few, not all. A queue its
fleet-wide limit holds back (:class:`~pace.worker.holds.Holds`) is left out until it may admit
more; the others keep their turns.
"""

from __future__ import annotations

import math
import random
import time

from redis.asyncio import Redis

from pace.connection import text
from pace.keys import Keys
from pace.queues import QueueSelector
from pace.worker.holds import Holds

__all__ = ["Picker"]

_NAP_PER_QUEUE = 0.0002  # an empty queue of a list of n is skipped up to n times this ...
_NAP_MAX = 1.0  # ... and never longer (5,000 queues: from half a second to a second)


class Picker:
    """The queues a worker fetches from, and how many jobs to take from each.

    Example::

        picker = Picker(QueueSelector(["*"]), Keys(), burst=False)
        await picker.refresh(redis)                   # what '*' means now
        await picker.allot(redis, 100, Holds())       # {'mail': 60, 'low': 40}
    """

    __slots__ = ("_burst", "_keys", "_known", "_napping", "_paused", "_resolved", "changed",
                 "names", "queues")  # fmt: skip

    def __init__(self, queues: QueueSelector, keys: Keys, burst: bool) -> None:
        self.queues = queues
        self._keys = keys
        self._burst = burst
        self._resolved: list[str] = list(queues.spec)  # resolved, in priority order
        self._paused: frozenset[str] = frozenset()  # paused for the fleet
        self.names: list[str] = list(queues.spec)
        """The queues fetched from: resolved minus paused, in priority order."""
        self._napping: dict[str, float] = {}  # queue -> until when it is skipped (found empty)
        self._known = -1  # how many queues resque:queues held when last read
        self.changed = False
        """``resque:queues`` grew or shrank since it was read: :meth:`refresh` again."""

    def follow(self, paused: frozenset[str]) -> None:
        """The fleet pauses these queues: leave them out."""
        self._paused = paused
        self._update()

    async def refresh(self, redis: Redis) -> None:
        """Read ``resque:queues`` again (for ``*`` and globs)."""
        known = await redis.smembers(self._keys.queues)
        self._known, self.changed = len(known), False
        self._resolved = self.queues.resolve(map(text, known))
        self._update()

    def _update(self) -> None:
        names = [name for name in self._resolved if name not in self._paused]
        if names != self.names:
            self.names = names
            self._napping = {n: t for n, t in self._napping.items() if n in names}

    async def allot(self, redis: Redis, wanted: int, holds: Holds) -> dict[str, int]:
        """How many of ``wanted`` jobs to take from each queue: all from the first when there
        is one; else by the lengths of the queues worth trying, highest priority first."""
        names = self.names
        if holds.until and holds.opens_in() < math.inf:
            names = [name for name in names if name not in holds.until]
        if len(names) < 2:
            return dict.fromkeys(names, wanted)
        now, napping = time.monotonic(), self._napping
        trying = [name for name in names if napping.get(name, 0.0) <= now] if napping else names
        async with redis.pipeline(transaction=False) as pipe:
            for name in trying:
                pipe.llen(self._keys.queue(name))
            if self.queues.dynamic:  # a new queue is fetched from at once
                pipe.scard(self._keys.queues)
            lengths: list[int] = await pipe.execute()
        if self.queues.dynamic:
            self.changed = lengths.pop() != self._known
        nap = 0.0 if self._burst else min(_NAP_PER_QUEUE * len(names), _NAP_MAX)
        allotted = {}
        for name, length in zip(trying, lengths, strict=True):
            if not length:
                napping[name] = now + nap * (0.5 + random.random() / 2)  # spread: no spikes
            elif wanted:
                allotted[name] = min(length, wanted)
                wanted -= allotted[name]
        return allotted
