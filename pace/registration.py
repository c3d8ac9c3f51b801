"""A worker's entry in Resque's worker registry, as Ruby Resque and resque-web read it.

Start-up writes the heartbeat first, then registers (Ruby's order). The heartbeat is refreshed
every 60 s, the Ruby schedule, so Ruby (which prunes after 300 s) never prunes a live pace
worker. ``resque:worker:ID`` shows one job in progress (the oldest), as Ruby's worker would;
pace's ``resque:pace:worker:ID:jobs`` lists every job a concurrent worker is running.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime

from redis.asyncio import Redis

from pace._time import iso8601, ruby_time, utcnow
from pace.job import Job
from pace.keys import Keys

__all__ = ["HEARTBEAT_INTERVAL", "Registration"]

HEARTBEAT_INTERVAL = 60.0
"""Seconds between heartbeats: Ruby Resque's own interval."""


def _working_on(job: Job) -> bytes:
    """``{"queue":..,"run_at":..,"payload":..}``, Ruby's ``working_on`` JSON; raw bytes reused."""
    run_at = iso8601(datetime.fromtimestamp(job.started_at, UTC), z=True)
    head = f'{{"queue":{json.dumps(job.queue)},"run_at":"{run_at}","payload":'.encode()
    return head + job.raw + b"}"


class Registration:
    """Registers, heartbeats, publishes the jobs in progress of, and unregisters one worker."""

    __slots__ = ("keys", "redis", "worker_id")

    def __init__(self, redis: Redis, keys: Keys, worker_id: str) -> None:
        self.redis = redis
        self.keys = keys
        self.worker_id = worker_id

    async def heartbeat(self) -> None:
        """``HSET resque:workers:heartbeat ID <Redis TIME, ISO 8601>``."""
        seconds, _micro = await self.redis.time()
        beat = iso8601(datetime.fromtimestamp(seconds, UTC))
        await self.redis.hset(self.keys.heartbeats, self.worker_id, beat)

    async def register(self) -> None:
        """Heartbeat, then ``SADD resque:workers`` and the ``started`` time."""
        await self.heartbeat()
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.sadd(self.keys.workers, self.worker_id)
            pipe.set(self.keys.worker_started(self.worker_id), ruby_time(utcnow()))
            await pipe.execute()

    async def publish(self, running: Iterable[Job]) -> None:
        """Show the jobs in progress: the oldest in Resque's key, all of them in pace's."""
        entries = [_working_on(job) for job in running]
        worker_key = self.keys.worker(self.worker_id)
        jobs_key = self.keys.worker_jobs(self.worker_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            if entries:
                pipe.set(worker_key, entries[0])
                pipe.set(jobs_key, b"[" + b",".join(entries) + b"]")
            else:
                pipe.delete(worker_key, jobs_key)
            await pipe.execute()

    async def unregister(self) -> None:
        """Remove every trace of the worker, as Ruby's ``unregister_worker`` does."""
        worker_id = self.worker_id
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.srem(self.keys.workers, worker_id)
            pipe.delete(
                self.keys.worker(worker_id),
                self.keys.worker_started(worker_id),
                self.keys.worker_jobs(worker_id),
                self.keys.stat("processed", worker_id),
                self.keys.stat("failed", worker_id),
            )
            pipe.hdel(self.keys.heartbeats, worker_id)
            await pipe.execute()
