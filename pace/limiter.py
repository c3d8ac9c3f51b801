"""The jobs-per-second limit: never more than the rate in any window of a second or more."""

from __future__ import annotations

import asyncio
import math
from collections import deque

from aiolimiter import AsyncLimiter

from pace import checks

__all__ = ["RateLimit"]

_WINDOW = 1.01
"""The window of the hard bound: one second plus 10 ms of tolerance for timer jitter."""


class RateLimit:
    """Bounds how fast a worker starts jobs: at most ``rate`` starts in any one-second window.

    Two parts, each simple. :meth:`take` paces permits evenly at ``rate`` per 1.01 s with an
    aiolimiter leaky bucket. The bucket starts full (no burst at start-up, or after
    :meth:`restart`, which the worker calls when a pause ends) and can save up half a second's
    worth, so that a loop stalled by a busy machine catches up instead of losing permits.
    A catch-up could put more than the rate into some second, so :meth:`admit`, called as the
    fetched jobs start, keeps a log of the last ``rate`` start times and holds starts back until
    the start ``rate`` places earlier is 1.01 s old. The bound then holds exactly, with 10 ms to
    spare for jitter in whoever measures it, and the steady rate is 1% under the target.

    Example::

        limit = RateLimit(100)
        granted = await limit.take(50)    # waits for one permit, returns 1..50 permits
        jobs = await fetch(granted)
        await limit.admit(len(jobs))      # right before they start
    """

    __slots__ = ("_bucket", "_burst", "_full", "_recent", "rate")

    def __init__(self, rate: float) -> None:
        self.rate = rate = checks.number("jobs_per_second", rate, positive=True, unit="jobs")
        self._burst = max(1.0, rate / 2)  # never more than the log's length, floor(rate)
        self._bucket = AsyncLimiter(self._burst, self._burst * _WINDOW / rate)
        self._recent: deque[float] = deque(maxlen=max(1, math.floor(rate)))
        self._full = False

    def restart(self) -> None:
        """Start evenly again: the next :meth:`take` fills the bucket (used after a pause)."""
        self._full = False

    async def take(self, wanted: int) -> int:
        """Wait for one permit, then take as many more as are free now, up to ``wanted``."""
        bucket = self._bucket
        if not self._full:
            self._full = True
            await bucket.acquire(bucket.max_rate - 1)  # at once: it was empty or nearly
        await bucket.acquire()
        granted = 1
        while granted < wanted and bucket.has_capacity():
            await bucket.acquire()
            granted += 1
        return granted

    async def admit(self, count: int) -> None:
        """Wait until ``count`` more starts fit in the window (at most the permits taken), then
        log them as starting now."""
        recent = self._recent
        clock = asyncio.get_running_loop().time  # the clock aiolimiter's bucket reads too
        excess = len(recent) + count - (recent.maxlen or 1)
        if excess > 0:
            delay = recent[excess - 1] + _WINDOW - clock()
            if delay > 0:
                await asyncio.sleep(delay)
        recent.extend([clock()] * count)
