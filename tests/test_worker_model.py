"""A model of the worker (issue 10): hypothesis writes programs, a real worker runs them.

A program is worker settings (``concurrency`` 1..8, ``jobs_per_second`` none or 20..200) and
a list of steps: enqueue jobs to queue ``a`` or ``b`` (each job's handler sleeps, fails, asks
for a retry, or pauses its own worker), let time pass, ``pause()``/``pause(s)``/``resume()``
the worker, pause or resume a queue for the fleet (``pace.Pauses``), restart Redis, stop the
worker mid-way and start a fresh one; the program ends with ``stop(timeout)``. Hypothesis's
stateful machine is synchronous, so the program is drawn whole and run in one event loop
against a real :class:`pace.Worker` and a real redis-server of this module's own (restarting
the session's would break the other tests' connections). Only the public API and the keys
the README documents are used.

Invariants, checked after every step and at the end:

- never more than ``concurrency`` handlers in flight;
- no job starts while its worker is paused (``pause()``, a timed pause not over yet), after
  its stop was asked, or while its queue is paused for the fleet. "Starts" is
  ``job.started_at``: the worker takes it when it decides to start the fetched jobs, with no
  ``await`` between its pause check and that instant, so the check is exact (a handler's
  entry comes later and would blame the worker for a pause asked in between). A timed pause
  ends on the monotonic clock and is recorded on the wall clock: 2 ms of slack. A fleet
  pause is followed within a second (``pace.control``): a start is wrong only if every state
  the pauses hash held during the second before it (stretched by the time the process was
  stalled or Redis was down, measured) says the queue is paused;
- never more than ``jobs_per_second`` starts of one worker in any one-second window;
- the event loop is never blocked for more than 100 ms: a task sleeps 10 ms in a loop and
  records how late it wakes. A late wake counts only if a reference thread, ticking every
  5 ms, kept ticking meanwhile: then the process ran and the loop was blocked; if the thread
  was late too, the machine did not run us (2 shared cores) and no code of ours is at fault;
- after the stop: every job has ended exactly once (a success, gone from Redis; a failure
  record in ``resque:failed``; a retry in ``<ns>:pace:schedule``, or moved from there to its
  queue) or is back in its queue; ``stat:processed``/``stat:failed`` count each ending once;
  each queue keeps its order (first runs start in enqueue order; what is left of the first
  attempts is queued in enqueue order); a handler runs twice only after a run interrupted by
  a stop (cancelled and put back in its queue) or a retry it asked for; the in-flight list
  is gone, and no task is left behind.

``PACE_MODEL_EXAMPLES=500`` runs more programs (50 by default: 10 to 30 s on 2 busy cores).
"""

from __future__ import annotations

import asyncio
import bisect
import ctypes
import itertools
import json
import os
import sys
import tempfile
import threading
import time
import traceback
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

import pace
from pace.embedded import EmbeddedRedis
from tests.support import lanes_left, wait_for

EXAMPLES = int(os.environ.get("PACE_MODEL_EXAMPLES", "50"))
QUEUES = ("a", "b")
FOLLOW = 1.0  # seconds within which every worker follows a fleet pause (pace.control)
MAX_LAG = 0.1  # longest the event loop may be blocked
FROZEN = 2.0  # a loop blocked this long is broken out of its spin (see Watchdog)
TICK = 0.01  # the watchdog's sleep
CLOCKS = 0.002  # slack between the monotonic end of a timed pause and the wall clock
PROGRAM_TIMEOUT = 60.0  # the longest program takes about 20 s
NS = "resque"

# -- the programs -----------------------------------------------------------------------

Behaviour = tuple[str, float]
"""What a job's handler does: ``("sleep", s)``, ``("fail", 0)``, ``("retry", delay)`` (on its
first attempt; the second succeeds) or ``("pause", s)`` (``job.worker.pause(s)``)."""


@dataclass(frozen=True)
class Enqueue:
    queue: str
    jobs: tuple[Behaviour, ...]


@dataclass(frozen=True)
class Wait:
    seconds: float


@dataclass(frozen=True)
class Pause:
    seconds: float | None


@dataclass(frozen=True)
class Resume:
    pass


@dataclass(frozen=True)
class PauseQueue:
    queue: str
    seconds: float | None


@dataclass(frozen=True)
class ResumeQueue:
    queue: str


@dataclass(frozen=True)
class RestartRedis:
    downtime: float


@dataclass(frozen=True)
class RestartWorker:
    """``stop(timeout)`` mid-way, then a fresh worker with the same settings."""

    timeout: float | None


Step = Enqueue | Wait | Pause | Resume | PauseQueue | ResumeQueue | RestartRedis | RestartWorker


@dataclass(frozen=True)
class Program:
    concurrency: int
    jobs_per_second: int | None
    steps: tuple[Step, ...]
    stop_timeout: float | None


queues = st.sampled_from(QUEUES)
sleeps = st.tuples(st.just("sleep"), st.sampled_from([0.0, 0.01, 0.05, 0.2, 0.2, 0.6]))
behaviours = st.one_of(
    sleeps,
    sleeps,
    sleeps,
    st.tuples(st.just("fail"), st.just(0.0)),
    st.tuples(st.just("retry"), st.sampled_from([0.0, 0.1, 0.3])),
    st.tuples(st.just("pause"), st.sampled_from([0.0, 0.05, 0.3])),
)  # repeated branches are drawn more often


def sized(elements: st.SearchStrategy[Any], sizes: list[int]) -> st.SearchStrategy[Any]:
    """Tuples of one of these lengths, drawn evenly (hypothesis's own lists are mostly short;
    a failure still shrinks to the shortest length that fails, then to simpler elements)."""
    return st.sampled_from(sizes).flatmap(
        lambda n: st.lists(elements, min_size=n, max_size=n).map(tuple)
    )


enqueue = st.builds(Enqueue, queues, sized(behaviours, [1, 4, 10, 25]))
wait = st.builds(Wait, st.sampled_from([0.02, 0.1, 0.3, 0.5, 1.1]))
steps = st.one_of(
    enqueue,
    enqueue,
    wait,
    wait,
    wait,
    wait,
    st.builds(Pause, st.none() | st.just(0.0)),
    st.builds(Pause, st.sampled_from([0.1, 0.4])),
    st.builds(Resume),
    st.builds(PauseQueue, queues, st.none() | st.sampled_from([0.2, 0.8])),
    st.builds(ResumeQueue, queues),
    st.builds(RestartRedis, st.sampled_from([0.0, 0.2])),
    st.builds(RestartWorker, st.none() | st.sampled_from([0.0, 0.1])),
)
programs = st.builds(
    Program,
    concurrency=st.integers(1, 8),
    jobs_per_second=st.none() | st.integers(20, 200),
    # the first step enqueues, so that no program is idle
    steps=st.builds(lambda first, rest: (first, *rest), enqueue, sized(steps, [1, 3, 6, 10])),
    stop_timeout=st.sampled_from([None, 0.0, 0.1, 0.1, 0.5]),
)

# -- what the run records -----------------------------------------------------------------


@dataclass
class WorkerLog:
    """One worker of the run: its pauses as ``(asked at, paused until)`` (wall clock; a resume
    is paused until the moment it was asked), when its stop was asked, its starts."""

    worker: pace.Worker = field(repr=False)
    pauses: list[tuple[float, float]] = field(default_factory=list)
    started_at: float = field(default_factory=time.time)
    stopped_at: float = float("inf")
    starts: list[Start] = field(default_factory=list, repr=False)


@dataclass
class Start:
    """One run of a handler."""

    job_id: str
    queue: str
    attempt: int
    started_at: float  # job.started_at
    log: WorkerLog = field(repr=False)
    in_flight: int  # handlers running, this one included, when it entered
    outcome: str = "running"  # then ok, failed, retry or interrupted
    ended_at: float = float("inf")


class Boom(Exception):
    """What a failing job raises."""


class LoopFrozen(AssertionError):
    """Raised into the event loop's thread when it has run no callback for seconds."""


class Watchdog:
    """How late the event loop wakes a 10 ms sleep, and a reference thread's ticks that tell a
    blocked loop (the thread ticks on) from a process the machine did not run (both late).

    A loop frozen for good (code that never yields) would hang the test: after ``FROZEN``
    seconds without a wake, while the thread ticks steadily, the thread keeps the loop's stack
    and raises :class:`LoopFrozen` into it (``PyThreadState_SetAsyncExc``), which gets the
    loop out of its spin so that the stall is reported, with that stack.
    """

    def __init__(self) -> None:
        self.wakes: list[tuple[float, float]] = []  # (due, woke), monotonic
        self.ticks: list[float] = []
        self.frozen: list[str] = []  # the loop's stack each time it was found frozen
        self.stacks: dict[float, str] = {}  # the loop's stack in a stall, by its last wake
        self._last_wake = self._created = time.monotonic()
        self._seen = 0  # wakes looked at by blocked()
        self._loop_thread = threading.get_ident()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._tick, daemon=True)

    def _tick(self) -> None:
        steady_since = last = time.monotonic()
        while not self._done.wait(0.005):
            now = time.monotonic()
            self.ticks.append(now)
            if now - last > MAX_LAG / 2:
                steady_since = now
            last = now
            if now - self._last_wake > MAX_LAG / 2 and self._last_wake not in self.stacks:
                self.stacks[self._last_wake] = self._loop_stack()  # where the loop is stuck
            if min(now - self._last_wake, now - steady_since) > FROZEN:
                self.frozen.append(self._loop_stack())
                self._last_wake = now  # once per FROZEN seconds
                ctypes.pythonapi.PyThreadState_SetAsyncExc(
                    ctypes.c_ulong(self._loop_thread), ctypes.py_object(LoopFrozen)
                )

    def _loop_stack(self) -> str:
        return "".join(traceback.format_stack(sys._current_frames()[self._loop_thread]))

    async def run(self) -> None:
        self._thread.start()
        try:
            while True:
                due = time.monotonic() + TICK
                await asyncio.sleep(TICK)
                self._last_wake = now = time.monotonic()
                self.wakes.append((due, now))
        finally:
            self._done.set()
            self._thread.join()

    def blocked(self) -> list[tuple[float, str]]:
        """Stalls over ``MAX_LAG`` during which the reference thread ran: the loop's fault;
        each with the loop's stack, taken by the thread during the stall. Only the wakes since
        the last call are looked at (the checks run on the loop they watch: keep them short)."""
        faults = []
        previous = self.wakes[self._seen - 1][1] if self._seen else self._created
        wakes, self._seen = self.wakes[self._seen :], len(self.wakes)
        for due, woke in wakes:
            if woke - due > MAX_LAG:
                lo, hi = bisect.bisect_left(self.ticks, due), bisect.bisect_right(self.ticks, woke)
                points = [due, *self.ticks[lo:hi], woke]
                if max(b - a for a, b in itertools.pairwise(points)) < MAX_LAG / 2:
                    faults.append((woke - due, self.stacks.get(previous, "(no stack taken)")))
                else:
                    event("a stall of the whole process (the machine), excused")
            previous = woke
        return faults

    def lag(self, start: float, end: float) -> float:
        """How long the loop stalled between ``start`` and ``end`` (monotonic): the lateness
        of its wakes, beyond the 5 ms a wake can be late on an idle machine."""
        lo = bisect.bisect_left(self.wakes, start, key=lambda wake: wake[1])
        hi = bisect.bisect_right(self.wakes, end, key=lambda wake: wake[1])
        return sum(max(0.0, woke - due - 0.005) for due, woke in self.wakes[lo:hi])


# -- the run ------------------------------------------------------------------------------


class Run:
    """Runs one program against a real worker, recording what the model needs."""

    def __init__(self, program: Program, server: Server, redis: Redis) -> None:
        self.program = program
        self.server = server
        self.redis = redis
        self.client = pace.Client(redis=redis)
        self.pauses = pace.Pauses(redis)
        self.watchdog = Watchdog()
        self.wall = time.time() - time.monotonic()  # wall = monotonic + this
        self.logs: dict[pace.Worker, WorkerLog] = {}
        self.log: WorkerLog
        self.task: asyncio.Task[None] | None = None
        self.fleet: dict[str, list[tuple[float, float]]] = defaultdict(list)
        self.outages: list[tuple[float, float]] = []  # wall clock
        self.enqueued: dict[str, list[str]] = defaultdict(list)
        self.starts: list[Start] = []
        self.checked = 0  # starts checked so far
        self.in_flight = 0
        self.tasks_before: set[asyncio.Task[Any]] = set()

    # -- the worker and its handler

    async def start_worker(self) -> None:
        worker = pace.Worker(
            list(QUEUES),
            redis_url=self.server.url,
            concurrency=self.program.concurrency,
            jobs_per_second=self.program.jobs_per_second,
        )
        self.log = self.logs[worker] = WorkerLog(worker)
        started = asyncio.Event()
        worker.add_hook("start", lambda _worker: started.set())
        task = self.task = asyncio.create_task(worker.start(self.handler))
        await wait_for(lambda: started.is_set() or task.done())  # registered, loops running
        if task.done():
            await task  # start() failed: its exception

    async def stop_worker(self, timeout: float | None) -> None:
        assert self.task is not None
        self.log.stopped_at = time.time()
        await self.log.worker.stop(timeout)
        await self.task
        left = asyncio.all_tasks() - self.tasks_before - {asyncio.current_task()}
        assert not left, f"tasks left behind by the stopped worker: {left}"

    async def handler(self, job: pace.Job) -> None:
        kind, value = job.args[1], job.args[2]
        assert job.worker is not None
        assert job.id is not None
        self.in_flight += 1
        start = Start(
            job.id, job.queue, job.attempt, job.started_at, self.logs[job.worker], self.in_flight
        )
        self.starts.append(start)
        start.log.starts.append(start)
        try:
            if kind == "sleep":
                await asyncio.sleep(value)
            elif kind == "fail":
                raise Boom(f"job {job.args[0]} fails")
            elif kind == "retry" and job.attempt == 1:
                raise pace.Retry(delay=value)
            elif kind == "pause":
                self.pause(start.log, value)
        except asyncio.CancelledError:
            start.outcome = "interrupted"
            raise
        except pace.Retry:
            start.outcome = "retry"
            raise
        except Boom:
            start.outcome = "failed"
            raise
        else:
            start.outcome = "ok"
        finally:
            self.in_flight -= 1
            start.ended_at = time.time()

    def pause(self, log: WorkerLog, seconds: float | None) -> None:
        asked = time.time()
        log.worker.pause(seconds)
        log.pauses.append((asked, float("inf") if seconds is None else asked + seconds))

    # -- the steps

    async def run(self) -> None:
        watchdog = asyncio.create_task(self.watchdog.run())
        self.tasks_before = asyncio.all_tasks()
        try:
            await self.start_worker()
            for step in self.program.steps:
                await self.step(step)
                self.check()
            await self.stop_worker(self.program.stop_timeout)
            self.check()
            await self.check_final()
            self.tell_coverage()
        finally:
            if not self.server.running:
                await self.server.start()
            if self.task is not None:
                await self.log.worker.stop(0)
                await asyncio.gather(self.task, return_exceptions=True)
            watchdog.cancel()
            await asyncio.gather(watchdog, return_exceptions=True)

    async def step(self, step: Step) -> None:
        match step:
            case Enqueue(queue, jobs):
                numbered = [[len(self.enqueued[queue]) + i, *job] for i, job in enumerate(jobs)]
                self.enqueued[queue] += await self.client.enqueue_many(queue, "Model", numbered)
            case Wait(seconds):
                await asyncio.sleep(seconds)  # the program lets time pass
            case Pause(seconds):
                self.pause(self.log, seconds)
            case Resume():
                asked = time.time()
                self.log.worker.resume()
                self.log.pauses.append((asked, asked))
            case PauseQueue(queue, seconds):
                asked = time.time()  # its end is counted from before the call (as it is)
                await self.pauses.pause_queue(queue, seconds)
                until = asked + (float("inf") if seconds is None else seconds)
                self.fleet[queue].append((time.time(), until))  # in force once written
            case ResumeQueue(queue):
                asked = time.time()  # before the call: a worker may read it at once
                await self.pauses.resume_queue(queue)
                self.fleet[queue].append((asked, asked))
            case RestartRedis(downtime):
                down = time.time()
                await self.server.stop()
                await asyncio.sleep(downtime)
                await self.server.start()
                self.outages.append((down, time.time()))
            case RestartWorker(timeout):
                await self.stop_worker(timeout)
                await self.start_worker()

    # -- the invariants

    def check(self) -> None:
        concurrency, rate = self.program.concurrency, self.program.jobs_per_second
        new, self.checked = self.starts[self.checked :], len(self.starts)
        for s in new:  # only the new ones: the checks run on the loop the watchdog watches
            assert s.in_flight <= concurrency, (
                f"{s.in_flight} handlers in flight, {concurrency} max"
            )
            assert s.started_at <= s.log.stopped_at, f"{s} started after its stop was asked"
            assert not self.locally_paused(s), f"{s} started while its worker was paused"
            assert not self.fleet_paused(s), (
                f"{s} started while its queue was paused; the queue's pauses (asked, until), "
                f"in seconds before the start: "
                f"{[(s.started_at - a, s.started_at - u) for a, u in self.fleet[s.queue]]}; "
                f"its worker started {s.started_at - s.log.started_at:.3f} s before"
            )
        if rate is not None:
            for log in self.logs.values():
                times = sorted(s.started_at for s in log.starts)
                most = max(
                    (bisect.bisect_left(times, t + 1.0) - i for i, t in enumerate(times)), default=0
                )
                assert most <= rate, f"{most} starts in one second at {rate} jobs/s"
        blocked = self.watchdog.blocked()
        if blocked:
            seconds, stack = max(blocked)
            frozen = "".join(f"\nfrozen at:\n{stack}" for stack in self.watchdog.frozen[:1])
            raise AssertionError(
                f"the event loop was blocked for {seconds:.3f} s, at:\n{stack}{frozen}"
            )

    def locally_paused(self, start: Start) -> bool:
        """Was the worker paused (by the latest pause or resume before the start)?"""
        pauses = start.log.pauses
        i = bisect.bisect_left(pauses, (start.started_at,))
        return i > 0 and start.started_at < pauses[i - 1][1] - CLOCKS

    def fleet_paused(self, start: Start) -> bool:
        """Did every state the fleet's pauses held during the second before the start (plus
        the time the process stalled or Redis was down) pause the job's queue?"""
        t = start.started_at
        return self.fleet_paused_since(start, t - FOLLOW) and self.fleet_paused_since(
            start, t - FOLLOW - self.grace(t - FOLLOW - 1.0, t)
        )  # the grace only when needed: it is long to measure

    def fleet_paused_since(self, start: Start, since: float) -> bool:
        t = start.started_at
        history = self.fleet[start.queue]
        before = [until for asked, until in history if asked < since]
        states = [before[-1] if before else since] + [
            until for asked, until in history if since <= asked < t
        ]
        return all(t < until for until in states)

    def grace(self, start: float, end: float) -> float:
        """Seconds between ``start`` and ``end`` (wall clock) in which the worker could not
        have followed the fleet: the loop stalled (measured), or Redis was down."""
        lag = self.watchdog.lag(start - self.wall, end - self.wall)
        down = sum(max(0.0, min(e, end) - max(s, start)) for s, e in self.outages)
        return lag + down

    async def check_final(self) -> None:
        """After the stop: each job ended once or is back in its queue, in order."""
        redis = self.redis
        assert not await lanes_left(redis), "a job left in flight"
        where: dict[str, list[tuple[str, int]]] = defaultdict(list)
        queued: dict[str, list[dict[str, Any]]] = {}
        for queue in QUEUES:
            queued[queue] = [
                json.loads(raw) for raw in await redis.lrange(f"{NS}:queue:{queue}", 0, -1)
            ]
            for payload in queued[queue]:
                where[payload["id"]].append(("queued", payload.get("pace_attempt", 1)))
        for entry in await redis.zrange(f"{NS}:pace:schedule", 0, -1):
            payload = json.loads(entry.partition(b":")[2])
            where[payload["id"]].append(("scheduled", payload["pace_attempt"]))
        for raw in await redis.lrange(f"{NS}:failed", 0, -1):
            record = json.loads(raw)
            assert record["exception"].endswith("Boom"), record
            where[record["payload"]["id"]].append(
                ("failed", record["payload"].get("pace_attempt", 1))
            )

        runs: dict[str, list[Start]] = defaultdict(list)
        for s in self.starts:
            runs[s.job_id].append(s)
        ended = {"ok": 0, "failed": 0}
        for queue, ids in self.enqueued.items():
            for job_id in ids:
                expected = self.expected_place(runs[job_id])
                if expected[0] in ended:
                    ended[expected[0]] += 1
                found = where.pop(job_id, [])
                if expected[0] == "ok":
                    assert found == [], f"job {job_id} succeeded, yet is still in Redis: {found}"
                elif expected[0] == "retry":
                    assert found in ([("scheduled", expected[1])], [("queued", expected[1])]), (
                        f"job {job_id} asked for a retry: expected once in the schedule or its "
                        f"queue with attempt {expected[1]}, found {found}"
                    )
                else:
                    assert found == [expected], f"job {job_id}: expected {expected}, found {found}"
            order = {job_id: i for i, job_id in enumerate(ids)}
            firsts = [order[s.job_id] for s in self.starts if s.queue == queue and s.attempt == 1]
            firsts = sorted(set(firsts), key=firsts.index)  # each job's first start
            assert firsts == sorted(firsts), f"jobs of queue {queue} first started: {firsts}"
            left = [order[p["id"]] for p in queued[queue] if "pace_attempt" not in p]
            assert left == sorted(left), f"queue {queue} lost its order: jobs {left} left in it"
        assert not where, f"unknown jobs in Redis: {where}"
        stats = await redis.mget(f"{NS}:stat:processed", f"{NS}:stat:failed")
        assert [int(n or 0) for n in stats] == [ended["ok"] + ended["failed"], ended["failed"]]

    def tell_coverage(self) -> None:
        """What the program got the worker to do (``--hypothesis-show-statistics``)."""
        if any(s.in_flight == self.program.concurrency for s in self.starts):
            event("the worker was full")
        for outcome in ("interrupted", "retry", "failed"):
            if any(s.outcome == outcome for s in self.starts):
                event(f"a run ended: {outcome}")
        for log in self.logs.values():
            ends = [until for asked, until in log.pauses if asked < until < float("inf")]
            if any(0 <= s.started_at - end < 0.05 for s in log.starts for end in ends):
                event("a job started within 50 ms of a timed pause's end")
            running = [sum(s.started_at < end < s.ended_at for s in log.starts) for end in ends]
            if any(n >= self.program.concurrency for n in running):
                event("a timed pause ended while the worker was full")
        if any(s.started_at < down < s.ended_at for down, _ in self.outages for s in self.starts):
            event("Redis went down while a handler ran")
        event(f"starts: {len(self.starts) // 10 * 10}+")

    @staticmethod
    def expected_place(runs: list[Start]) -> tuple[str, int]:
        """Where a job must be after the stop, from its runs (checking a handler ran twice
        only after an interrupted run, at the same attempt, or a retry, at the next)."""
        attempt = 1
        for i, run in enumerate(runs):
            assert run.attempt == attempt, f"run {i + 1} of {run.job_id} was attempt {run.attempt}"
            last = i == len(runs) - 1
            if run.outcome == "retry":
                attempt += 1
            elif run.outcome != "interrupted":
                assert last, f"job {run.job_id} ran again after it ended ({run.outcome})"
        if not runs or runs[-1].outcome == "interrupted":
            return ("queued", attempt)
        outcome = runs[-1].outcome
        assert outcome != "running", f"{runs[-1]} still running after the stop"
        return (outcome, attempt)


# -- the test -----------------------------------------------------------------------------


class Server:
    """A redis-server of the model's own (restarting the session's would break the other
    tests' connections), stopped and started off the event loop (both block) by one thread
    that lives as long as the server: Linux kills the server when the thread that started it
    exits (``PR_SET_PDEATHSIG`` follows the thread, not the process), so not
    ``asyncio.to_thread``, whose threads end with each program's loop."""

    def __init__(self, server: EmbeddedRedis, thread: ThreadPoolExecutor) -> None:
        self.embedded = server
        self.url = server.url
        self._thread = thread

    @property
    def running(self) -> bool:
        return self.embedded.running

    async def start(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._thread, self.embedded.start)

    async def stop(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._thread, self.embedded.stop)


@pytest.fixture(scope="module")
def model_server() -> Iterator[Server]:
    with (
        tempfile.TemporaryDirectory(prefix="pace-") as directory,
        ThreadPoolExecutor(1, thread_name_prefix="pace-model-redis") as thread,
    ):
        server = EmbeddedRedis(directory)
        thread.submit(server.start).result()
        try:
            yield Server(server, thread)
        finally:
            thread.submit(server.stop).result()


async def run_program(program: Program, server: Server) -> None:
    redis = await pace.connect(server.url)
    try:
        await redis.flushall()
        async with asyncio.timeout(PROGRAM_TIMEOUT):  # a hang fails the program, not the run
            await Run(program, server, redis).run()
    finally:
        await redis.aclose()


@pytest.mark.timeout(120 + 10 * EXAMPLES)
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,  # nothing written to .hypothesis/; a failure prints its program
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(program=programs)
def test_the_worker_keeps_its_invariants(program: Program, model_server: Server) -> None:
    asyncio.run(run_program(program, model_server))
