"""The jobs-per-second limit: never more than the rate in any window of a second or more."""

from __future__ import annotations

import math

from aiolimiter import AsyncLimiter

from pace.errors import ConfigError

__all__ = ["RateLimit"]


class RateLimit:
    """Bounds how fast a worker starts jobs.

    A plain ``AsyncLimiter(rate, 1)`` lets ``rate`` jobs through at once and then drips ``rate``
    more during the next second: up to twice the rate in a one-second window. pace keeps the
    bucket small instead, ``burst`` = 1% of the rate (at least 1), and lowers the drip to
    ``rate - burst + 1`` per second, so that the first second holds at most
    ``burst + (rate - burst + 1) - 1 = rate`` starts, and so does any later one. The steady
    rate is then within 1% of the target, and a pause saves up no more than ``burst``.

    Example::

        limit = RateLimit(100)
        granted = await limit.take(50)   # waits for one permit, returns 1..50 permits
    """

    __slots__ = ("_limiter", "rate")

    def __init__(self, rate: float) -> None:
        if not math.isfinite(rate) or rate <= 0:
            raise ConfigError(f"jobs_per_second must be a positive number, got {rate!r}")
        self.rate = rate
        burst = max(1, math.floor(rate / 100))
        drip = rate - burst + 1
        self._limiter = AsyncLimiter(burst, burst / drip)

    async def take(self, wanted: int) -> int:
        """Wait for one permit, then take as many more as are free now, up to ``wanted``."""
        limiter = self._limiter
        await limiter.acquire()
        granted = 1
        while granted < wanted and limiter.has_capacity():
            await limiter.acquire()
            granted += 1
        return granted
