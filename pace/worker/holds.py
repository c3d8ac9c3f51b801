"""The queues a fleet-wide limit (:mod:`pace.limits`) holds back, as one worker sees them.

The fetch script says when a queue's limit held jobs back, and for how long (its ``wait``,
pace/lua/lib/limit.lua): until the oldest start in the rate's window leaves it, to the
microsecond; or, when only the concurrency is full, an unknown time (a slot frees when a job
settles, in any worker), polled every :data:`LIMIT_POLL` seconds, or at once when one of this
worker's own jobs of that queue ends. The worker leaves a held queue out of its fetches, so
its other queues keep their turns, and naps no longer than until the first one opens.
"""

from __future__ import annotations

import math
import time

__all__ = ["LIMIT_POLL", "Holds"]

LIMIT_POLL = 0.02
"""Seconds a queue full at its concurrency is left out of the fetches."""


class Holds:
    """Which queues a limit holds back, until when, and for how long in all.

    Example::

        holds = Holds()
        holds.hold("api", 250_000)    # the fetch script's wait, in microseconds
        holds.opens_in()              # 0.25: nap no longer
        "api" in holds.until          # True: leave it out of the fetches until then
    """

    __slots__ = ("_full", "until", "waited")

    def __init__(self) -> None:
        self.until: dict[str, float] = {}
        """Queues held back, to the ``time.monotonic()`` their limit may admit more."""
        self.waited: dict[str, float] = {}
        """Seconds each queue was held back, in all (published with the worker's metrics)."""
        self._full: set[str] = set()  # held by the concurrency: a slot may free any moment

    def hold(self, name: str, wait: int) -> None:
        """The fetch script's ``wait`` for queue ``name``: microseconds, or -1 (concurrency)."""
        seconds = wait / 1e6 if wait > 0 else LIMIT_POLL
        if wait < 0:
            self._full.add(name)
        self.until[name] = time.monotonic() + seconds
        self.waited[name] = self.waited.get(name, 0.0) + seconds

    def freeing(self, name: str) -> None:
        """A job of queue ``name`` ended: its slot goes back with the next exchange, which may
        take it again at once if only the queue's concurrency held the queue back."""
        if name in self._full:
            self._full.discard(name)
            until = self.until.pop(name, 0.0)  # held no longer than until now
            self.waited[name] -= max(0.0, until - time.monotonic())

    def opens_in(self) -> float:
        """Seconds until the first queue held back may be fetched again (``inf``: none is);
        queues no longer held leave :attr:`until`."""
        now = time.monotonic()
        for name in [name for name, until in self.until.items() if until <= now]:
            del self.until[name]
        return min(self.until.values(), default=now + math.inf) - now
