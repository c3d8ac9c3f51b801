"""A worker's background loops, each a small step run by one runner, :func:`forever`.

- liveness: refresh the worker's alive key every quarter of ``dead_after``, and recover the
  jobs of workers found dead;
- schedule: move due retries and delayed jobs to their queues;
- remote control: follow the fleet's pauses (:mod:`pace.control`), Resque's
  ``pause-all-workers`` flag, and which queues have a fleet-wide limit (:mod:`pace.limits`);
- registry: Resque's heartbeat every 60 s, the jobs in progress when they change, and the
  worker's metrics every second.

A loop that dies is a silent outage, so :func:`forever` survives anything a step raises: an
outage of Redis is logged once (:class:`pace.worker.settle.Outage`), any other error is logged
with its traceback and sent to the error hooks; then it backs off and carries on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from redis.asyncio import Redis

from pace import hooks
from pace.connection import text
from pace.control import read_pauses
from pace.job import Job
from pace.keys import Keys
from pace.metrics import WorkerMetrics
from pace.worker.inflight import InFlight
from pace.worker.registration import HEARTBEAT_INTERVAL, Registration
from pace.worker.runtime import unless_cancelled
from pace.worker.schedule import move_due
from pace.worker.settle import OUTAGE_ERRORS, Outage

__all__ = ["Crew", "Housekeeping", "attempt", "forever"]

logger = logging.getLogger("pace")

_SCHEDULE_INTERVAL = 0.25  # seconds between moves of due retries and delayed jobs
_CONTROL_INTERVAL = 0.5  # seconds between reads of the fleet's pauses
_STATE_INTERVAL = 1.0  # seconds between snapshots of the jobs in progress and metrics
_MAX_BACKOFF = 30.0  # longest wait after a step failed again and again


async def attempt(
    name: str,
    step: Callable[[], Awaitable[None]],
    *,
    outage: Outage,
    chain: tuple[hooks.Hooks, ...],
) -> bool:
    """Run ``step`` once; False if it raised (an outage is logged once, any other error is
    logged with its traceback and sent to the error hooks). A cancel is never swallowed."""
    try:
        await step()
    except OUTAGE_ERRORS as exc:
        unless_cancelled(exc)
        await outage.down(exc)
        return False
    except Exception as exc:
        unless_cancelled(exc)
        logger.exception("pace's %s loop failed; it carries on", name)
        await hooks.fire(chain, "error", None, exc)
        return False
    unless_cancelled()  # asyncio.wait_for (3.11) may return a result and drop a cancel
    return True


async def forever(
    name: str,
    step: Callable[[], Awaitable[None]],
    interval: float,
    *,
    outage: Outage,
    chain: tuple[hooks.Hooks, ...],
) -> None:
    """Run ``step`` every ``interval`` seconds until cancelled, whatever it raises.

    After a failure the wait doubles (up to 30 s) until a step succeeds again.
    """
    wait = interval
    while True:
        ok = await attempt(name, step, outage=outage, chain=chain)
        wait = interval if ok else min(wait * 2, _MAX_BACKOFF)
        await asyncio.sleep(wait)


class Crew(Protocol):
    """What the background loops need of their worker."""

    @property
    def id(self) -> str:
        """The worker's id."""

    @property
    def keys(self) -> Keys:
        """The namespace's keys."""

    @property
    def dead_after(self) -> float:
        """Seconds without a beat after which a worker is taken for dead."""

    @property
    def metrics(self) -> WorkerMetrics:
        """The worker's measurements."""

    def running_jobs(self) -> list[Job]:
        """The jobs running now, oldest first."""

    def follow_pauses(self, queues: frozenset[str], me: bool) -> None:
        """The fleet pauses ``queues``, and this worker if ``me``."""

    def wake(self) -> None:
        """Wake the fetcher (jobs may be waiting)."""

    def recovered(self) -> None:
        """Other workers took this one for dead and gave its jobs back."""


class Housekeeping:
    """The background loops of one worker.

    Example::

        housekeeping = Housekeeping(worker, redis, registration, inflight, outage, chain)
        tasks = housekeeping.start()      # cancel them to stop
    """

    __slots__ = (
        "_beaten", "_chain", "_crew", "_shown", "inflight", "outage", "redis", "registration",
    )  # fmt: skip

    def __init__(
        self,
        crew: Crew,
        redis: Redis,
        registration: Registration,
        inflight: InFlight,
        outage: Outage,
        chain: tuple[hooks.Hooks, ...],
    ) -> None:
        self._crew = crew
        self.redis = redis
        self.registration = registration
        self.inflight = inflight
        self.outage = outage
        self._chain = chain
        self._beaten = time.monotonic()
        self._shown: list[Job] = []

    def start(self) -> list[asyncio.Task[None]]:
        """Start every loop; return their tasks."""
        loops = (
            ("liveness", self._liveness, self._crew.dead_after / 4),
            ("schedule", self._schedule, _SCHEDULE_INTERVAL),
            ("remote control", self._remote_control, _CONTROL_INTERVAL),
            ("registry", self._registry, _STATE_INTERVAL),
        )
        return [
            asyncio.create_task(
                forever(name, step, interval, outage=self.outage, chain=self._chain),
                name=f"pace-{name}",
            )
            for name, step, interval in loops
        ]

    async def recover_dead(self) -> None:
        """Put the jobs of every worker found dead back in their queues."""
        for dead in await self.registration.dead_workers():
            moved = await self.inflight.release(dead)
            if moved >= 0:
                logger.warning(
                    "worker %s is dead; %d of its jobs are back in their queues", dead, moved
                )

    async def _liveness(self) -> None:
        if not await self.registration.beat(self._crew.dead_after):
            self._crew.recovered()
        await self.recover_dead()

    async def _schedule(self) -> None:
        if await move_due(self.redis, self._crew.keys):
            self._crew.wake()  # the fetcher may be napping on empty queues

    async def prepare(self) -> None:
        """Before the first fetch: recover dead workers (their jobs go first), and follow the
        fleet's pauses (a queue paused for the fleet is never fetched by a worker just
        started; if they cannot be read, the remote-control loop keeps trying)."""
        await self.recover_dead()
        await attempt("remote control", self._remote_control, outage=self.outage, chain=self._chain)

    async def _remote_control(self) -> None:
        keys = self._crew.keys
        pauses = await read_pauses(self.redis, keys)
        queues = frozenset(p.name for p in pauses if p.kind == "queue")
        me = any(p.kind == "worker" and p.name == self._crew.id for p in pauses)
        everyone = await self.redis.get(keys.pause_all) in (b"true", "true")  # Resque's flag
        self._crew.follow_pauses(queues, me or everyone)
        self.inflight.limited = frozenset(map(text, await self.redis.smembers(keys.limits)))

    async def _registry(self) -> None:
        if time.monotonic() - self._beaten >= HEARTBEAT_INTERVAL:
            await self.registration.heartbeat()
            self._beaten = time.monotonic()
        running = self._crew.running_jobs()
        if running != self._shown:
            await self.registration.publish(running)
            self._shown = running
        metrics = self._crew.metrics.to_json(len(running), self.inflight.holds.waited)
        await self.registration.publish_metrics(metrics)
