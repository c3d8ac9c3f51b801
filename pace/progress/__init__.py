"""A shared progress tracker: a job declares its total and ticks; any process can read it.

Progress lands in one Redis hash per scope, ``resque:pace:<scope parts joined by ':'>`` (scope
``("user", 3421)`` is ``resque:pace:user:3421``), one field per job id, whose value is JSON::

    {"percent": 42, "count": 420, "total": 1000,
     "started_at": "2026-11-23T10:00:00.250000+00:00", "estimated_finished_at": "...",
     "finished_at": null, "failed_at": null, "error": null, "error_count": 0, "name": "import",
     "params": {...}, "updated_at": "...", "expires_at": null}

Times are ISO 8601 with microseconds, so an ETA read back is the writer's. With ``prefix``
(``"progressrus"``), entries go where the Ruby gem Progressrus keeps them,
``progressrus:user:3421``, in its JSON (``name, id, scope, started_at, completed_at,
failed_at, expires_at, count, total, params, error_count``), so a Ruby app's
``Progressrus.scope`` reads them; pace reads both.

Writes are throttled: a tick writes only when at least ``interval`` seconds (2 by default) have
passed since the last write *and* the whole percent changed, plus the first write and the last
(count reaching total); ``tick(force=True)``, :meth:`Progress.complete` and
:meth:`Progress.fail` always write. A running entry lives as long as it runs; a finished one
``expire`` seconds (a day) after it finished: readers skip and prune expired entries, and the
scope's hash expires with its last entry (``pace/lua/progress_write.lua``).

Example::

    async with pace.Progress(scope=("user", 3421), total=len(records)) as progress:
        for record in records:
            await import_one(record)
            await progress.tick()            # no Redis call unless a write is due
    ticks = await pace.progress.jobs(("user", 3421))   # {job_id: Tick}, from any process
"""

from __future__ import annotations

import json
import logging
import math
import uuid
from datetime import UTC, datetime
from typing import Any, Self

from redis.asyncio import Redis
from redis.exceptions import RedisError

from pace import checks
from pace.connection import Opened, connect
from pace.context import current
from pace.errors import PaceError
from pace.keys import DEFAULT_NAMESPACE
from pace.progress import _tick
from pace.progress._stores import MemoryStore, ProgressStore, RedisStore
from pace.progress._tick import Scope, Tick, dumps, scope_key

__all__ = [
    "MemoryStore",
    "Progress",
    "ProgressStore",
    "RedisStore",
    "Scope",
    "Tick",
    "flush",
    "jobs",
    "scope_key",
]

logger = logging.getLogger("pace")


class Progress(Opened):
    """One job's progress in a scope: declare the total, tick, complete or fail.

    Awaiting it (or entering it with ``async with``) writes the 0% marker at once (what the
    seed's constructor did); otherwise the first :meth:`tick` writes it. ``async with`` also
    completes it on a clean exit and fails it (with the exception) on an error. Inside a
    worker, use ``job.progress(scope, total)``: it is bound to the job's id, and the worker
    marks it failed if the job fails, even after its block completed it.

    Example::

        progress = await pace.Progress(scope=("user", 3421), total=len(ids))
        for record in records:
            await do_expensive_things(record)
            await progress.tick()          # tick(n) for n at once
        await progress.complete()

    Args:
        scope: where the progress is kept, e.g. ``("user", 3421)``.
        total: how many ticks make 100%; 0 is done (completed) at once; ``None`` is unknown
            (no percent, no ETA).
        job_id: the entry's id; default: the running job's id, else a new one.
        name: shown with the progress.
        params: shown with the progress.
        interval: least seconds between throttled writes.
        expire: seconds a finished entry is kept (a running one lives as long as it runs).
        store: where to write; default: Redis at the resolved URL (see ``redis_url``).
        prefix: for the default store: ``None`` for pace's keys (``resque:pace:<scope>``),
            ``"progressrus"`` (or another prefix) to report into a Ruby app's Progressrus
            scopes (``progressrus:<scope>``, in Progressrus's JSON).
    """

    def __init__(
        self,
        scope: Scope,
        total: int | None,
        *,
        job_id: str | None = None,
        name: str | None = None,
        params: Any = None,
        interval: float = 2.0,
        expire: float = 86400.0,
        store: ProgressStore | None = None,
        redis_url: str | None = None,
        namespace: str = DEFAULT_NAMESPACE,
        prefix: str | None = None,
    ) -> None:
        if total is not None:
            checks.count("progress total", total, minimum=0)
        checks.number("progress interval", interval)
        checks.number("progress expire", expire)
        job = current.get()
        self.scope = scope_key(scope, prefix=prefix)
        self.job_id = job_id or (job.id if job is not None and job.id else uuid.uuid4().hex)
        self.total = total
        self.count = 0
        self.name = name
        self.params = params
        self.interval = interval
        self.expire = expire
        self.error: str | None = None
        self.error_count = 0
        self._store = store
        self._redis_url = redis_url
        self._namespace = namespace
        self._prefix = prefix
        self._owned: Redis | None = None
        self._started = _tick.now()
        self._finished = self._started if total == 0 else None  # nothing to do: done
        self._failed: float | None = None
        self._written_at: float | None = None
        self._written_percent: int | None = None

    async def _open(self) -> Self:
        await self._write()
        return self

    async def _close(self, exc: BaseException | None) -> None:
        if self.running:
            await (self.complete() if exc is None else self.fail(str(exc) or type(exc).__name__))

    async def aclose(self) -> None:
        """Close the Redis connection this progress opened, if any."""
        if self._owned is not None:
            await self._owned.aclose()
            self._owned = None

    @property
    def running(self) -> bool:
        """True until completed or failed."""
        return self._finished is None and self._failed is None

    @property
    def failed(self) -> bool:
        """True once failed."""
        return self._failed is not None

    @property
    def percent(self) -> int | None:
        """The whole percent done; ``None`` for an unknown total."""
        if self.total is None:
            return None
        if self.total == 0:
            return 100
        return min(100, math.floor(100 * self.count / self.total))

    async def tick(self, n: int = 1, *, force: bool = False) -> None:
        """Count ``n`` more done; write if a write is due (see the module docstring).

        Raises:
            ConfigError: ``n`` is not a whole number >= 1.
            PaceError: it already completed or failed.
        """
        checks.count("tick", n)
        if not self.running:
            over = "failed" if self.failed else "completed"
            raise PaceError(
                f"progress {self.job_id} of scope {self.scope!r} already {over}: no tick after "
                "complete() or fail()"
            )
        self.count += n
        if force or self._due():
            await self._write()

    def _due(self) -> bool:
        if self._written_at is None:
            return True  # the first write
        if self.total is not None and self.count >= self.total:
            return self._written_percent != 100  # the last write
        if _tick.now() - self._written_at < self.interval:
            return False
        return self.total is None or self.percent != self._written_percent

    async def complete(self) -> None:
        """Mark it done (count = total) and write now."""
        self._finished = _tick.now()
        if self.total is not None:
            self.count = max(self.count, self.total)
        await self._write()

    async def fail(self, reason: str) -> None:
        """Mark it failed with ``reason`` and write now (a completed one too: the job that
        completed it failed later)."""
        self._failed = _tick.now()
        self._finished = None
        self.error = reason
        self.error_count += 1
        await self._write()

    def snapshot(self) -> Tick:
        """The progress as a query would return it."""
        now = _tick.now()
        over = self._failed or self._finished

        def moment(seconds: float | None) -> datetime | None:
            return None if seconds is None else datetime.fromtimestamp(seconds, UTC)

        return Tick(
            job_id=self.job_id,
            count=self.count,
            total=self.total,
            started_at=datetime.fromtimestamp(self._started, UTC),
            updated_at=datetime.fromtimestamp(now, UTC),
            finished_at=moment(self._finished),
            failed_at=moment(self._failed),
            error=self.error,
            error_count=self.error_count,
            name=self.name,
            params=self.params,
            expires_at=moment(None if over is None else over + self.expire),
        )

    async def _write(self) -> None:
        tick = self.snapshot()
        expires_at = tick.expires_at.timestamp() if tick.expires_at else None
        entry = dumps(tick.to_json())
        try:
            store = self._store or await self._default_store()
            await store.write(self.scope, self.job_id, entry, expires_at)
        except (RedisError, OSError) as exc:
            logger.warning("progress of %s in %s not written: %s", self.job_id, self.scope, exc)
            return
        self._written_at = _tick.now()
        self._written_percent = self.percent

    async def _default_store(self) -> ProgressStore:
        self._owned = await connect(self._redis_url)
        self._store = RedisStore(self._owned, namespace=self._namespace, prefix=self._prefix)
        return self._store


async def jobs(
    scope: Scope,
    *,
    store: ProgressStore | None = None,
    redis_url: str | None = None,
    namespace: str = DEFAULT_NAMESPACE,
    prefix: str | None = None,
) -> dict[str, Tick]:
    """Every live job of ``scope``, by job id, from any process (``prefix``: a Progressrus
    prefix, as for :class:`Progress`).

    Example::

        for job_id, tick in (await pace.progress.jobs(("user", 3421))).items():
            print(job_id, tick.status, tick.percentage, tick.eta)
    """
    key = scope_key(scope, prefix=prefix)
    if store is not None:
        return _ticks(await store.read(key))
    redis = await connect(redis_url)
    try:
        return _ticks(await RedisStore(redis, namespace=namespace, prefix=prefix).read(key))
    finally:
        await redis.aclose()


async def flush(
    scope: Scope,
    job_id: str | None = None,
    *,
    store: ProgressStore | None = None,
    redis_url: str | None = None,
    namespace: str = DEFAULT_NAMESPACE,
    prefix: str | None = None,
) -> None:
    """Remove one job's progress from ``scope``, or the whole scope."""
    key = scope_key(scope, prefix=prefix)
    if store is not None:
        await store.flush(key, job_id)
        return
    redis = await connect(redis_url)
    try:
        await RedisStore(redis, namespace=namespace, prefix=prefix).flush(key, job_id)
    finally:
        await redis.aclose()


def _ticks(entries: dict[str, bytes]) -> dict[str, Tick]:
    ticks = {}
    for job_id, value in entries.items():
        try:
            ticks[job_id] = Tick.from_json(job_id, json.loads(value))
        except (ValueError, TypeError, AttributeError):
            logger.warning("unreadable progress entry %s: %r", job_id, value[:200])
    return ticks
