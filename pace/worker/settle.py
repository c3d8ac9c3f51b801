"""Settling: storing a job's outcome, which is what takes it out of the in-flight list.

- A success is acknowledged by group commit: one acknowledgement is in flight at a time, the
  next takes every job that finished meanwhile (:meth:`Settler.succeeded`). The job holds
  its slot until then; the ``processed`` hooks fire once it is stored.
- A failure is retried if the job's policy (or its :class:`pace.Retry`) allows, else recorded
  in ``resque:failed`` (:meth:`Settler.failed`); the ``error`` hooks fire after.
- While Redis is away every settle is retried with backoff, and the outage is logged once
  (:class:`Outage`): safe, because every settle script is gated on the job's in-flight entry.

Whether a job belongs to a batch (a multi-step task or staged group) is decided here only:
its membership goes to the same settle scripts as every other job's.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from pace import hooks
from pace.context import current
from pace.errors import JobError, Retry
from pace.job import Job
from pace.retry import RetryPolicy
from pace.wire import (
    ATTEMPT_FIELD,
    batch_of,
    encode,
    entry_of,
    exception_message,
    failure_record,
)
from pace.worker.inflight import InFlight
from pace.worker.runtime import unless_cancelled

__all__ = ["OUTAGE_ERRORS", "Outage", "Settler"]

logger = logging.getLogger("pace")
T = TypeVar("T")

OUTAGE_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError)
"""What a Redis call raises while Redis is away (and not a bug)."""

_DEFAULT_RETRY = RetryPolicy()


class Outage:
    """Logs once per outage that Redis is away (and tells the error hooks), and once that it
    is back: only after it answered with no failure for :data:`STABLE` seconds, so a Redis
    that comes back in fits (loading its data, refusing some connections) is one outage."""

    STABLE = 1.0
    """Seconds without a failure after which an outage is over."""

    __slots__ = ("_failed_at", "_hooks", "active")

    def __init__(self, chain: tuple[hooks.Hooks, ...]) -> None:
        self._hooks = chain
        self.active = False
        self._failed_at = 0.0

    async def down(self, exc: BaseException) -> None:
        """Redis did not answer."""
        self._failed_at = time.monotonic()
        if not self.active:
            self.active = True
            logger.warning("Redis is unavailable (%s); retrying with backoff", exc)
            await hooks.fire(self._hooks, "error", None, exc)

    def up(self) -> None:
        """Redis answered."""
        if self.active and time.monotonic() - self._failed_at >= self.STABLE:
            self.active = False
            logger.warning("Redis is back")

    async def until_done(self, action: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run a Redis write until it succeeds, backing off while Redis is away."""
        delay = 0.05
        while True:
            try:
                result = await action(*args)
            except OUTAGE_ERRORS as exc:
                unless_cancelled(exc)
                await self.down(exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
            else:
                self.up()
                return result


class Settler:
    """Stores the outcomes of one worker's jobs.

    Args:
        inflight: the worker's in-flight list.
        worker_id: the worker's id, for failure records.
        chain: the hooks to fire (every worker's, then this worker's).
        retry: the worker's retry setting (a policy, a mapping of class names to policies,
            or ``None``).
        outage: the worker's outage log.
        wake: called when slots free up (acknowledgements stored).
    """

    __slots__ = ("_acking", "_hooks", "_retry", "_wake", "acks", "inflight", "outage", "worker_id")

    def __init__(
        self,
        inflight: InFlight,
        *,
        worker_id: str,
        chain: tuple[hooks.Hooks, ...],
        retry: RetryPolicy | Mapping[str, RetryPolicy] | None,
        outage: Outage,
        wake: Callable[[], None],
    ) -> None:
        self.inflight = inflight
        self.worker_id = worker_id
        self.outage = outage
        self.acks: list[tuple[Job, bytes]] = []
        """Jobs that succeeded whose acknowledgement is not stored yet (they hold slots)."""
        self._hooks = chain
        self._retry = retry
        self._wake = wake
        self._acking: asyncio.Task[None] | None = None

    # -- success: group commit ------------------------------------------------------------

    async def started(self, job: Job) -> None:
        """A batch job starts: its batch marks it running."""
        member = batch_of(job.payload)
        if member is not None:
            await self.outage.until_done(self.inflight.running, member)

    def succeeded(self, job: Job, entry: bytes) -> None:
        """Queue a succeeded job's acknowledgement; it is stored with the others that finish
        while the previous one is in flight."""
        self.acks.append((job, entry))
        if self._acking is None:
            self._acking = asyncio.create_task(self._ack_loop(), name="pace-ack")

    async def _ack_loop(self) -> None:
        try:
            while self.acks:
                acks = list(self.acks)  # jobs finishing meanwhile are appended after these
                entries = [(entry, batch_of(job.payload)) for job, entry in acks]
                try:
                    await self.outage.until_done(self.inflight.ack, entries)
                except Exception as exc:  # not an outage (retried above): never stall
                    logger.exception(
                        "could not acknowledge %d jobs; they stay in flight", len(acks)
                    )
                    await hooks.fire(self._hooks, "error", None, exc)
                del self.acks[: len(acks)]
                self._wake()
                if logger.isEnabledFor(logging.DEBUG):
                    logger.debug("%d jobs done: %s", len(acks), [job for job, _ in acks])
                if hooks.listening(self._hooks, "processed"):
                    for job, _entry in acks:
                        current.set(job)
                        await hooks.fire(self._hooks, "processed", job)
        finally:
            self._acking = None

    async def flush(self, timeout: float) -> None:
        """Wait up to ``timeout`` for the acknowledgements in flight, then give up on them
        (they stay in flight: releasing the worker puts them back in their queues)."""
        acking = self._acking
        if acking is not None:
            await asyncio.wait([acking], timeout=timeout)
            acking.cancel()
            await asyncio.wait([acking], timeout=1)

    # -- failure: retry or record ---------------------------------------------------------

    async def failed(self, job: Job, entry: bytes, exc: BaseException) -> None:
        """Schedule a retry if the job's policy (or its ``Retry``) allows one; else fail it."""
        policy = self._policy(job.class_name)
        asked = isinstance(exc, Retry)
        if asked or (policy is not None and policy.retries(exc, job.attempt)):
            limit = policy or _DEFAULT_RETRY
            if job.attempt < limit.attempts:
                delay = exc.delay if isinstance(exc, Retry) and exc.delay is not None else None
                if await self._again(
                    job, entry, limit.delay(job.attempt) if delay is None else delay
                ):
                    return
        await job.fail_progress(f"{type(exc).__name__}: {exception_message(exc)}")
        await self.fail(job.queue, job.raw, job.payload, entry, exc)

    def _policy(self, class_name: str) -> RetryPolicy | None:
        if isinstance(self._retry, Mapping):
            return self._retry.get(class_name)
        return self._retry

    async def _again(self, job: Job, entry: bytes, delay: float) -> bool:
        """Schedule the next attempt; False if the payload cannot be re-encoded (then fail)."""
        try:
            again = entry_of(job.queue, encode({**job.payload, ATTEMPT_FIELD: job.attempt + 1}))
        except ValueError:  # an infinite float or a lone surrogate that JSON cannot hold
            return False
        logger.info("%r failed attempt %d; retrying in %.3g s", job, job.attempt, delay)
        await self.outage.until_done(
            self.inflight.retry, entry, again, delay, batch_of(job.payload)
        )
        return True

    async def fail(
        self,
        queue: str,
        raw: bytes,
        payload: dict[str, Any] | None,
        entry: bytes,
        exc: BaseException,
    ) -> None:
        """Store a failure record (the job leaves the in-flight list), then fire the error
        hooks with the payload (its raw text when it did not decode)."""
        logger.warning(
            "a job of queue %r failed: %s: %s", queue, type(exc).__name__, exception_message(exc)
        )
        if isinstance(exc, JobError):  # for hooks that have no job to ask (Sentry's)
            exc.queue, exc.worker_id = queue, self.worker_id
        record = failure_record(
            queue=queue, raw=raw, payload=payload, exc=exc, worker_id=self.worker_id
        )
        member = batch_of(payload) if payload is not None else None
        await self.outage.until_done(self.inflight.fail, entry, encode(record), member)
        hooked = payload if payload is not None else record["payload"]
        await hooks.fire(self._hooks, "error", hooked, exc)
