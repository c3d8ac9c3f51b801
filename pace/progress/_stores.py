"""Where progress is kept: the :class:`ProgressStore` protocol, :class:`RedisStore` (the
default) and :class:`MemoryStore` (for tests).

Part of :mod:`pace.progress`, which re-exports them.
"""

from __future__ import annotations

import json
from typing import Protocol

from redis.asyncio import Redis

from pace.connection import text
from pace.keys import DEFAULT_NAMESPACE, Keys, progressrus
from pace.lua import script
from pace.progress import _tick
from pace.progress._tick import Tick, dumps

__all__ = ["MemoryStore", "ProgressStore", "RedisStore"]

_WRITE = script("progress_write")


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
    """Progress in Redis: one hash per scope, under ``<namespace>:pace:``, or with ``prefix``
    where the Ruby gem Progressrus keeps it (``progressrus:<scope>``, in its JSON).

    Example::

        store = RedisStore(redis)              # an open redis.asyncio client
        progress = pace.Progress(scope="imports", total=10, store=store)
        ruby = RedisStore(redis, prefix="progressrus")   # a Ruby app's Progressrus scopes
    """

    __slots__ = ("keys", "prefix", "redis")

    def __init__(
        self, redis: Redis, *, namespace: str = DEFAULT_NAMESPACE, prefix: str | None = None
    ) -> None:
        self.redis = redis
        self.keys = Keys(namespace)
        self.prefix = prefix
        if prefix is not None:
            progressrus(prefix, "")  # raises ConfigError for a bad prefix

    def _key(self, scope: str) -> str:
        return self.keys.progress(scope) if self.prefix is None else progressrus(self.prefix, scope)

    async def write(self, scope: str, job_id: str, entry: bytes, expires_at: float | None) -> None:
        """HSET the entry; the scope's hash lives as long as its longest-lived entry."""
        if self.prefix is not None:
            tick = Tick.from_json(job_id, json.loads(entry))
            entry = dumps(tick.to_progressrus(scope))
        until = "" if expires_at is None else int(expires_at * 1000)
        await _WRITE(self.redis, keys=[self._key(scope)], args=[job_id, entry, until])

    async def read(self, scope: str) -> dict[str, bytes]:
        """The live entries; expired ones are removed on the way."""
        key = self._key(scope)
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
        key = self._key(scope)
        if job_id is None:
            await self.redis.delete(key)
        else:
            await _WRITE(self.redis, keys=[key], args=[job_id, "", ""])


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
        now = _tick.now()
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
        expires_at = _tick.seconds(json.loads(value).get("expires_at"))
    except (ValueError, AttributeError):
        return False
    return expires_at is not None and expires_at <= _tick.now()
