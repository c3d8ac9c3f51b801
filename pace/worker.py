"""The worker: takes Resque jobs from Redis queues and runs a coroutine for each.

The loop reads in one screen: :meth:`Worker._fetch_loop` moves a batch of jobs from the queues
(highest priority first) into the worker's in-flight list in one Lua call,
:meth:`Worker._run` runs one job and settles its outcome (success, failure record or retry),
which is what takes it out of the in-flight list. Housekeeping is separate small loops:
liveness and recovery of dead workers, the schedule (retries and delayed jobs), Resque's
heartbeat and the jobs-in-progress snapshot. Signals only request a stop or a pause; shutdown
stops fetching, drains within a grace period, then cancels the rest and puts their jobs back
at the head of their queues. Settling retries while Redis is away, and every settle is
idempotent, so an outage loses nothing and counts nothing twice.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from contextlib import suppress
from typing import Any, ClassVar, TypeVar

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from pace import hooks as _hooks
from pace._runtime import Handler, SignalHandlers, cancel_all, resolver
from pace.connection import connect, text
from pace.control import read_pauses
from pace.errors import ConfigError, InvalidPayload, JobTimeout, PoisonJob, Retry
from pace.inflight import InFlight
from pace.job import BATCH_FIELD, Job, _current, decode, encode
from pace.keys import DEFAULT_NAMESPACE, Keys
from pace.limiter import RateLimit
from pace.metrics import WorkerMetrics
from pace.outcomes import failure_record
from pace.queues import QueueSelector
from pace.registration import HEARTBEAT_INTERVAL, Registration
from pace.retry import RetryPolicy
from pace.schedule import move_due

__all__ = ["Handler", "Worker"]

logger = logging.getLogger("pace")
T = TypeVar("T")

_STATE_INTERVAL = 1.0  # seconds between jobs-in-progress snapshots
_SCHEDULE_INTERVAL = 0.25  # seconds between moves of due retries and delayed jobs
_CONTROL_INTERVAL = 0.5  # seconds between reads of the fleet's pauses
_MAX_IDLE = 0.5  # longest nap between polls of empty queues
_REFRESH_QUEUES = 5.0  # seconds between re-reads of resque:queues for '*' and globs
_OUTAGE_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError)
_DEFAULT_RETRY = RetryPolicy()


class Worker:
    """Runs a coroutine for every job of its queues, throttled, pausable and hooked.

    Example::

        worker = pace.Worker(["high", "normal"], jobs_per_second=100, concurrency=50)
        worker.add_hook("error", notify)          # this worker only
        pace.Worker.add_hook("error", notify)     # every worker
        await worker.start(handler)               # until worker.stop()

    Args:
        queues: queue names in priority order, or patterns (``*``, ``mail_*``, ``!low``).
        concurrency: most jobs in flight at once.
        jobs_per_second: most job starts in any one-second window; ``None`` for no limit.
        redis_url: see :func:`pace.connection.resolve_url`; ignored when ``redis`` is given.
        redis: an open client to use (left open on stop).
        namespace: the Resque namespace (``resque``).
        burst: stop by itself once every queue is empty and nothing is in flight.
        batch_size: most jobs taken in one fetch.
        handle_signals: TERM/INT stop now, QUIT drains then stops, USR2 pauses, CONT resumes.
        retry: a :class:`RetryPolicy` for every job class, or a mapping of class names to
            policies (other classes are not retried); ``None``: no retries.
        job_timeout: seconds after which a running job is cancelled and fails; ``None``: never.
        dead_after: seconds without a liveness beat after which other workers take a worker
            for dead and put its jobs back in their queues (beats come every quarter of it).
        max_recoveries: a job whose worker died this many times is failed, not run again.
    """

    class_hooks: ClassVar[_hooks.Hooks] = _hooks.Hooks()
    """Hooks of every worker; they fire before each worker's own."""

    _active_ids: ClassVar[set[str]] = set()

    def __init__(
        self,
        queues: list[str] | tuple[str, ...] | str,
        *,
        concurrency: int = 10,
        jobs_per_second: float | None = None,
        redis_url: str | None = None,
        redis: Redis | None = None,
        namespace: str = DEFAULT_NAMESPACE,
        burst: bool = False,
        batch_size: int = 100,
        handle_signals: bool = False,
        retry: RetryPolicy | Mapping[str, RetryPolicy] | None = None,
        job_timeout: float | None = None,
        dead_after: float = 10.0,
        max_recoveries: int = 3,
    ) -> None:
        for name, count in (
            ("concurrency", concurrency), ("batch_size", batch_size),
            ("max_recoveries", max_recoveries),
        ):  # fmt: skip
            if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                raise ConfigError(f"{name} must be a whole number >= 1, got {count!r}")
        for name, seconds in (("job_timeout", job_timeout), ("dead_after", dead_after)):
            if seconds is not None and not (
                isinstance(seconds, int | float) and 0 < seconds < math.inf
            ):
                raise ConfigError(f"{name} must be a positive number of seconds, got {seconds!r}")
        if not (retry is None or isinstance(retry, RetryPolicy | Mapping)):
            raise ConfigError(f"retry must be a RetryPolicy or a mapping of them, got {retry!r}")
        self.queues = QueueSelector(queues)
        self.concurrency = concurrency
        self.limit = None if jobs_per_second is None else RateLimit(jobs_per_second)
        self.keys = Keys(namespace)
        self.burst = burst
        self.batch_size = batch_size
        self.handle_signals = handle_signals
        self.retry = retry
        self.job_timeout = job_timeout
        self.dead_after = dead_after
        self.max_recoveries = max_recoveries
        self.id = f"{socket.gethostname()}:{os.getpid()}:{self.queues}"
        self.hooks = _hooks.Hooks()
        self.metrics = WorkerMetrics()
        self._redis_url = redis_url
        self._redis = redis
        self._running: dict[Job, asyncio.Task[None]] = {}
        self._interrupted: dict[Job, bytes] = {}  # job -> its in-flight entry
        self._acks: list[tuple[Job, bytes]] = []  # succeeded, acknowledgement not stored yet
        self._acking: asyncio.Task[None] | None = None
        self._prefixes: dict[str, bytes] = {}
        self._paused_until: float | None = None
        self._stop_grace: float | None = None
        self._stopping = False
        self._redis_down = False
        self._stop_requested: asyncio.Event | None = None
        self._finished: asyncio.Event | None = None
        self._wakeup: asyncio.Event | None = None
        self._critical = False  # True while fetched jobs are in hand: never cancel the fetcher then
        self._known_names: list[str] = list(self.queues.spec)  # resolved, in priority order
        self._paused_names: frozenset[str] = frozenset()  # paused for the fleet (control.py)
        self._remotely_paused = False  # this worker paused through control.py
        self._fetch_names: list[str] = list(self.queues.spec)  # known minus paused
        self._fetch_keys: list[str] = [self.keys.queue(name) for name in self._fetch_names]
        # set by start():
        self._resolve: Callable[[str], Handler]
        self._registration: Registration
        self._inflight: InFlight

    # -- hooks --------------------------------------------------------------------------

    class _AddHook:
        """``add_hook``/``remove_hook`` on the class change every worker, on an instance one."""

        def __init__(self, method: str) -> None:
            self.method = method

        def __get__(self, worker: Worker | None, owner: type[Worker]) -> Callable[..., None]:
            hooks = owner.class_hooks if worker is None else worker.hooks
            method: Callable[..., None] = getattr(hooks, self.method)
            return method

    add_hook = _AddHook("add")
    """``add_hook(event, hook)``: see :mod:`pace.hooks` for the events and their arguments."""
    remove_hook = _AddHook("remove")
    """``remove_hook(event, hook)``: undo :meth:`add_hook`."""

    def _fire(self, event: str, *args: Any) -> Awaitable[None]:
        return _hooks.fire((Worker.class_hooks, self.hooks), event, *args)

    # -- pause and stop -----------------------------------------------------------------

    @property
    def redis(self) -> Redis | None:
        """The Redis client the worker uses (``None`` before it starts, unless given)."""
        return self._redis

    @property
    def paused(self) -> bool:
        """True while the worker takes no new jobs."""
        if self._remotely_paused:
            return True
        return self._paused_until is not None and time.monotonic() < self._paused_until

    @property
    def stopping(self) -> bool:
        """True once a stop was requested."""
        return self._stopping

    def pause(self, seconds: float | None = None) -> None:
        """Take no new jobs, from now on (jobs in flight finish); resume after ``seconds``."""
        if seconds is not None and not (seconds >= 0 and math.isfinite(seconds)):
            raise ConfigError(f"pause seconds must be a finite number >= 0, got {seconds!r}")
        self._paused_until = math.inf if seconds is None else time.monotonic() + seconds
        self._wake()

    def resume(self) -> None:
        """Take jobs again, at once."""
        self._paused_until = None
        self._wake()

    def _wake(self) -> None:
        if self._wakeup is not None:
            self._wakeup.set()

    def request_stop(self, timeout: float | None = 30.0) -> None:
        """Ask :meth:`start` to shut down (see :meth:`stop`) without waiting for it."""
        if self._stop_requested is None:  # not started yet: start() will return at once
            self._stopping = True
            return
        if self._stopping:
            if timeout == 0:  # a second, harder stop: cancel the jobs in flight now
                for task in self._running.values():
                    task.cancel()
            return
        self._stopping = True
        self._stop_grace = timeout
        self._stop_requested.set()
        self._wake()

    async def stop(self, timeout: float | None = 30.0) -> None:
        """Stop taking jobs, let those in flight finish for up to ``timeout`` seconds (``None``:
        no limit), cancel the rest and put them back at the head of their queues, unregister.

        Returns when :meth:`start` has finished.
        """
        self.request_stop(timeout)
        if self._finished is not None:
            await self._finished.wait()

    # -- life cycle ---------------------------------------------------------------------

    async def start(self, handler: Handler | Mapping[str, Handler]) -> None:
        """Run until stopped. ``handler`` is one coroutine function for every job, or a mapping
        of class names to coroutine functions (a class missing from it is a failure)."""
        if self._finished is not None:
            raise ConfigError("this Worker has already been started; create a new one")
        if self.id in Worker._active_ids:
            raise ConfigError(
                f"another Worker in this process serves the same queues ({self.queues}); "
                "Resque worker ids are host:pid:queues, so give each worker its own queue list"
            )
        self._resolve = resolver(handler)
        self._finished = asyncio.Event()
        if self._stopping:  # stopped before it started
            self._finished.set()
            return
        self._stop_requested = asyncio.Event()
        self._wakeup = asyncio.Event()
        owned = self._redis is None
        try:
            redis = self._redis = self._redis or await connect(self._redis_url)
        except BaseException:
            self._finished.set()
            raise
        Worker._active_ids.add(self.id)
        self._registration = Registration(redis, self.keys, self.id)
        self._inflight = InFlight(redis, self.keys, self.id)
        loops: list[asyncio.Task[None]] = []
        try:
            await self._registration.register(self.dead_after)
            await self._recover_dead()  # before the first fetch: their jobs are first in line
            with self._signals():
                for loop in (
                    self._fetch_loop, self._liveness, self._scheduler, self._remote_control,
                    self._housekeeping,
                ):  # fmt: skip
                    loops.append(asyncio.create_task(loop(), name=f"pace{loop.__name__}"))
                logger.info("worker %s started", self.id)
                await self._fire("start", self)
                await self._stop_requested.wait()
                await self._stop_loops(loops)
                await self._drain(self._stop_grace)
        finally:
            await self._shut_down(owned, loops)

    async def _stop_loops(self, loops: list[asyncio.Task[None]]) -> None:
        """Stop the fetcher (letting it put back any jobs in hand) and the housekeeping."""
        self._stopping = True
        self._wake()
        if loops and self._critical:
            await asyncio.wait(loops[:1])  # it settles what it holds, then sees _stopping
        await cancel_all(loops, timeout=5)

    async def _shut_down(self, owned: bool, loops: list[asyncio.Task[None]]) -> None:
        assert self._redis is not None
        assert self._finished is not None
        try:
            await self._stop_loops(loops)
            await self._drain(0)
            try:  # anything still in flight goes back to its queue; every trace of us goes
                await self._inflight.release()
            except RedisError as exc:
                logger.warning("could not unregister (%s); recovery will do it", exc)
            logger.info("worker %s stopped", self.id)
            await self._fire("shutdown", self)
        finally:
            Worker._active_ids.discard(self.id)
            if owned:
                await self._redis.aclose()
            self._finished.set()

    async def _drain(self, timeout: float | None) -> None:
        """Wait up to ``timeout`` for jobs in flight, cancel the rest, and put those back at the
        head of their queues in the order they were taken; then store the last successes."""
        if self._running:
            order = list(self._running)
            _done, pending = await asyncio.wait(list(self._running.values()), timeout=timeout)
            if pending:
                logger.info("cancelling %d jobs in flight", len(pending))
                await cancel_all(pending, timeout=5)
            interrupted = [self._interrupted[job] for job in order if job in self._interrupted]
            self._interrupted.clear()
            with suppress(RedisError):  # if Redis is away, recovery or release() puts them back
                await self._inflight.requeue(interrupted)
        acking = self._acking
        if acking is not None:  # bounded: if Redis is away, release() requeues them
            await asyncio.wait([acking], timeout=5)
            await cancel_all([acking], timeout=1)

    def _signals(self) -> SignalHandlers:
        actions: dict[signal.Signals, Callable[[], None]] = {
            signal.SIGTERM: lambda: self.request_stop(0),
            signal.SIGINT: lambda: self.request_stop(0),
            signal.SIGQUIT: lambda: self.request_stop(None),
            signal.SIGUSR2: self.pause,
            signal.SIGCONT: self.resume,
        }
        return SignalHandlers(actions if self.handle_signals else {})

    # -- Redis outages ------------------------------------------------------------------

    async def _outage(self, exc: BaseException) -> None:
        """Log (once per outage) that Redis is away, and tell the error hooks."""
        if not self._redis_down:
            self._redis_down = True
            logger.warning("Redis is unavailable (%s); retrying with backoff", exc)
            await self._fire("error", None, exc)

    def _redis_back(self) -> None:
        if self._redis_down:
            self._redis_down = False
            logger.warning("Redis is back")

    async def _settle(self, action: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run a Redis write until it succeeds, backing off while Redis is away. Safe to repeat:
        every settle script is gated on the job's in-flight entry."""
        delay = 0.05
        while True:
            try:
                result = await action(*args)
            except _OUTAGE_ERRORS as exc:
                await self._outage(exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
            else:
                self._redis_back()
                return result

    # -- the loop: fetch, dispatch, settle ----------------------------------------------

    async def _fetch_loop(self) -> None:
        idle = 0.0
        refreshed = -math.inf
        while not self._stopping:
            try:
                if self.paused:
                    if self.limit is not None:
                        self.limit.restart()  # no burst when the pause ends
                    await self._nap(self._pause_left())
                    continue
                if self._busy():  # a job that finishes wakes it
                    await self._nap(_MAX_IDLE)
                    continue
                if self.queues.dynamic and (idle or time.monotonic() - refreshed > _REFRESH_QUEUES):
                    await self._refresh_queues()
                    refreshed = time.monotonic()
                wanted = min(self.concurrency - len(self._running), self.batch_size)
                if self.limit is not None:
                    waiting = time.monotonic()
                    wanted = await self.limit.take(wanted)
                    self.metrics.rate_limit_wait += time.monotonic() - waiting
                self._critical = True
                # Burst mode stops only if nothing was in flight before this fetch: a job that
                # settles while the fetch runs may have enqueued more (a workflow's next stage).
                settled_before = not self._in_flight
                fetched = await self._inflight.fetch(self._fetch_keys, self._fetch_names, wanted)
                self._redis_back()
                if fetched and self.limit is not None:
                    await self.limit.admit(len(fetched))
                if fetched and (self.paused or self.stopping):
                    entries = [self._entry(queue, raw) for queue, raw, _ in fetched]
                    await self._settle(self._inflight.requeue, entries)
                elif fetched:
                    idle = 0.0
                    await self._dispatch(fetched)
                elif self.burst and settled_before and not self._in_flight:
                    logger.info("queues are empty; burst mode stops the worker")
                    self.request_stop(None)
                else:
                    idle = min(max(idle * 2, 0.005), _MAX_IDLE)
                self._critical = False
                if idle:
                    await self._nap(idle)
            except Exception as exc:
                self._critical = False
                if isinstance(exc, _OUTAGE_ERRORS):
                    await self._outage(exc)
                else:
                    logger.warning("fetching jobs failed (%s); retrying", exc)
                    await self._fire("error", None, exc)
                idle = min(max(idle * 2, 0.1), 2.0)
                await self._nap(idle)

    async def _refresh_queues(self) -> None:
        assert self._redis is not None
        known = await self._redis.smembers(self.keys.queues)
        self._known_names = self.queues.resolve(map(text, known))
        self._update_fetch_names()

    def _update_fetch_names(self) -> None:
        names = [name for name in self._known_names if name not in self._paused_names]
        if names != self._fetch_names:
            self._fetch_names = names
            self._fetch_keys = [self.keys.queue(name) for name in names]

    def _entry(self, queue: str, raw: bytes) -> bytes:
        prefix = self._prefixes.get(queue)
        if prefix is None:
            prefix = self._prefixes[queue] = queue.encode() + b":"
        return prefix + raw

    async def _dispatch(self, fetched: list[tuple[str, bytes, int]]) -> None:
        now = time.time()
        running, prefixes = self._running, self._prefixes
        for queue, raw, recoveries in fetched:
            prefix = prefixes.get(queue) or self._entry(queue, b"")
            entry = prefix + raw
            try:
                job = decode(raw, queue, self)
            except InvalidPayload as exc:
                await self._fail(queue, raw, None, entry, exc)
                continue
            if recoveries >= self.max_recoveries:
                poison = PoisonJob(f"{recoveries} workers died running this job; not run again")
                await self._fail(queue, raw, job.payload, entry, poison)
                continue
            job.started_at = now
            running[job] = asyncio.create_task(self._run(job, entry))

    async def _run(self, job: Job, entry: bytes) -> None:
        _current.set(job)
        batched = BATCH_FIELD in job.payload  # a multi-step task's or staged group's (pace.batch)
        try:
            try:
                if batched:
                    await self._settle(self._inflight.batch_running, job.payload)
                await self._perform(job)
            except asyncio.CancelledError as cancelled:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    self._interrupted[job] = entry  # stopping: _drain puts it back in its queue
                    raise
                exc: BaseException = asyncio.CancelledError("the job cancelled itself")
                await self._failed(job, entry, exc.with_traceback(cancelled.__traceback__))
            except Exception as exc:
                await self._failed(job, entry, exc)
            else:
                if batched:
                    await self._settle(self._inflight.batch_succeeded, entry, job.payload)
                    logger.debug("%r done", job)
                    await self._fire("processed", job)
                else:
                    self._acknowledge(job, entry)
        finally:
            del self._running[job]
            self._wake()

    def _acknowledge(self, job: Job, entry: bytes) -> None:
        """Queue a succeeded job's acknowledgement. It stays in flight (it holds its slot) until
        :meth:`_ack_loop` has stored it with the others that finished meanwhile."""
        self._acks.append((job, entry))
        if self._acking is None:
            self._acking = asyncio.create_task(self._ack_loop())

    async def _ack_loop(self) -> None:
        """Group commit: one acknowledgement in flight at a time, the next one takes every job
        that finished meanwhile. Then the ``processed`` hooks fire."""
        try:
            while self._acks:
                acks = list(self._acks)  # jobs finishing meanwhile are appended after these
                try:
                    await self._settle(self._inflight.succeeded, [entry for _, entry in acks])
                except Exception as exc:  # not an outage (retried above): never stall the worker
                    logger.exception(
                        "could not acknowledge %d jobs; they stay in flight", len(acks)
                    )
                    await self._fire("error", None, exc)
                del self._acks[: len(acks)]
                self._wake()
                if logger.isEnabledFor(logging.DEBUG):
                    logger.debug("%d jobs done: %s", len(acks), [job for job, _ in acks])
                if Worker.class_hooks.get("processed") or self.hooks.get("processed"):
                    for job, _entry in acks:
                        _current.set(job)
                        await self._fire("processed", job)
        finally:
            self._acking = None

    @property
    def _in_flight(self) -> int:
        """Jobs running, plus those whose success is not stored yet."""
        return len(self._running) + len(self._acks)

    def _busy(self) -> bool:
        """No room for another job: ``concurrency`` handlers are running, or as many successes
        wait to be stored (the next batch is fetched while the last one is acknowledged)."""
        return len(self._running) >= self.concurrency or len(self._acks) >= self.concurrency

    async def _perform(self, job: Job) -> None:
        handler = self._resolve(job.class_name)
        started = time.monotonic()
        try:
            if self.job_timeout is None:
                await handler(job)
                return
            async with asyncio.timeout(self.job_timeout) as deadline:
                try:
                    await handler(job)
                except asyncio.CancelledError:
                    if not deadline.expired():
                        raise
            if deadline.expired():
                raise JobTimeout(f"the job ran longer than its {self.job_timeout:g} s timeout")
        finally:
            # sys.exc_info(): the handler's exception on its way out, if any
            self.metrics.observe(
                time.monotonic() - started, job.class_name, job.queue, sys.exc_info()[1]
            )

    async def _failed(self, job: Job, entry: bytes, exc: BaseException) -> None:
        """Schedule a retry if the job's policy (or its ``Retry``) allows one; else fail it."""
        policy = self._policy(job.class_name)
        asked = isinstance(exc, Retry)
        if asked or (policy is not None and policy.retries(exc, job.attempt)):
            limit = policy or _DEFAULT_RETRY
            if job.attempt < limit.attempts:
                delay = exc.delay if isinstance(exc, Retry) and exc.delay is not None else None
                if await self._retry(
                    job, entry, limit.delay(job.attempt) if delay is None else delay
                ):
                    return
        await job.fail_progress(f"{type(exc).__name__}: {exc}")
        await self._fail(job.queue, job.raw, job.payload, entry, exc)

    def _policy(self, class_name: str) -> RetryPolicy | None:
        if isinstance(self.retry, Mapping):
            return self.retry.get(class_name)
        return self.retry

    async def _retry(self, job: Job, entry: bytes, delay: float) -> bool:
        """Schedule the next attempt; False if the payload cannot be re-encoded (then fail)."""
        try:
            again = self._entry(job.queue, encode({**job.payload, "pace_attempt": job.attempt + 1}))
        except ValueError:  # an infinite float or a lone surrogate that JSON cannot hold
            return False
        logger.info("%r failed attempt %d; retrying in %.3g s", job, job.attempt, delay)
        if BATCH_FIELD in job.payload:
            await self._settle(
                self._inflight.batch_schedule, entry, again, time.time() + delay, job.payload
            )
        else:
            await self._settle(self._inflight.schedule, entry, again, time.time() + delay)
        return True

    async def _fail(
        self,
        queue: str,
        raw: bytes,
        payload: dict[str, Any] | None,
        entry: bytes,
        exc: BaseException,
    ) -> None:
        """Store a failure record (the job leaves the in-flight list), then fire error hooks."""
        logger.warning("a job of queue %r failed: %s: %s", queue, type(exc).__name__, exc)
        record = failure_record(queue=queue, raw=raw, payload=payload, exc=exc, worker_id=self.id)
        if payload is not None and BATCH_FIELD in payload:
            await self._settle(self._inflight.batch_failed, entry, encode(record), payload)
        else:
            await self._settle(self._inflight.failed, entry, encode(record))
        await self._fire("error", payload if payload is not None else record["payload"], exc)

    async def _nap(self, seconds: float) -> None:
        """Sleep up to ``seconds``; pause, resume, stop and finished jobs wake it early."""
        assert self._wakeup is not None
        if seconds > 0:
            with suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    await self._wakeup.wait()
        else:  # never spin: let every other task run first
            await asyncio.sleep(0)
        self._wakeup.clear()

    def _pause_left(self) -> float:
        """Seconds until a timed pause ends (at most ``_MAX_IDLE``; 0 once it has ended)."""
        if self._paused_until is None:
            return _MAX_IDLE
        return max(0.0, min(self._paused_until - time.monotonic(), _MAX_IDLE))

    # -- housekeeping -------------------------------------------------------------------

    async def _liveness(self) -> None:
        """Beat every quarter of ``dead_after``; recover the jobs of workers found dead."""
        while True:
            await asyncio.sleep(self.dead_after / 4)
            try:
                await self._registration.beat(self.dead_after)
                await self._recover_dead()
            except RedisError as exc:
                await self._outage(exc)

    async def _recover_dead(self) -> None:
        for dead in await self._registration.dead_workers():
            moved = await self._inflight.release(dead)
            if moved >= 0:
                logger.warning(
                    "worker %s is dead; %d of its jobs are back in their queues", dead, moved
                )

    async def _remote_control(self) -> None:
        """Follow the fleet's pauses (pace.control): paused queues, and this worker."""
        assert self._redis is not None
        while True:
            try:
                pauses = await read_pauses(self._redis, self.keys)
            except RedisError as exc:
                await self._outage(exc)
            else:
                queues = frozenset(p.name for p in pauses if p.kind == "queue")
                me = any(p.kind == "worker" and p.name == self.id for p in pauses)
                if queues != self._paused_names or me != self._remotely_paused:
                    self._paused_names, self._remotely_paused = queues, me
                    self._update_fetch_names()
                    self._wake()
            await asyncio.sleep(_CONTROL_INTERVAL)

    async def _scheduler(self) -> None:
        """Move due retries and delayed jobs to their queues."""
        assert self._redis is not None
        while True:
            try:
                if await move_due(self._redis, self.keys):
                    self._wake()  # the fetcher may be napping on empty queues
            except RedisError as exc:
                await self._outage(exc)
            await asyncio.sleep(_SCHEDULE_INTERVAL)

    async def _housekeeping(self) -> None:
        """Resque's heartbeat every 60 s; publish the jobs in progress when they change, and
        the worker's metrics."""
        last_beat = time.monotonic()
        shown: list[Job] = []
        while True:
            await asyncio.sleep(_STATE_INTERVAL)
            try:
                if time.monotonic() - last_beat >= HEARTBEAT_INTERVAL:
                    await self._registration.heartbeat()
                    last_beat = time.monotonic()
                running = list(self._running)
                if running != shown:
                    await self._registration.publish(running)
                    shown = running
                await self._registration.publish_metrics(self.metrics.to_json(len(running)))
            except RedisError as exc:
                await self._outage(exc)
