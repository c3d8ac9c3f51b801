"""The worker: pops Resque jobs from Redis queues and runs a coroutine for each.

The loop reads in one screen: :meth:`Worker._fetch_loop` fetches a batch (one Lua call, queues
in priority order), :meth:`Worker._run` runs one job and records its outcome. Housekeeping
(heartbeat, the jobs-in-progress snapshot) is a separate small loop. Signals only request a
stop or a pause; shutdown stops fetching, drains within a grace period, then cancels the rest
and puts their jobs back at the head of their queues.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
import os
import signal
import socket
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from contextlib import suppress
from typing import Any, ClassVar

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from pace import hooks as _hooks
from pace.connection import connect, text
from pace.errors import ConfigError, InvalidPayload, UnknownJobClass
from pace.job import Job, _current, decode
from pace.keys import DEFAULT_NAMESPACE, Keys
from pace.limiter import RateLimit
from pace.outcomes import Outcomes
from pace.queues import QueueSelector
from pace.registration import HEARTBEAT_INTERVAL, Registration

__all__ = ["Handler", "Worker"]

logger = logging.getLogger("pace")

Handler = Callable[[Job], Awaitable[Any]]
"""A job handler: ``async def handler(job: pace.Job) -> None``."""

_FETCH = """
-- KEYS[1]: the pause-all flag; KEYS[2..]: queues in priority order. ARGV[1]: how many.
-- Returns {queue index, job, queue index, job, ...}, highest priority first.
if redis.call('GET', KEYS[1]) == 'true' then return {} end
local want = tonumber(ARGV[1])
local out = {}
for i = 2, #KEYS do
  local jobs = redis.call('LPOP', KEYS[i], want)
  if jobs then
    for _, job in ipairs(jobs) do
      out[#out + 1] = i - 2
      out[#out + 1] = job
    end
    want = want - #jobs
    if want == 0 then break end
  end
end
return out
"""

_STATE_INTERVAL = 1.0  # seconds between jobs-in-progress snapshots
_MAX_IDLE = 0.5  # longest nap between polls of empty queues
_REFRESH_QUEUES = 5.0  # seconds between re-reads of resque:queues for '*' and globs


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
    ) -> None:
        for name, value in (("concurrency", concurrency), ("batch_size", batch_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a whole number >= 1, got {value!r}")
        self.queues = QueueSelector(queues)
        self.concurrency = concurrency
        self.limit = None if jobs_per_second is None else RateLimit(jobs_per_second)
        self.keys = Keys(namespace)
        self.burst = burst
        self.batch_size = batch_size
        self.handle_signals = handle_signals
        self.id = f"{socket.gethostname()}:{os.getpid()}:{self.queues}"
        self.hooks = _hooks.Hooks()
        self._redis_url = redis_url
        self._redis = redis
        self._running: dict[Job, asyncio.Task[None]] = {}
        self._interrupted: set[Job] = set()
        self._paused_until: float | None = None
        self._stop_grace: float | None = None
        self._stopping = False
        self._stop_requested: asyncio.Event | None = None
        self._finished: asyncio.Event | None = None
        self._wakeup: asyncio.Event | None = None
        self._critical = False  # True while fetched jobs are in hand: never cancel the fetcher then
        self._fetch_names: list[str] = list(self.queues.spec)
        self._fetch_keys: list[str] = self._queue_keys(self._fetch_names)
        # set by start():
        self._resolve: Callable[[str], Handler]
        self._registration: Registration
        self._outcomes: Outcomes
        self._fetch_script: AsyncScript

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

    async def _fire(self, event: str, *args: Any) -> None:
        await _hooks.fire((Worker.class_hooks, self.hooks), event, *args)

    # -- pause and stop -----------------------------------------------------------------

    @property
    def paused(self) -> bool:
        """True while the worker takes no new jobs."""
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
        if self._stop_requested is None:
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
        self._resolve = _resolver(handler)
        self._stop_requested = asyncio.Event()
        self._finished = asyncio.Event()
        self._wakeup = asyncio.Event()
        owned = self._redis is None
        redis = self._redis = self._redis or await connect(self._redis_url)
        Worker._active_ids.add(self.id)
        self._registration = Registration(redis, self.keys, self.id)
        self._outcomes = Outcomes(redis, self.keys, self.id)
        self._fetch_script = redis.register_script(_FETCH)
        loops: list[asyncio.Task[None]] = []
        try:
            await self._registration.register()
            with self._signals():
                loops.append(asyncio.create_task(self._fetch_loop(), name="pace-fetch"))
                loops.append(asyncio.create_task(self._housekeeping(), name="pace-housekeeping"))
                logger.info("pace: worker %s started", self.id)
                await self._fire("start", self)
                await self._stop_requested.wait()
                await self._stop_loops(loops)
                await self._drain(self._stop_grace)
        finally:
            await self._shut_down(owned, loops)

    async def _stop_loops(self, loops: list[asyncio.Task[None]]) -> None:
        """Stop the fetcher (letting it put back any jobs in hand) and housekeeping."""
        self._stopping = True
        self._wake()
        if loops and self._critical:
            await asyncio.wait(loops[:1])  # it requeues what it holds, then sees _stopping
        await _cancel_all(loops, timeout=5)

    async def _shut_down(self, owned: bool, loops: list[asyncio.Task[None]]) -> None:
        assert self._redis is not None
        assert self._finished is not None
        try:
            await self._stop_loops(loops)
            await self._drain(0)
            with suppress(RedisError):
                await self._registration.unregister()
            logger.info("pace: worker %s stopped", self.id)
            await self._fire("shutdown", self)
        finally:
            Worker._active_ids.discard(self.id)
            if owned:
                await self._redis.aclose()
            self._finished.set()

    async def _drain(self, timeout: float | None) -> None:
        """Wait up to ``timeout`` for jobs in flight, cancel the rest, and put those back at the
        head of their queues in the order they were taken."""
        if not self._running:
            return
        order = list(self._running)
        _done, pending = await asyncio.wait(list(self._running.values()), timeout=timeout)
        if pending:
            logger.info("pace: cancelling %d jobs in flight", len(pending))
            await _cancel_all(pending, timeout=5)
        interrupted = [(job.queue, job.raw) for job in order if job in self._interrupted]
        self._interrupted.clear()
        try:
            await self._outcomes.requeue(interrupted)
        except RedisError as exc:
            logger.error(
                "pace: could not requeue %d jobs (%s): %r",
                len(interrupted),
                exc,
                [raw for _queue, raw in interrupted],
            )

    def _signals(self) -> _SignalHandlers:
        actions: dict[signal.Signals, Callable[[], None]] = {
            signal.SIGTERM: lambda: self.request_stop(0),
            signal.SIGINT: lambda: self.request_stop(0),
            signal.SIGQUIT: lambda: self.request_stop(None),
            signal.SIGUSR2: self.pause,
            signal.SIGCONT: self.resume,
        }
        return _SignalHandlers(actions if self.handle_signals else {})

    # -- the loop: fetch, dispatch, record ----------------------------------------------

    async def _fetch_loop(self) -> None:
        idle = 0.0
        refreshed = -math.inf
        while not self._stopping:
            try:
                if self.paused or len(self._running) >= self.concurrency:
                    await self._nap(self._pause_left())
                    continue
                if self.queues.dynamic and (idle or time.monotonic() - refreshed > _REFRESH_QUEUES):
                    await self._refresh_queues()
                    refreshed = time.monotonic()
                wanted = min(self.concurrency - len(self._running), self.batch_size)
                if self.limit is not None:
                    wanted = await self.limit.take(wanted)
                self._critical = True
                fetched = await self._fetch(wanted)
                if fetched and self.limit is not None:
                    await self.limit.admit(len(fetched))
                if fetched and (self.paused or self.stopping):
                    await self._outcomes.requeue(fetched)
                elif fetched:
                    idle = 0.0
                    await self._dispatch(fetched)
                elif self.burst and not self._running:
                    logger.info("pace: queues are empty; burst mode stops the worker")
                    self.request_stop(None)
                else:
                    idle = min(max(idle * 2, 0.005), _MAX_IDLE)
                self._critical = False
                if idle:
                    await self._nap(idle)
            except Exception as exc:
                self._critical = False
                logger.warning("pace: fetching jobs failed (%s); retrying", exc)
                await self._fire("error", None, exc)
                idle = min(max(idle * 2, 0.1), 5.0)
                await self._nap(idle)

    def _queue_keys(self, names: list[str]) -> list[str]:
        return [self.keys.pause_all, *(self.keys.queue(name) for name in names)]

    async def _refresh_queues(self) -> None:
        assert self._redis is not None
        known = await self._redis.smembers(self.keys.queues)
        names = self.queues.resolve(map(text, known))
        if names != self._fetch_names:
            self._fetch_names, self._fetch_keys = names, self._queue_keys(names)

    async def _fetch(self, wanted: int) -> list[tuple[str, bytes]]:
        names = self._fetch_names
        if not names:
            return []
        reply = await self._fetch_script(keys=self._fetch_keys, args=[wanted])
        return [(names[reply[i]], reply[i + 1]) for i in range(0, len(reply), 2)]

    async def _dispatch(self, fetched: list[tuple[str, bytes]]) -> None:
        now = time.time()
        running = self._running
        for queue, raw in fetched:
            try:
                job = decode(raw, queue, self)
            except InvalidPayload as exc:
                await self._record_failure(queue, raw, None, exc)
                continue
            job.started_at = now
            running[job] = asyncio.create_task(self._run(job))

    async def _run(self, job: Job) -> None:
        _current.set(job)
        try:
            try:
                await self._resolve(job.class_name)(job)
            except asyncio.CancelledError as cancelled:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    self._interrupted.add(job)  # stopping: _drain puts it back in its queue
                    raise
                exc: BaseException = asyncio.CancelledError("the job cancelled itself")
                exc = exc.with_traceback(cancelled.__traceback__)
                await self._record_failure(job.queue, job.raw, job.payload, exc)
            except Exception as exc:
                await self._record_failure(job.queue, job.raw, job.payload, exc)
            else:
                await self._outcomes.succeeded()
                logger.debug("pace: %r done", job)
                await self._fire("processed", job)
        finally:
            del self._running[job]
            self._wake()

    async def _record_failure(
        self, queue: str, raw: bytes, payload: dict[str, Any] | None, exc: BaseException
    ) -> None:
        logger.warning("pace: a job of queue %r failed: %s: %s", queue, type(exc).__name__, exc)
        try:
            await self._outcomes.failed(queue, raw, payload, exc)
        except RedisError as redis_exc:
            logger.error("pace: could not store the failure of %r (%s): %r", raw, redis_exc, exc)
        await self._fire("error", payload if payload is not None else _text(raw), exc)

    async def _nap(self, seconds: float) -> None:
        """Sleep up to ``seconds``; pause, resume, stop and finished jobs wake it early."""
        assert self._wakeup is not None
        if seconds > 0:
            with suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    await self._wakeup.wait()
        self._wakeup.clear()

    def _pause_left(self) -> float:
        if self._paused_until is None:
            return _MAX_IDLE
        return min(self._paused_until - time.monotonic(), _MAX_IDLE)

    # -- housekeeping -------------------------------------------------------------------

    async def _housekeeping(self) -> None:
        """Heartbeat every 60 s; publish the jobs in progress when they change."""
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
            except RedisError as exc:
                logger.warning("pace: housekeeping failed (%s); retrying", exc)


def _text(raw: bytes) -> str:
    return raw.decode(errors="replace")


def _check_handler(handler: object, name: str) -> Handler:
    call = getattr(handler, "__call__", None)  # noqa: B004 - an async __call__ counts too
    if not (inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(call)):
        raise ConfigError(f"{name} must be a coroutine function (async def), got {handler!r}")
    return handler  # type: ignore[return-value]


def _resolver(handler: Handler | Mapping[str, Handler]) -> Callable[[str], Handler]:
    """``class name -> coroutine function``, raising :class:`UnknownJobClass` for a stranger."""
    if not isinstance(handler, Mapping):
        one = _check_handler(handler, "handler")
        return lambda _class_name: one
    registry = {name: _check_handler(fn, f"handler for {name!r}") for name, fn in handler.items()}
    known = ", ".join(sorted(registry)) or "none"

    def lookup(class_name: str) -> Handler:
        try:
            return registry[class_name]
        except KeyError:
            raise UnknownJobClass(
                f"no handler for job class {class_name!r} (registered: {known})"
            ) from None

    return lookup


async def _cancel_all(tasks: Iterable[asyncio.Task[Any]], timeout: float) -> None:
    """Cancel ``tasks`` and wait for them, at most ``timeout`` seconds."""
    tasks = [task for task in tasks if not task.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks, timeout=timeout)


class _SignalHandlers:
    """Install loop signal handlers for the ``with`` block, then restore the defaults."""

    def __init__(self, actions: Mapping[signal.Signals, Callable[[], None]]) -> None:
        self.actions = actions

    def __enter__(self) -> None:
        loop = asyncio.get_running_loop()
        for sig, action in self.actions.items():
            loop.add_signal_handler(sig, action)

    def __exit__(self, *_exc: object) -> None:
        loop = asyncio.get_running_loop()
        for sig in self.actions:
            loop.remove_signal_handler(sig)
