"""A shared progress tracker: a job declares its total and ticks; any process can read it.

Progress lands in one Redis hash per scope, ``resque:pace:<scope parts joined by ':'>`` (scope
``("user", 3421)`` is ``resque:pace:user:3421``), one field per job id, whose value is JSON::

    {"percent": 42, "count": 420, "total": 1000, "started_at": "2026-11-23T10:00:00+00:00",
     "estimated_finished_at": "...", "finished_at": null, "failed_at": null, "error": null,
     "error_count": 0, "name": "import", "params": {...}, "updated_at": "...",
     "expires_at": null}

Writes are throttled: a tick writes only when at least ``interval`` seconds (2 by default) have
passed since the last write *and* the whole percent changed, plus the first write and the last
(count reaching total); ``tick(force=True)``, :meth:`Progress.complete` and
:meth:`Progress.fail` always write. A finished entry expires ``expire`` seconds (a day) after it
finished, entry by entry: readers skip and prune expired entries, and the hash itself only
expires when nothing at all was written to the scope for that long.

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
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol, Self

from redis.asyncio import Redis
from redis.exceptions import RedisError

from pace import checks
from pace.connection import Opened, connect, text
from pace.context import current
from pace.errors import ConfigError
from pace.keys import DEFAULT_NAMESPACE, Keys, reserved
from pace.lua import script

__all__ = [
    "MemoryStore",
    "Progress",
    "ProgressStore",
    "RedisStore",
    "Scope",
    "Tick",
    "flush",
    "jobs",
]

logger = logging.getLogger("pace")

_WRITE = script("progress_write")

Scope = str | int | Sequence[str | int]
"""A scope: ``("user", 3421)``, or one part (``"imports"``)."""

_now = time.time  # the clock; tests replace it


def scope_key(scope: Scope) -> str:
    """``"user:3421"`` for ``("user", 3421)``; raises ConfigError for an empty or reserved one."""
    parts = [scope] if isinstance(scope, str | int) else list(scope)
    names = [str(part) for part in parts]
    if not names or not all(names):
        raise ConfigError(f"a progress scope needs non-empty parts, got {scope!r}")
    key = ":".join(names)
    if reserved(key):
        raise ConfigError(
            f"progress scopes cannot start with {names[0]!r}: pace uses that name for its own keys"
        )
    return key


def _iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")


def _seconds(value: Any) -> float | None:
    return datetime.fromisoformat(value).timestamp() if isinstance(value, str) else None


@dataclass(frozen=True, slots=True)
class Tick:
    """One job's progress, as a query returns it.

    Example::

        tick = (await pace.progress.jobs(("user", 3421)))[job_id]
        print(tick.status, tick.percentage, tick.eta)
    """

    job_id: str
    count: int
    total: int | None
    started_at: datetime
    updated_at: datetime
    finished_at: datetime | None = None
    failed_at: datetime | None = None
    error: str | None = None
    error_count: int = 0
    name: str | None = None
    params: Any = None
    expires_at: datetime | None = field(default=None, repr=False)

    @property
    def percentage(self) -> float | None:
        """0 to 100; ``None`` when the total is unknown. A total of 0 is done: 100."""
        if self.total is None:
            return None
        if self.total == 0 or self.completed:
            return 100.0
        return min(100.0, 100.0 * self.count / self.total)

    @property
    def eta(self) -> datetime | None:
        """When the job should finish, at the rate observed since it started (``None``: not
        known yet, or already over). For a job that ticks at a steady rate, the elapsed time
        over the count, times the total, is exact."""
        if self.total is None or self.finished_at or self.failed_at:
            return None
        if self.count <= 0:
            return None
        spent = (self.updated_at - self.started_at).total_seconds()
        return self.started_at + timedelta(seconds=spent * self.total / self.count)

    @property
    def elapsed(self) -> timedelta:
        """From start to finish (or to the last update, while it runs)."""
        end = self.failed_at or self.finished_at or self.updated_at
        return end - self.started_at

    @property
    def status(self) -> Literal["started", "running", "completed", "failed"]:
        """``failed`` or ``completed`` once over; ``started`` before the first tick."""
        if self.failed_at:
            return "failed"
        if self.finished_at:
            return "completed"
        return "running" if self.count > 0 else "started"

    @property
    def running(self) -> bool:
        """True until it completed or failed."""
        return self.status in ("started", "running")

    @property
    def completed(self) -> bool:
        """True once it completed."""
        return self.finished_at is not None and self.failed_at is None

    @property
    def failed(self) -> bool:
        """True once it failed."""
        return self.failed_at is not None

    def to_json(self) -> dict[str, Any]:
        """The stored JSON (see the module docstring)."""
        percentage = self.percentage
        eta = self.eta
        return {
            "percent": None if percentage is None else math.floor(percentage),
            "count": self.count,
            "total": self.total,
            "started_at": self.started_at.isoformat(timespec="seconds"),
            "estimated_finished_at": eta.isoformat(timespec="seconds") if eta else None,
            "finished_at": _iso(self.finished_at.timestamp()) if self.finished_at else None,
            "failed_at": _iso(self.failed_at.timestamp()) if self.failed_at else None,
            "error": self.error,
            "error_count": self.error_count,
            "name": self.name,
            "params": self.params,
            "updated_at": self.updated_at.isoformat(timespec="milliseconds"),
            "expires_at": _iso(self.expires_at.timestamp()) if self.expires_at else None,
        }

    @classmethod
    def from_json(cls, job_id: str, data: dict[str, Any]) -> Tick:
        """Read a stored entry back."""

        def moment(key: str) -> datetime | None:
            seconds = _seconds(data.get(key))
            return None if seconds is None else datetime.fromtimestamp(seconds, UTC)

        started = moment("started_at") or datetime.fromtimestamp(0, UTC)
        return cls(
            job_id=job_id,
            count=int(data.get("count") or 0),
            total=data.get("total"),
            started_at=started,
            updated_at=moment("updated_at") or started,
            finished_at=moment("finished_at"),
            failed_at=moment("failed_at"),
            error=data.get("error"),
            error_count=int(data.get("error_count") or 0),
            name=data.get("name"),
            params=data.get("params"),
            expires_at=moment("expires_at"),
        )


class ProgressStore(Protocol):
    """Where progress is kept. Three methods; :class:`RedisStore` is the default.

    ``write`` stores one job's entry (``expires_at``: Unix seconds after which it may be
    dropped, or ``None``); ``read`` returns the live entries of a scope; ``flush`` removes one
    entry, or the whole scope.
    """

    async def write(self, scope: str, job_id: str, entry: bytes, expires_at: float | None) -> None:
        """Store the JSON ``entry`` of ``job_id`` in ``scope``."""

    async def read(self, scope: str) -> dict[str, bytes]:
        """Every entry of ``scope`` that has not expired, by job id."""

    async def flush(self, scope: str, job_id: str | None = None) -> None:
        """Remove one job's entry, or every entry of the scope."""




class RedisStore:
    """Progress in Redis: one hash per scope under ``<namespace>:pace:``.

    Example::

        store = RedisStore(redis)              # an open redis.asyncio client
        progress = pace.Progress(scope="imports", total=10, store=store)
    """

    __slots__ = ("keep", "keys", "redis")

    def __init__(
        self, redis: Redis, *, namespace: str = DEFAULT_NAMESPACE, keep: float = 86400
    ) -> None:
        self.redis = redis
        self.keys = Keys(namespace)
        self.keep = keep

    async def write(self, scope: str, job_id: str, entry: bytes, expires_at: float | None) -> None:
        """HSET the entry; keep the hash alive for ``keep`` seconds (or to ``expires_at``)."""
        keep = max(self.keep, (expires_at or 0) - _now())
        key = self.keys.progress(scope)
        await _WRITE(self.redis, keys=[key], args=[job_id, entry, int(keep * 1000)])

    async def read(self, scope: str) -> dict[str, bytes]:
        """The live entries; expired ones are removed on the way."""
        key = self.keys.progress(scope)
        entries = {
            text(job_id): value if isinstance(value, bytes) else value.encode()
            for job_id, value in (await self.redis.hgetall(key)).items()
        }
        expired = [job_id for job_id, value in entries.items() if _expired(value)]
        if expired:
            await self.redis.hdel(key, *expired)
        return {job_id: value for job_id, value in entries.items() if job_id not in expired}

    async def flush(self, scope: str, job_id: str | None = None) -> None:
        """HDEL one entry, or DEL the scope."""
        key = self.keys.progress(scope)
        if job_id is None:
            await self.redis.delete(key)
        else:
            await self.redis.hdel(key, job_id)


class MemoryStore:
    """Progress in this process only, for tests; counts its writes.

    Example::

        store = MemoryStore()
        progress = pace.Progress(scope="s", total=100, store=store)
        ...
        assert store.writes <= 5
    """

    def __init__(self) -> None:
        self.scopes: dict[str, dict[str, tuple[bytes, float | None]]] = {}
        self.writes = 0

    async def write(self, scope: str, job_id: str, entry: bytes, expires_at: float | None) -> None:
        """Keep the entry; count the write."""
        self.writes += 1
        self.scopes.setdefault(scope, {})[job_id] = (entry, expires_at)

    async def read(self, scope: str) -> dict[str, bytes]:
        """The entries not yet expired."""
        now = _now()
        entries = self.scopes.get(scope, {})
        return {
            job_id: entry
            for job_id, (entry, expires_at) in entries.items()
            if expires_at is None or expires_at > now
        }

    async def flush(self, scope: str, job_id: str | None = None) -> None:
        """Forget one entry, or the scope."""
        if job_id is None:
            self.scopes.pop(scope, None)
        else:
            self.scopes.get(scope, {}).pop(job_id, None)


def _expired(value: bytes) -> bool:
    try:
        expires_at = _seconds(json.loads(value).get("expires_at"))
    except (ValueError, AttributeError):
        return False
    return expires_at is not None and expires_at <= _now()


class Progress(Opened):
    """One job's progress in a scope: declare the total, tick, complete or fail.

    Awaiting it (or entering it with ``async with``) writes the 0% marker at once; otherwise
    the first :meth:`tick` writes it. ``async with`` also completes it on a clean exit and
    fails it (with the exception) on an error. Inside a worker, use ``job.progress(scope,
    total)``: it is bound to the job's id, and the worker marks it failed if the job fails.

    Example::

        progress = await pace.Progress(scope=("user", 3421), total=len(ids))
        for record in records:
            await do_expensive_things(record)
            await progress.tick()          # tick(n) for n at once
        await progress.complete()

    Args:
        scope: where the progress is kept, e.g. ``("user", 3421)``.
        total: how many ticks make 100%; 0 is done at once; ``None`` is unknown (no percent,
            no ETA).
        job_id: the entry's id; default: the running job's id, else a new one.
        name: shown with the progress.
        params: shown with the progress.
        interval: least seconds between throttled writes.
        expire: seconds a finished entry is kept.
        store: where to write; default: Redis at the resolved URL (see ``redis_url``).
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
    ) -> None:
        if total is not None:
            checks.count("progress total", total, minimum=0)
        checks.number("progress interval", interval)
        checks.number("progress expire", expire)
        job = current.get()
        self.scope = scope_key(scope)
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
        self._owned: Redis | None = None
        self._started = _now()
        self._finished: float | None = None
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
    def percent(self) -> int | None:
        """The whole percent done; ``None`` for an unknown total."""
        if self.total is None:
            return None
        if self.total == 0:
            return 100
        return min(100, math.floor(100 * self.count / self.total))

    async def tick(self, n: int = 1, *, force: bool = False) -> None:
        """Count ``n`` more done; write if a write is due (see the module docstring)."""
        self.count += n
        if force or self._due():
            await self._write()

    def _due(self) -> bool:
        if self._written_at is None:
            return True  # the first write
        if self.total is not None and self.count >= self.total:
            return self._written_percent != 100  # the last write
        if _now() - self._written_at < self.interval:
            return False
        return self.total is None or self.percent != self._written_percent

    async def complete(self) -> None:
        """Mark it done (count = total) and write now."""
        self._finished = _now()
        if self.total is not None:
            self.count = max(self.count, self.total)
        await self._write()

    async def fail(self, reason: str) -> None:
        """Mark it failed with ``reason`` and write now."""
        self._failed = _now()
        self.error = reason
        self.error_count += 1
        await self._write()

    def snapshot(self) -> Tick:
        """The progress as a query would return it."""
        now = _now()
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
        entry = json.dumps(tick.to_json(), separators=(",", ":"), default=str).encode()
        try:
            store = self._store or await self._default_store()
            await store.write(self.scope, self.job_id, entry, expires_at)
        except (RedisError, OSError) as exc:
            logger.warning("progress of %s in %s not written: %s", self.job_id, self.scope, exc)
            return
        self._written_at = _now()
        self._written_percent = self.percent

    async def _default_store(self) -> ProgressStore:
        self._owned = await connect(self._redis_url)
        self._store = RedisStore(self._owned, namespace=self._namespace, keep=self.expire)
        return self._store


async def jobs(
    scope: Scope,
    *,
    store: ProgressStore | None = None,
    redis_url: str | None = None,
    namespace: str = DEFAULT_NAMESPACE,
) -> dict[str, Tick]:
    """Every live job of ``scope``, by job id, from any process.

    Example::

        for job_id, tick in (await pace.progress.jobs(("user", 3421))).items():
            print(job_id, tick.status, tick.percentage, tick.eta)
    """
    key = scope_key(scope)
    if store is not None:
        return _ticks(await store.read(key))
    redis = await connect(redis_url)
    try:
        return _ticks(await RedisStore(redis, namespace=namespace).read(key))
    finally:
        await redis.aclose()


async def flush(
    scope: Scope,
    job_id: str | None = None,
    *,
    store: ProgressStore | None = None,
    redis_url: str | None = None,
    namespace: str = DEFAULT_NAMESPACE,
) -> None:
    """Remove one job's progress from ``scope``, or the whole scope."""
    key = scope_key(scope)
    if store is not None:
        await store.flush(key, job_id)
        return
    redis = await connect(redis_url)
    try:
        await RedisStore(redis, namespace=namespace).flush(key, job_id)
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
