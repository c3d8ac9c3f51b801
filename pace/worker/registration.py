"""A worker's entry in Resque's worker registry, as Ruby Resque and resque-web read it, and
pace's own liveness key.

Start-up writes the heartbeat first, then registers (Ruby's order). The heartbeat is refreshed
every 60 s, the Ruby schedule, so Ruby (which prunes after 300 s) never prunes a live pace
worker. ``resque:worker:ID`` shows one job in progress (the oldest), as Ruby's worker would;
pace's ``resque:pace:worker:ID:jobs`` lists every job a concurrent worker is running.

Beside that, every few seconds a worker refreshes ``resque:pace:worker:ID:alive``, whose short
TTL (``dead_after``) lets other workers find a dead one quickly and recover its jobs
(:meth:`pace.worker.inflight.InFlight.release`, which also unregisters it).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from redis.asyncio import Redis

from pace.connection import atomic, text
from pace.job import Job
from pace.keys import Keys
from pace.wire import iso8601, ruby_time, utcnow, working_on

__all__ = ["HEARTBEAT_INTERVAL", "Registration"]

HEARTBEAT_INTERVAL = 60.0
"""Seconds between heartbeats: Ruby Resque's own interval."""



class Registration:
    """Registers, heartbeats and publishes the jobs in progress of one worker."""

    __slots__ = ("keys", "redis", "registered", "worker_id")

    def __init__(self, redis: Redis, keys: Keys, worker_id: str) -> None:
        self.redis = redis
        self.keys = keys
        self.worker_id = worker_id
        self.registered = False  # register() has run for this worker_id

    def rename(self, worker_id: str) -> None:
        """Go on under another id (register it next)."""
        self.worker_id, self.registered = worker_id, False

    async def heartbeat(self) -> None:
        """``HSET resque:workers:heartbeat ID <Redis TIME, ISO 8601>``."""
        seconds, _micro = await self.redis.time()
        beat = iso8601(datetime.fromtimestamp(seconds, UTC))
        await self.redis.hset(self.keys.heartbeats, self.worker_id, beat)

    async def register(self, dead_after: float) -> None:
        """Mark the worker alive, heartbeat, then ``SADD resque:workers`` and its start time."""
        await self.beat(dead_after)
        await self.heartbeat()
        async with self.redis.pipeline(transaction=atomic(self.redis)) as pipe:
            pipe.sadd(self.keys.workers, self.worker_id)
            pipe.set(self.keys.worker_started(self.worker_id), ruby_time(utcnow()))
            await pipe.execute()
        self.registered = True

    async def beat(self, dead_after: float) -> bool:
        """Refresh pace's liveness key (TTL ``dead_after``) and the registrations that a
        recovery (of a worker wrongly presumed dead) may have removed; False if one had: the
        worker was recovered (its jobs given back, its lanes fenced)."""
        registered = self.registered
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.set(self.keys.alive(self.worker_id), b"1", px=int(dead_after * 1000))
            pipe.sadd(self.keys.pace_workers, self.worker_id)
            pipe.sadd(self.keys.workers, self.worker_id)
            _, added, _ = await pipe.execute()
        return not (registered and added)

    async def dead_workers(self) -> list[str]:
        """Ids of pace workers whose liveness key has expired."""
        others = [text(member) for member in await self.redis.smembers(self.keys.pace_workers)]
        others = [worker_id for worker_id in others if worker_id != self.worker_id]
        if not others:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for worker_id in others:
                pipe.exists(self.keys.alive(worker_id))
            alive = await pipe.execute()
        return [worker_id for worker_id, up in zip(others, alive, strict=True) if not up]

    async def publish_metrics(self, metrics: bytes) -> None:
        """Store the worker's metrics JSON (pace.metrics)."""
        await self.redis.set(self.keys.worker_metrics(self.worker_id), metrics)

    async def publish(self, running: Iterable[Job]) -> None:
        """Show the jobs in progress: the oldest in Resque's key, all of them in pace's."""
        entries = [working_on(job.queue, job.started_at, job.raw) for job in running]
        worker_key = self.keys.worker(self.worker_id)
        jobs_key = self.keys.worker_jobs(self.worker_id)
        async with self.redis.pipeline(transaction=atomic(self.redis)) as pipe:
            if entries:
                pipe.set(worker_key, entries[0])
                pipe.set(jobs_key, b"[" + b",".join(entries) + b"]")
            else:
                pipe.delete(worker_key, jobs_key)
            await pipe.execute()
