"""Fleet-wide limits per queue: a rate (``100/s``, ``20/m``, ``500/h``) and/or a concurrency
(most jobs of the queue in flight across every worker).

A limit lives in Redis, in a hash beside its queue (``Keys.limit``, in the queue's cluster
slot), and is listed in ``<ns>:pace:limits``, which every worker reads twice a second (with the
fleet's pauses); the fetch script reads the limit of a listed queue when it takes its jobs, so
a new limit holds for the whole fleet within a second, and a changed one at the next fetch: a
limited job never leaves its queue early, never occupies a worker slot while it waits, and is
never pushed back. A queue without a limit costs nothing. The rate
holds in every sliding window of its period (not a fixed window: no double burst at a window's
edge), whatever the number of workers.

Example::

    async with pace.Client() as client:
        limits = pace.Limits(await client.redis(), client.keys)
        await limits.set("mail", rate="100/s", concurrency=5)
        print(await limits.list())          # [Limit(queue='mail', rate=100, period=1.0, ...)]
        await limits.clear("mail")
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from redis.asyncio import Redis

from pace import checks
from pace.connection import text
from pace.errors import ConfigError
from pace.keys import Keys
from pace.queues import check_queue_name

__all__ = ["Limit", "Limits", "parse_rate"]

_PERIODS = {"s": 1.0, "m": 60.0, "h": 3600.0}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*([smh])\s*$")


def parse_rate(rate: str) -> tuple[int, float]:
    """``(jobs, period in seconds)`` of ``"100/s"``, ``"20/m"`` or ``"500/h"``.

    Raises:
        ConfigError: not a rate of that form, or zero jobs.
    """
    match = _RATE.match(rate) if isinstance(rate, str) else None
    if match is None:
        raise ConfigError(f"a rate is N/s, N/m or N/h (like 100/s), got {rate!r}")
    jobs = checks.count("a rate's number of jobs", int(match[1]))
    return jobs, _PERIODS[match[2]]


@dataclass(frozen=True, slots=True)
class Limit:
    """The limit of one queue: at most ``rate`` job starts in any ``period`` seconds, and at
    most ``concurrency`` jobs in flight; ``None`` where there is no such bound.

    Example::

        limit = await pace.Limits(redis).get("mail")
        print(limit)          # mail: 100/s, 5 at once
    """

    queue: str
    rate: int | None = None
    period: float | None = None
    concurrency: int | None = None
    admitted: int = 0
    """Jobs taken under the limit since it was set."""

    @property
    def bounds(self) -> str:
        """``100/s, 5 at once``."""
        parts = []
        if self.rate is not None and self.period is not None:
            unit = {v: k for k, v in _PERIODS.items()}.get(self.period, f"{self.period:g}s")
            parts.append(f"{self.rate}/{unit}")
        if self.concurrency is not None:
            parts.append(f"{self.concurrency} at once")
        return ", ".join(parts) or "no limit"

    def __str__(self) -> str:
        return f"{self.queue}: {self.bounds}"


class Limits:
    """Read and change the fleet's limits per queue.

    Example::

        limits = pace.Limits(redis)                      # an open redis.asyncio client
        await limits.set("api", rate="10/s")             # every worker, within a second
        await limits.set("api", concurrency=3)           # both bounds now
        await limits.clear("api")
    """

    __slots__ = ("keys", "redis")

    def __init__(self, redis: Redis, keys: Keys | None = None) -> None:
        self.redis = redis
        self.keys = keys or Keys()

    async def set(
        self, queue: str, *, rate: str | None = None, concurrency: int | None = None
    ) -> Limit:
        """Set the rate (``"100/s"``) and/or the concurrency of ``queue``; a bound not given
        stays as it was. Returns the limit now in force."""
        check_queue_name(queue)
        if rate is None and concurrency is None:
            raise ConfigError("give a rate (like 100/s), a concurrency, or both")
        fields: list[str] = []
        if rate is not None:
            jobs, period = parse_rate(rate)
            fields += ["rate", str(jobs), "period", repr(period)]
        if concurrency is not None:
            fields += ["concurrency", str(checks.count("concurrency", concurrency))]
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hset(self.keys.limit(queue), items=fields)
            pipe.sadd(self.keys.limits, queue)
            await pipe.execute()
        limit = await self.get(queue)
        assert limit is not None
        return limit

    async def clear(self, queue: str) -> bool:
        """Remove both bounds of ``queue``; False if it had none."""
        check_queue_name(queue)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.delete(self.keys.limit(queue))
            pipe.srem(self.keys.limits, queue)
            deleted, _removed = await pipe.execute()
        return bool(deleted)

    async def get(self, queue: str) -> Limit | None:
        """The limit of ``queue``, or ``None``."""
        fields = {
            text(k): text(v) for k, v in (await self.redis.hgetall(self.keys.limit(queue))).items()
        }
        if not fields:
            return None
        rate, period, concurrency = (fields.get(f) for f in ("rate", "period", "concurrency"))
        return Limit(
            queue,
            rate=int(rate) if rate else None,
            period=float(period) if period else None,
            concurrency=int(concurrency) if concurrency else None,
            admitted=int(fields.get("admitted") or 0),
        )

    async def list(self) -> list[Limit]:
        """Every limit in force, by queue name."""
        limits = []
        for queue in sorted(map(text, await self.redis.smembers(self.keys.limits))):
            limit = await self.get(queue)
            if limit is not None:
                limits.append(limit)
        return limits
