"""pace's testing mode: run the jobs a test enqueued, in the test, through the real worker.

What rq's ``is_async=False``, Celery's ``task_always_eager`` and ``Sidekiq::Testing.inline!``
do, without faking anything: :meth:`InlineWorker.drain` runs a real :class:`pace.Worker` in
burst mode on the test's event loop, against a real Redis (the embedded one in tests), until
the queues are empty. The real Lua scripts store every outcome, so hooks, retries, failure
records, progress, multi-step tasks and staged groups behave as in production; the drain
returns what ran (:class:`Drained`).

Jobs run when the test asks, not when they are enqueued: enqueue, drain, then assert.
Retries and delayed jobs wait on the schedule as usual; ``drain(due_within=S)`` runs those due
within ``S`` seconds now (``due_within=None``: everything scheduled), so a test never sleeps
through a backoff.

The pytest plugin (:mod:`pace.testing_plugin`, loaded wherever pace-worker is installed) gives
the fixtures ``pace_redis`` (a flushed embedded Redis per test), ``pace_handlers`` and
``pace_worker_settings`` (override them) and ``pace_worker`` (an :class:`InlineWorker` on
them).

Example::

    async def test_signup_sends_the_welcome_mail(pace_worker: InlineWorker) -> None:
        await signup("bob@example.com")                  # enqueues SendWelcome
        drained = await pace_worker.drain()
        assert [job.args for job in drained.processed] == [["bob@example.com"]]
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, cast

from redis.asyncio import Redis

from pace import checks
from pace.connection import connect
from pace.hooks import Hook, Hooks
from pace.job import Handler, Job
from pace.keys import DEFAULT_NAMESPACE, Keys
from pace.worker import Worker
from pace.worker.runtime import check_handler
from pace.worker.schedule import move_due

__all__ = ["Drained", "Failed", "InlineWorker", "Run"]


@dataclass(frozen=True, slots=True)
class Run:
    """One run of a handler: the job and what the handler raised (``None``: it returned).

    Example::

        [run] = drained.runs
        assert run.job.class_name == "SendMail" and run.exception is None
    """

    job: Job
    exception: BaseException | None


@dataclass(frozen=True, slots=True)
class Failed:
    """A failure the worker stored in ``resque:failed`` (what its ``error`` hooks got): the
    payload (its raw text if it did not decode; ``None`` for an error that is no job's) and
    the exception.

    Example::

        [failed] = drained.failed
        assert isinstance(failed.exception, ValueError)
        assert failed.payload["args"] == ["nobody"]
    """

    payload: dict[str, Any] | str | None
    exception: BaseException


@dataclass(frozen=True, slots=True)
class Drained:
    """What a drain ran, in the order it happened.

    Example::

        drained = await inline.drain()
        assert drained.failed == []
        assert [job.class_name for job in drained.processed] == ["SendMail"]
    """

    runs: list[Run] = field(default_factory=list)
    """Every job run, each attempt of a retried job included (a job of a class without a
    handler too: it fails with ``UnknownJobClass``)."""
    processed: list[Job] = field(default_factory=list)
    """The jobs that succeeded, once their success was stored."""
    failed: list[Failed] = field(default_factory=list)
    """The failures recorded: handlers that raised with no retry left, payloads that are no
    job, jobs of a class without a handler."""


class InlineWorker:
    """Runs the jobs waiting in Redis when the test calls :meth:`drain`.

    Example::

        inline = InlineWorker({"SendMail": send_mail}, redis_url=url, retry=pace.RetryPolicy())
        await pace.enqueue("mail", "SendMail", "bob@example.com", redis_url=url)
        drained = await inline.drain()
        assert [run.job.args for run in drained.runs] == [["bob@example.com"]]

    Args:
        handlers: job class names to coroutine functions; more can be added to
            :attr:`handlers` later. A job of another class fails (``UnknownJobClass``).
        redis_url: the Redis to use (see :func:`pace.connection.resolve_url`); a connection
            is opened for each drain and closed after it.
        redis: an open client to use instead (left open).
        queues: the queues to drain, as a worker takes them (``"*"``: every queue).
        namespace: the Resque namespace.
        settings: any other :class:`pace.Worker` setting (``retry``, ``job_timeout``,
            ``concurrency``...), checked now.
    """

    def __init__(
        self,
        handlers: Mapping[str, Handler] | None = None,
        *,
        redis_url: str | None = None,
        redis: Redis | None = None,
        queues: list[str] | str = "*",
        namespace: str = DEFAULT_NAMESPACE,
        **settings: Any,
    ) -> None:
        self.handlers: dict[str, Handler] = {
            name: check_handler(handler, f"handler for {name!r}")
            for name, handler in (handlers or {}).items()
        }
        """Job class names to handlers; add to it at will."""
        self.queues = queues
        self.keys = Keys(namespace)
        self.settings = settings
        self._url = redis_url
        self._redis = redis
        self._hooks = Hooks()
        self._worker()  # a bad setting fails here, not at the first drain

    def add_hook(self, event: str, hook: Hook) -> None:
        """Add a hook to the workers of every drain (:mod:`pace.hooks`; class-level hooks,
        ``pace.Worker.add_hook(...)``, fire as well)."""
        self._hooks.add(event, hook)

    async def drain(self, *, due_within: float | None = 0.0) -> Drained:
        """Run jobs until the queues are empty and nothing on the schedule is due within
        ``due_within`` seconds; return what ran.

        Jobs that other jobs enqueue run too (a workflow's next stage, a retry), each round a
        new burst worker, until a round runs nothing and nothing more is due.

        Args:
            due_within: also run the retries and delayed jobs due within this many seconds
                from now, at once (``None``: everything scheduled). ``0`` runs only those
                already due.
        """
        horizon = checks.number("due_within", due_within, optional=True)
        drained = Drained()
        redis = self._redis or await connect(self._url)
        try:
            while True:
                before = len(drained.runs) + len(drained.failed)
                await self._burst(redis, drained)
                moved = await _run_now(redis, self.keys, horizon)
                if not moved and len(drained.runs) + len(drained.failed) == before:
                    return drained
        finally:
            if self._redis is None:
                await redis.aclose()

    def _worker(self, redis: Redis | None = None) -> Worker:
        return Worker(
            self.queues,
            redis=redis,
            redis_url=self._url,
            namespace=self.keys.namespace,
            burst=True,
            **self.settings,
        )

    async def _burst(self, redis: Redis, drained: Drained) -> None:
        """One burst worker, recording what it runs into ``drained``."""
        worker = self._worker(redis)
        for event in self._hooks.events:
            for hook in self._hooks.get(event):
                worker.add_hook(event, hook)

        @contextmanager
        def record(job: Job) -> Iterator[None]:
            try:
                yield
            except BaseException as exc:
                drained.runs.append(Run(job, exc))
                raise
            drained.runs.append(Run(job, None))

        worker.add_hook("perform", record)
        worker.add_hook("processed", drained.processed.append)
        worker.add_hook("error", lambda payload, exc: drained.failed.append(Failed(payload, exc)))
        await worker.start(self.handlers)


async def _run_now(redis: Redis, keys: Keys, within: float | None) -> int:
    """Move the scheduled jobs due within ``within`` seconds (by Redis' clock; ``None``:
    all) to their queues, with the worker's own script; return how many moved."""
    seconds, micros = await redis.time()
    now = seconds + micros / 1_000_000
    horizon = math.inf if within is None else now + within
    entries = cast(list[bytes], await redis.zrangebyscore(keys.schedule, "-inf", horizon))
    if entries:
        # XX: an entry a worker moved meanwhile is not put back
        await redis.zadd(keys.schedule, dict.fromkeys(entries, now), xx=True)
    return await move_due(redis, keys)
