"""The jobs-per-second limit: never more than the rate in any window of a second or more."""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque

from aiolimiter import AsyncLimiter

from pace.errors import ConfigError

__all__ = ["RateLimit"]

_WINDOW = 1.01
"""The window of the hard bound: one second plus 10 ms of tolerance for timer jitter."""


class RateLimit:
    """Bounds how fast a worker starts jobs: at most ``rate`` starts in any one-second window.

    Two parts, each simple. :meth:`take` paces permits evenly at ``rate`` per second with an
    aiolimiter leaky bucket holding a tenth of a second's worth, so a timer that fires late (a
    busy machine) is caught up rather than lost. That bucket alone would allow a tenth more
    than the rate in some second, so :meth:`admit`, called as the fetched jobs start, keeps a
    log of the last ``rate`` start times and holds starts back until the start ``rate`` places
    earlier is 1.01 s old. The bound then holds exactly, with 10 ms to spare for jitter in
    whoever measures it (a busy event loop starts a job a little after its permit), and the
    steady rate stays within 1% of the target. A pause saves
    up nothing beyond the bucket, and the log still applies after it.

    Example::

        limit = RateLimit(100)
        granted = await limit.take(50)    # waits for one permit, returns 1..50 permits
        jobs = await fetch(granted)
        await limit.admit(len(jobs))      # right before they start
    """

    __slots__ = ("_bucket", "_recent", "rate")

    def __init__(self, rate: float) -> None:
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 < rate < math.inf:
            raise ConfigError(f"jobs_per_second must be a positive number, got {rate!r}")
        self.rate = rate
        burst = max(1.0, rate / 10)  # never more than the log's length, floor(rate)
        self._bucket = AsyncLimiter(burst, burst / rate)
        self._recent: deque[float] = deque(maxlen=max(1, math.floor(rate)))

    async def take(self, wanted: int) -> int:
        """Wait for one permit, then take as many more as are free now, up to ``wanted``."""
        bucket = self._bucket
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
        excess = len(recent) + count - (recent.maxlen or 1)
        if excess > 0:
            delay = recent[excess - 1] + _WINDOW - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        recent.extend([time.monotonic()] * count)
