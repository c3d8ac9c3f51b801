"""Settling: storing a job's outcome, which is what takes it out of the in-flight list.

- A success is acknowledged by group commit, riding with the next fetch: one round trip
  stores every success since the last and takes the jobs there is room for
  (:meth:`Settler.exchange`). The job holds its slot until then; the ``processed`` hooks fire
  once it is stored.
- A failure is retried if the job's policy (or its :class:`pace.Retry`) allows, else recorded
  in ``resque:failed`` (:meth:`Settler.failed`); the ``error`` hooks fire after.
- While Redis is away every settle is retried with backoff, and the outage is logged once
  (:class:`Outage`): safe, because every settle is gated on the job being in flight.

Whether a job belongs to a batch (a multi-step task or staged group) is decided here only:
its membership goes to the same settle scripts as every other job's.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from contextlib import suppress
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
    BATCH_FIELD,
    batch_of,
    encode,
    entry_of,
    exception_message,
    failure_record,
)
from pace.worker.inflight import Exchange, Fenced, InFlight, Ref
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
        inflight: the worker's lanes.
        worker_id: the worker's id, for failure records.
        chain: the hooks to fire (every worker's, then this worker's).
        retry: the worker's retry setting (a policy, a mapping of class names to policies,
            or ``None``).
        outage: the worker's outage log.
    """

    __slots__ = (
        "_closed", "_hooks", "_retry", "_sending", "_tasks", "_unsent", "acks", "inflight",
        "outage", "worker_id",
    )  # fmt: skip

    def __init__(
        self,
        inflight: InFlight,
        *,
        worker_id: str,
        chain: tuple[hooks.Hooks, ...],
        retry: RetryPolicy | Mapping[str, RetryPolicy] | None,
        outage: Outage,
    ) -> None:
        self.inflight = inflight
        self.worker_id = worker_id
        self.outage = outage
        self.acks: list[tuple[Job, Ref]] = []
        """Jobs that succeeded whose acknowledgement is not sent yet (they hold slots)."""
        self._sending: list[tuple[Job, Ref]] = []  # in the exchange not through yet
        self._unsent: Exchange | None = None
        self._hooks = chain
        self._retry = retry
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    # -- success: group commit, riding with the next fetch ----------------------------------

    async def started(self, job: Job) -> None:
        """A batch job starts: its batch marks it running."""
        member = batch_of(job.payload)
        if member is not None:
            await self.outage.until_done(self.inflight.running, member)

    def succeeded(self, job: Job, ref: Ref) -> None:
        """Queue a succeeded job's acknowledgement: the next exchange stores it with every
        other that finished meanwhile."""
        if not (self._closed or ref[0].lane.closed):  # else it was given back meanwhile
            self.acks.append((job, ref))

    def close(self) -> None:
        """Store no outcome from now on: the jobs still running were given back (a stop
        abandoned them)."""
        self._closed = True

    @property
    def pending(self) -> bool:
        """Successes wait to be stored."""
        return bool(self.acks) or self._unsent is not None

    async def exchange(self, wanted: dict[str, int]) -> list[Ref] | None:
        """Store every success waiting and take up to ``wanted[queue]`` jobs from each queue,
        in one round trip (:meth:`pace.worker.inflight.InFlight.exchange`); the ``processed``
        hooks fire once the successes are stored. After an error the same exchange is sent
        again by the next call, ``wanted`` then counting for nothing: it returns the jobs
        the first one took, if it did, else None (not a sign of empty queues)."""
        exchange = self._unsent
        resent = exchange is not None
        if exchange is None:
            self._sending, self.acks = self.acks, []
            done = [
                (ref, batch_of(job.payload) if BATCH_FIELD in job.payload else None)
                for job, ref in self._sending
            ]
            exchange = self._unsent = await self.inflight.prepare(done, wanted)
        try:
            taken = await self.inflight.send(exchange)
        except Fenced:
            self.forget()
            raise
        self._unsent = None
        if self._sending:
            self._stored(self._sending)
            self._sending = []
        return None if resent and not taken else taken

    def forget(self) -> None:
        """Forget the successes not stored: their jobs were given back (the worker was taken
        for dead), so they are neither sent nor hooked."""
        self._unsent, self._sending, self.acks = None, [], []

    def drop(self, exc: BaseException) -> None:
        """Give up on the exchange that failed with ``exc`` (not an outage: it would fail
        again); its jobs stay in flight until the worker stops (then back in their queues)."""
        if self._unsent is not None:
            logger.error("could not acknowledge %d jobs; they stay in flight", len(self._sending))
            self._unsent, self._sending = None, []

    def _stored(self, acked: list[tuple[Job, Ref]]) -> None:
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("%d jobs done: %s", len(acked), [job for job, _ in acked])
        if hooks.listening(self._hooks, "processed"):
            self._tasks.add(task := asyncio.create_task(self._processed([j for j, _ in acked])))
            task.add_done_callback(self._tasks.discard)

    async def _processed(self, jobs: list[Job]) -> None:
        for job in jobs:
            current.set(job)
            await hooks.fire(self._hooks, "processed", job)

    async def flush(self, timeout: float) -> None:
        """Store the successes waiting, for up to ``timeout`` seconds, then give up on them
        (they stay in flight: releasing the worker puts them back in their queues)."""
        with suppress(TimeoutError, Fenced):  # Fenced: they were given back already
            async with asyncio.timeout(timeout):
                while self.pending:
                    await self.outage.until_done(self.exchange, {})
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=timeout)

    # -- failure: retry or record ---------------------------------------------------------

    async def failed(self, job: Job, ref: Ref, exc: BaseException) -> None:
        """Schedule a retry if the job's policy (or its ``Retry``) allows one; else fail it."""
        if self._closed:
            return
        policy = self._policy(job.class_name)
        asked = isinstance(exc, Retry)
        if asked or (policy is not None and policy.retries(exc, job.attempt)):
            limit = policy or _DEFAULT_RETRY
            if job.attempt < limit.attempts:
                delay = exc.delay if isinstance(exc, Retry) and exc.delay is not None else None
                if await self._again(
                    job, ref, limit.delay(job.attempt) if delay is None else delay
                ):
                    return
        await job.fail_progress(f"{type(exc).__name__}: {exception_message(exc)}")
        await self.fail(job.queue, job.raw, job.payload, ref, exc)

    def _policy(self, class_name: str) -> RetryPolicy | None:
        if isinstance(self._retry, Mapping):
            return self._retry.get(class_name)
        return self._retry

    async def _again(self, job: Job, ref: Ref, delay: float) -> bool:
        """Schedule the next attempt; False if the payload cannot be re-encoded (then fail)."""
        try:
            again = entry_of(job.queue, encode({**job.payload, ATTEMPT_FIELD: job.attempt + 1}))
        except ValueError:  # an infinite float or a lone surrogate that JSON cannot hold
            return False
        logger.info("%r failed attempt %d; retrying in %.3g s", job, job.attempt, delay)
        item = await self.outage.until_done(
            self.inflight.retry, ref, again, delay, batch_of(job.payload)
        )
        if item is not None:
            await self._write_out(ref, item)
        return True

    async def _write_out(self, ref: Ref, item: bytes) -> None:
        """Write an outbox item out, retried while Redis is away, and once only."""
        sent = False

        async def once() -> None:
            nonlocal sent
            again, sent = sent, True
            await self.inflight.write_out(ref, item, again)

        await self.outage.until_done(once)

    async def fail(
        self,
        queue: str,
        raw: bytes,
        payload: dict[str, Any] | None,
        ref: Ref,
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
        item = await self.outage.until_done(self.inflight.fail, ref, encode(record), member)
        if item is not None:
            await self._write_out(ref, item)
        hooked = payload if payload is not None else record["payload"]
        await hooks.fire(self._hooks, "error", hooked, exc)
