"""The worker: takes Resque jobs from Redis queues and runs a coroutine for each.

The loop reads in one screen: :meth:`Worker._fetch_loop` stores the successes since its last
round trip and moves a batch of jobs from the queues (highest priority first) into the
worker's lanes, in one round trip (:meth:`Worker._exchange`); :meth:`Worker._dispatch` hands
them to a fixed pool of ``concurrency`` consumers (:meth:`Worker._consume`), which run them
(:meth:`Worker._run`) and hand each outcome to :mod:`pace.worker.settle`. The background loops
are in :mod:`pace.worker.housekeeping`. Signals only request a stop or a pause; shutdown stops
fetching, drains within a grace period, then cancels the rest and puts their jobs back at the
head of their queues.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import signal
import socket
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from contextlib import suppress
from typing import Any, ClassVar

from redis.asyncio import Redis
from redis.exceptions import RedisError

from pace import checks, runner
from pace import hooks as _hooks
from pace.connection import connect
from pace.context import current
from pace.errors import ConfigError, InvalidPayload, JobTimeout, PoisonJob
from pace.job import Handler, Job, decode
from pace.keys import DEFAULT_NAMESPACE, Keys
from pace.limiter import RateLimit
from pace.metrics import WorkerMetrics
from pace.queues import QueueSelector
from pace.retry import RetryPolicy
from pace.wire import BATCH_FIELD
from pace.worker.housekeeping import Housekeeping
from pace.worker.inflight import Fenced, InFlight, Ref
from pace.worker.picker import Picker
from pace.worker.registration import Registration
from pace.worker.runtime import HardStop, SignalHandlers, resolver, unless_cancelled
from pace.worker.settle import OUTAGE_ERRORS, Outage, Settler

__all__ = ["Worker"]

logger = logging.getLogger("pace")

_MAX_IDLE = 0.5  # longest nap between polls of empty queues
_REFRESH_QUEUES = 5.0  # seconds between re-reads of resque:queues for '*' and globs
_AHEAD_WITHIN = 0.01  # a batch is fetched ahead while the worker runs one in less (seconds)
_ABANDON_AFTER = 1.0  # seconds a cancelled job may take to end before it is abandoned
_STORING_WAIT = 5.0  # seconds a stop waits for outcomes being stored (Redis may be slow)


class _Seat:
    """A consumer and the job it runs (set and cleared once a job: no table keyed by job)."""

    __slots__ = ("job", "ref", "storing", "task")

    def __init__(self, task: asyncio.Task[None]) -> None:
        self.task = task
        self.job: Job | None = None
        self.ref: Ref | None = None
        self.storing = False  # the job's handler has ended: its outcome is being stored


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
        catch_all: report every exception of the event loop (from a callback or a task
            nobody awaits) to the error hooks, with payload ``None``
            (:meth:`install_loop_handler`). ``None``: only when the loop is pace's own
            (:func:`pace.run`, the CLI).
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
        catch_all: bool | None = None,
    ) -> None:
        if not (retry is None or isinstance(retry, RetryPolicy | Mapping)):
            raise ConfigError(f"retry must be a RetryPolicy or a mapping of them, got {retry!r}")
        self.queues = QueueSelector(queues)
        self.concurrency = checks.count("concurrency", concurrency)
        self.limit = None if jobs_per_second is None else RateLimit(jobs_per_second)
        self.keys = Keys(namespace)
        self.burst = burst
        self.batch_size = checks.count("batch_size", batch_size)
        self.handle_signals = handle_signals
        self.retry = retry
        self.job_timeout = checks.number("job_timeout", job_timeout, positive=True, optional=True)
        self.dead_after = checks.number("dead_after", dead_after, positive=True)
        self.max_recoveries = checks.count("max_recoveries", max_recoveries)
        self.catch_all = catch_all
        self.id = self._first_id = f"{socket.gethostname()}:{os.getpid()}:{self.queues}"
        self._lives = 1  # a worker taken for dead goes on under a fresh id (_reincarnate)
        self._recovered = False  # its beat found it unregistered: reincarnate
        self.hooks = _hooks.Hooks()
        self.metrics = WorkerMetrics()
        self._chain = (Worker.class_hooks, self.hooks)
        self._outage = Outage(self._chain)
        self._redis_url = redis_url
        self._redis = redis
        self._seats: list[_Seat] = []  # one a consumer: the job it runs
        self._interrupted: dict[Job, Ref] = {}  # cancelled by a stop: back to their queues
        self._consumers: list[asyncio.Task[None]] = []
        self._idle: deque[asyncio.Future[None]] = deque()  # consumers waiting for jobs
        self._ready: deque[Ref] = deque()  # jobs fetched, not started yet
        self._calling = False  # an idle consumer was woken and has not run yet
        self._holding = 0  # jobs handed to consumers, not finished
        self._ahead = False  # jobs are so short that a batch is fetched ahead (_room)
        self._exchanged = 0.0  # when the last exchange that stored successes began
        self._paused_until: float | None = None
        self._stop_grace: float | None = None
        self._stopping = False
        self._stop_requested: asyncio.Event | None = None
        self._hard = HardStop()  # a second stop: every wait of the shutdown ends
        self._finished: asyncio.Event | None = None
        self._wakeup: asyncio.Event | None = None
        self._critical = False  # True while fetched jobs are in hand: never cancel the fetcher then
        self._picker = Picker(self.queues, self.keys, self.burst)
        self._paused_names: frozenset[str] = frozenset()  # paused for the fleet (control.py)
        self._remotely_paused = False  # this worker paused through control.py
        # set by start():
        self._resolve: Callable[[str], Handler]
        self._inflight: InFlight
        self._settler: Settler
        self._registration: Registration

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
        return _hooks.fire(self._chain, event, *args)

    def install_loop_handler(self) -> None:
        """Report every exception of the running event loop that nobody handles (raised in a
        callback, or by a task whose result nobody reads) to this worker's error hooks, with
        payload ``None``, and log it. The loop goes on: the worker never dies of it.

        A worker started by :func:`pace.run` or the CLI does this by itself; an embedded one
        calls it (or passes ``catch_all=True``). The previous handler is restored on stop.
        """
        loop = asyncio.get_running_loop()

        def report(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
            exc = context.get("exception")
            logger.error(
                "unexpected error in the event loop: %s", context.get("message"), exc_info=exc
            )
            if isinstance(exc, Exception):
                loop.create_task(self._report(exc), name="pace-loop-error")

        loop.set_exception_handler(report)

    async def _report(self, exc: BaseException) -> None:
        await self._fire("error", None, exc)

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
        seconds = checks.number("pause seconds", seconds, optional=True)
        self._paused_until = math.inf if seconds is None else time.monotonic() + seconds
        self.wake()

    def resume(self) -> None:
        """Take jobs again, at once."""
        self._paused_until = None
        self.wake()

    def wake(self) -> None:
        """Wake the fetcher: something it waits for may have changed."""
        if self._wakeup is not None:
            self._wakeup.set()

    def request_stop(self, timeout: float | None = 30.0) -> None:
        """Ask :meth:`start` to shut down (see :meth:`stop`) without waiting for it."""
        if self._stop_requested is None:  # not started yet: start() will return at once
            self._stopping = True
            return
        if self._stopping:
            if timeout == 0:  # a second, harder stop
                self._hard.trigger()
            return
        self._stopping = True
        self._stop_grace = timeout
        self._stop_requested.set()
        self.wake()

    async def stop(self, timeout: float | None = 30.0) -> None:
        """Stop taking jobs, let those in flight finish for up to ``timeout`` seconds (``None``:
        no limit), cancel the rest and put them back at the head of their queues, unregister.
        A job that ignores its cancellation for a second is abandoned: back in its queue, in
        order, its outcome never stored. A second, hard stop (``request_stop(0)``, a second
        TERM) cuts every wait short.

        Returns when :meth:`start` has finished.
        """
        self.request_stop(timeout)
        if self._finished is not None:
            await self._finished.wait()

    # -- what the background loops see (pace.worker.housekeeping.Crew) ---------------------

    def running_jobs(self) -> list[Job]:
        """The jobs running now, oldest first."""
        running = [seat.job for seat in self._seats if seat.job is not None]
        return sorted(running, key=lambda job: job.started_at)

    def recovered(self) -> None:
        """Other workers took this one for dead (its beat found it unregistered): the fetcher
        goes on under a fresh id, as when a fenced lane refuses its fetch."""
        self._recovered = True
        self.wake()

    def follow_pauses(self, queues: frozenset[str], me: bool) -> None:
        """The fleet pauses ``queues`` (and this worker, if ``me``)."""
        if queues != self._paused_names or me != self._remotely_paused:
            self._paused_names, self._remotely_paused = queues, me
            self._picker.follow(queues)
            self.wake()

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
        loop = asyncio.get_running_loop()
        loop_handler = loop.get_exception_handler()
        if self.catch_all or (self.catch_all is None and runner.owns(loop)):
            self.install_loop_handler()
        owned = self._redis is None
        try:
            redis = self._redis = self._redis or await connect(self._redis_url)
        except BaseException:
            loop.set_exception_handler(loop_handler)
            self._finished.set()
            raise
        Worker._active_ids.add(self.id)
        registration = self._registration = Registration(redis, self.keys, self.id)
        self._inflight = InFlight(redis, self.keys, self.id)
        self._settler = Settler(
            self._inflight, worker_id=self.id, chain=self._chain, retry=self.retry,
            outage=self._outage,
        )  # fmt: skip
        housekeeping = Housekeeping(
            self, redis, registration, self._inflight, self._outage, self._chain
        )
        loops: list[asyncio.Task[None]] = []
        try:
            # Redis going away now is an outage like any other: logged once, waited out
            await self._outage.until_done(registration.register, self.dead_after)
            await self._outage.until_done(housekeeping.prepare)  # dead workers' jobs first
            with self._signals():
                self._seats = []
                self._consumers = [
                    asyncio.create_task(self._consume(), name="pace-consumer")
                    for _ in range(self.concurrency)
                ]
                loops.append(asyncio.create_task(self._fetch_loop(), name="pace-fetch"))
                loops += housekeeping.start()
                logger.info("worker %s started", self.id)
                await self._fire("start", self)
                await self._stop_requested.wait()
                await self._stop_loops(loops)
                await self._drain(self._stop_grace)
        finally:
            await self._shut_down(owned, loops)
            loop.set_exception_handler(loop_handler)

    async def _stop_loops(self, loops: list[asyncio.Task[None]]) -> None:
        """Stop the fetcher (letting it put back any jobs in hand) and the housekeeping."""
        self._stopping = True
        self.wake()
        if loops and self._critical:  # it settles what it holds, then sees _stopping
            await self._hard.within(loops[:1], None, talking=True)
        for task in loops:
            task.cancel()
        await self._hard.within(loops, 5, talking=True)  # redis-py may take long to disconnect

    async def _shut_down(self, owned: bool, loops: list[asyncio.Task[None]]) -> None:
        assert self._redis is not None
        assert self._finished is not None
        try:
            await self._stop_loops(loops)
            if not self._hard.is_set():  # else its drain has given up already
                await self._drain(0)
            try:  # anything still in flight goes back to its queue; every trace of us goes
                await self._hard.run(self._inflight.release())
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
        """Wait up to ``timeout`` for jobs in flight, cancel the rest (abandoning those that
        ignore it for a second), and put those back at the head of their queues in the order
        they were taken; then store the last successes. A hard stop cuts each wait short."""
        for waiter in self._idle:  # idle consumers end; busy ones after their jobs
            if not waiter.done():
                waiter.set_result(None)
        self._idle.clear()
        pending = await self._hard.within(self._consumers, timeout)
        if pending:
            # Cancel the handlers still running. A job whose handler has ended is storing its
            # outcome: let that finish (bounded: if Redis is away, release() requeues).
            logger.info("cancelling %d jobs in flight", len(pending - self._storers()))
            for task in pending - self._storers():
                task.cancel()
            pending = await self._hard.within(pending, _ABANDON_AFTER)
            if storing := pending & self._storers():
                pending = pending - storing | await self._hard.within(storing, _STORING_WAIT)
        refs = [*self._interrupted.values(), *self._ready, *self._abandon(pending)]
        refs.sort(key=lambda ref: (ref[0].number, ref[1]))  # the order they were taken
        self._interrupted.clear()
        self._ready.clear()
        await self._hard.run(self._give_back(refs))

    async def _give_back(self, refs: list[Ref]) -> None:
        """Put jobs back at the head of their queues, then store the last successes."""
        with suppress(RedisError):  # if Redis is away, recovery or release() puts them back
            await self._inflight.requeue(refs)
        await self._settler.flush(timeout=5)  # bounded: if Redis is away, release() requeues

    def _storers(self) -> set[asyncio.Task[None]]:
        """The consumers storing the outcome of a job whose handler has ended."""
        return {seat.task for seat in self._seats if seat.storing}

    def _abandon(self, consumers: set[asyncio.Task[None]]) -> list[Ref]:
        """Give up on jobs whose handlers ignore their cancellation: they go back to their
        queues with the others, and no outcome of this worker is stored from now on (one that
        ends later has run twice, at least once for good)."""
        if not consumers:
            return []
        refs = [s.ref for s in self._seats if s.task in consumers and s.ref is not None]
        if refs:
            logger.warning("%d jobs ignore their cancellation: abandoned", len(refs))
        self._settler.close()
        self._consumers = [consumer for consumer in self._consumers if consumer not in consumers]
        for consumer in consumers:
            consumer.cancel()
        return refs

    def _signals(self) -> SignalHandlers:
        actions: dict[signal.Signals, Callable[[], None]] = {
            signal.SIGTERM: lambda: self.request_stop(0),
            signal.SIGINT: lambda: self.request_stop(0),
            signal.SIGQUIT: lambda: self.request_stop(None),
            signal.SIGUSR2: self.pause,
            signal.SIGCONT: self.resume,
        }
        return SignalHandlers(actions if self.handle_signals else {})

    # -- the loop: fetch, dispatch, run ---------------------------------------------------

    async def _fetch_loop(self) -> None:
        idle = 0.0
        refreshed = -math.inf
        while not self._stopping:
            try:
                if self._recovered:
                    self._recovered = False
                    raise Fenced("its beat found it unregistered")
                if self.paused and self.limit is not None:
                    self.limit.restart()  # no burst when the pause ends
                if self._ready and self.paused:  # fetched just before a pause
                    await self._put_back()
                room = self._room()
                if not room and not self._settler.pending and not self._inflight.restamps:
                    # a job that finishes (or a fetch whose jobs all started) wakes it
                    await self._nap(self._pause_left() if self.paused else _MAX_IDLE)
                    continue
                if room and self.queues.dynamic and (
                    self._picker.changed
                    or (idle and len(self._picker.names) < 2)  # else allot() counts the queues
                    or time.monotonic() - refreshed > _REFRESH_QUEUES
                ):
                    assert self._redis is not None
                    await self._picker.refresh(self._redis)
                    refreshed = time.monotonic()
                try:
                    taken = await self._exchange(room)
                    self._dispatch(taken)
                finally:
                    self._critical = False  # every job fetched is dispatched (or put back)
                if taken:
                    idle = 0.0
                elif room and not self._stopping:  # up to when a queue's limit opens
                    idle = min(max(idle * 2, 0.005), _MAX_IDLE)
                    await self._nap(min(idle, self._inflight.holds.opens_in()))
            except Fenced as fenced:
                await self._reincarnate(str(fenced))
            except Exception as exc:
                unless_cancelled(exc)
                if isinstance(exc, OUTAGE_ERRORS):
                    await self._outage.down(exc)
                else:
                    logger.exception("fetching jobs failed; retrying")
                    self._settler.drop(exc)
                    await self._fire("error", None, exc)
                idle = min(max(idle * 2, 0.1), 2.0)
                await self._nap(idle)

    async def _exchange(self, room: int) -> list[Ref]:
        """Store the successes since the last call and take up to as many jobs as there is
        room (and rate) for, in one round trip. In burst mode, an empty fetch with nothing in
        flight before it stops the worker (a job that settles while the fetch runs may have
        enqueued more: a workflow's next stage)."""
        wanted = room
        if wanted and self.limit is not None:
            waiting = time.monotonic()
            wanted = await self.limit.take(wanted)
            self.metrics.rate_limit_wait += time.monotonic() - waiting
        settled_before = not self._in_flight
        finished = len(self._settler.acks)
        if finished:  # how fast jobs finish, measured between exchanges that store some
            began = time.monotonic()
            batch = min(self.batch_size, self.concurrency)
            elapsed = began - self._exchanged
            self._ahead = self.limit is None and finished * _AHEAD_WITHIN > batch * elapsed
            self._exchanged = began
        self._critical = True  # from here on jobs may be in hand: a stop waits for them
        assert self._redis is not None
        holds = self._inflight.holds
        allotted = await self._picker.allot(self._redis, wanted, holds) if wanted else {}
        taken = await self._settler.exchange(allotted)
        self._outage.up()
        if taken is None:  # an exchange sent again, that had taken nothing
            return []
        if taken and self.limit is not None:
            await self.limit.admit(len(taken))
        if taken and (self.paused or self.stopping):  # paused or stopped meanwhile
            await self._outage.until_done(self._inflight.requeue, taken)
            return []
        if room and not taken and self.burst and settled_before and not self._in_flight:
            logger.info("queues are empty; burst mode stops the worker")
            self.request_stop(None)
        return taken

    async def _reincarnate(self, why: str) -> None:
        """Other workers took this one for dead and gave its jobs back (fencing its lanes):
        drop the jobs not started, give back what is left under the old id, and go on under
        a fresh one. Jobs running now run to their end, their outcomes not stored (a job given
        back runs again: at least once)."""
        old = self.id
        self._lives += 1
        self.id = f"{self._first_id}:{self._lives}"
        Worker._active_ids.discard(old)  # before any await: a stop meanwhile frees the new id
        Worker._active_ids.add(self.id)
        self._registration.rename(self.id)
        self._holding -= len(self._ready)
        self._ready.clear()
        self._settler.forget()
        await self._outage.until_done(self._inflight.release, None, True)
        self._inflight.worker_id = self._settler.worker_id = self.id
        await self._outage.until_done(self._registration.register, self.dead_after)
        logger.warning(
            "worker %s was taken for dead and its jobs given to others (%s); it goes on as %s",
            old, why, self.id,
        )  # fmt: skip

    async def _put_back(self) -> None:
        """Put the jobs fetched and not started back at the head of their queues."""
        refs = list(self._ready)
        self._ready.clear()
        self._holding -= len(refs)
        await self._outage.until_done(self._inflight.requeue, refs)

    def _dispatch(self, taken: list[Ref]) -> None:
        """Hand the jobs to the consumers."""
        self._holding += len(taken)
        self._ready += taken
        self._call_consumer()

    def _call_consumer(self) -> None:
        """Wake an idle consumer, unless one is on its way. A consumer that takes a job wakes
        the next while jobs remain: each wakes once the one before waits on its job's I/O,
        and jobs that never wait run on one consumer, none woken in vain."""
        if self._idle and not self._calling:
            self._calling = True
            self._idle.popleft().set_result(None)

    async def _consume(self) -> None:
        """One of ``concurrency`` consumers: runs jobs fetched, one at a time, while the
        worker is neither paused (the fetcher puts them back) nor stopping."""
        loop = asyncio.get_running_loop()
        me = asyncio.current_task()
        assert me is not None
        seat = _Seat(me)
        self._seats.append(seat)
        while not self._stopping:
            if self._ready and not self.paused:
                ref = self._ready.popleft()
                if self._ready:
                    self._call_consumer()
                if ref[0].logged and self._inflight.started(ref):  # a rate's window logs
                    self.wake()  # when its jobs start: the fetcher sends it
                try:
                    await self._run(ref, seat)
                finally:
                    self._holding -= 1
                    if self._inflight.holds.until:  # a limit held a queue back: a slot frees
                        self._inflight.holds.freeing(ref[0].lane.name)
                    self.wake()
                if self._ahead and self._holding == self.concurrency:
                    # a batch ahead is due: let the fetcher send it now, while this batch runs
                    # (jobs that never wait would hold the loop until every job fetched ran)
                    await asyncio.sleep(0)
            else:
                waiter: asyncio.Future[None] = loop.create_future()
                self._idle.append(waiter)
                await waiter
                self._calling = False

    async def _run(self, ref: Ref, seat: _Seat) -> None:
        """Run a fetched job and hand its outcome to the settler; a payload that is no job, or
        a job whose workers kept dying, is failed instead."""
        take, index = ref
        queue, raw = take.lane.name, take.raws[index]
        recoveries = take.recoveries(index) if take.recovered else 0
        try:
            job = decode(raw, queue, self)
        except InvalidPayload as invalid:
            await self._settler.fail(queue, raw, None, ref, invalid)
            return
        if recoveries >= self.max_recoveries:
            poison = PoisonJob(f"{recoveries} workers died running this job; not run again")
            await self._settler.fail(queue, raw, job.payload, ref, poison)
            return
        job.started_at = time.time()
        seat.job, seat.ref = job, ref
        current.set(job)
        try:
            try:
                if BATCH_FIELD in job.payload:
                    await self._settler.started(job)
                started, error = time.monotonic(), None
                try:
                    if self.job_timeout is None and not _hooks.listening(self._chain, "perform"):
                        await self._resolve(job.class_name)(job)  # the usual case, the fast one
                    else:
                        await self._perform(job)
                except BaseException as exc:  # not sys.exc_info() in finally: slower per job
                    error = exc
                    raise
                finally:
                    seat.storing = True  # what follows stores its outcome
                    self.metrics.observe(time.monotonic() - started, job.class_name, queue, error)
            except asyncio.CancelledError as cancelled:
                if seat.task.cancelling():
                    self._interrupted[job] = ref  # stopping: _drain puts it back in its queue
                    raise
                itself = asyncio.CancelledError("the job cancelled itself")
                await self._settler.failed(job, ref, itself.with_traceback(cancelled.__traceback__))
            except Exception as exc:
                await self._settler.failed(job, ref, exc)
            else:
                self._settler.succeeded(job, ref)
        finally:
            seat.job = seat.ref = None
            seat.storing = False

    async def _perform(self, job: Job) -> None:
        """Run a job's handler within its ``perform`` hooks (tracing, pace.testing) and its
        timeout."""
        with _hooks.around(self._chain, "perform", job):
            handler = self._resolve(job.class_name)
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

    @property
    def _in_flight(self) -> int:
        """Jobs held by consumers, plus those whose success is not stored yet."""
        return self._holding + len(self._settler.acks)

    def _room(self) -> int:
        """How many jobs to fetch now: none while paused or stopping; else as many as there
        are consumers free, up to a batch (successes not stored yet go with that fetch). While
        jobs are so short that the worker runs a batch in under 10 ms, a whole batch once no
        more than one is waiting: the next batch is on its way while this one runs (and waits
        no longer than that)."""
        if self.paused or self._stopping:
            return 0
        batch = min(self.batch_size, self.concurrency)
        free = self.concurrency - self._holding
        if self._ahead:
            return batch if free >= 0 else 0
        return min(free, batch)

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
