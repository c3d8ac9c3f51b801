"""Storing what became of each job: Resque's stats and failure records, and requeues.

Successes are counted in batches: every job that finishes while a write is being prepared
shares one ``INCRBY`` pipeline, and each waits until it is stored. A failure is written at
once: ``RPUSH resque:failed`` plus the four counters Ruby increments, in one transaction.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import traceback
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from pace._time import failed_at, utcnow
from pace.job import encode
from pace.keys import Keys

__all__ = ["Outcomes", "exception_name", "failure_record"]

logger = logging.getLogger("pace")


def exception_name(exc: BaseException) -> str:
    """``ZeroDivisionError`` for builtins, ``module.Class`` otherwise."""
    cls = type(exc)
    return (
        cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    )


def _backtrace(exc: BaseException) -> list[str]:
    """Ruby-style lines, innermost first: ``file.py:12:in `perform'``."""
    frames = traceback.extract_tb(exc.__traceback__)
    return [f"{frame.filename}:{frame.lineno}:in `{frame.name}'" for frame in reversed(frames)]


def failure_record(
    *, queue: str, raw: bytes, payload: dict[str, Any] | None, exc: BaseException, worker_id: str
) -> dict[str, Any]:
    """A ``resque:failed`` entry, keys in Resque's order.

    ``payload`` is the decoded job; for bytes that would not decode it is the raw text, kept
    verbatim, and bytes that are not UTF-8 are also kept as ``raw_payload_base64``.
    """
    record: dict[str, Any] = {
        "failed_at": failed_at(utcnow()),
        "payload": payload,
        "exception": exception_name(exc),
        "error": str(exc),
        "backtrace": _backtrace(exc),
        "worker": worker_id,
        "queue": queue,
    }
    if payload is None:
        try:
            record["payload"] = raw.decode()
        except UnicodeDecodeError:
            record["payload"] = raw.decode(errors="replace")
            record["raw_payload_base64"] = base64.b64encode(raw).decode()
    return record


class Outcomes:
    """Writes job outcomes for one worker."""

    __slots__ = ("_batch", "_pending", "keys", "redis", "worker_id")

    def __init__(self, redis: Redis, keys: Keys, worker_id: str) -> None:
        self.redis = redis
        self.keys = keys
        self.worker_id = worker_id
        self._pending = 0
        self._batch: asyncio.Future[None] | None = None

    async def succeeded(self) -> None:
        """Count one processed job; return once the count is stored.

        The first job of a batch waits one loop turn for others to join, then writes them all.
        """
        self._pending += 1
        if self._batch is not None:
            await asyncio.shield(self._batch)
            return
        batch = self._batch = asyncio.get_running_loop().create_future()
        try:
            await asyncio.sleep(0)
            count, self._pending, self._batch = self._pending, 0, None
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.incrby(self.keys.stat("processed"), count)
                pipe.incrby(self.keys.stat("processed", self.worker_id), count)
                await pipe.execute()
        except RedisError as exc:
            logger.warning("pace: could not count %d processed jobs: %s", count, exc)
        finally:
            self._batch = None if self._batch is batch else self._batch
            batch.set_result(None)

    async def failed(
        self, queue: str, raw: bytes, payload: dict[str, Any] | None, exc: BaseException
    ) -> None:
        """Store a failure record and count it, as Ruby's ``Job#fail`` and ``done_working``."""
        record = failure_record(
            queue=queue, raw=raw, payload=payload, exc=exc, worker_id=self.worker_id
        )
        keys, worker_id = self.keys, self.worker_id
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.rpush(keys.failed, encode(record))
            for stat in ("failed", "processed"):
                pipe.incr(keys.stat(stat))
                pipe.incr(keys.stat(stat, worker_id))
            await pipe.execute()

    async def requeue(self, jobs: Sequence[tuple[str, bytes]]) -> None:
        """Put ``(queue, raw)`` jobs back at the head of their queues, in their original order."""
        if not jobs:
            return
        async with self.redis.pipeline(transaction=True) as pipe:
            for queue, raw in reversed(jobs):
                pipe.lpush(self.keys.queue(queue), raw)
            await pipe.execute()
