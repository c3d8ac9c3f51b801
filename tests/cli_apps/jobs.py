"""Job handlers for the CLI tests; each records what it ran where the test can see it.

They write to the Redis at ``$REDIS_URL`` (the test session's), on a connection of their own,
or, for the embedded-Redis test, append a line to the file named by ``$PACE_TEST_OUT``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from typing import Any

from redis.asyncio import Redis

import pace

RAN = "test:ran"
"""List of ``[class, args]`` JSON, one per job a handler finished."""
STARTED = "test:started"
"""List of the tags of the ``Slow`` jobs that started."""
FINISHED = "test:finished"
"""List of the tags of the ``Slow`` jobs that ran to the end."""


async def _rpush(key: str, value: Any) -> None:
    async with await pace.connect(os.environ["REDIS_URL"]) as redis:  # a cluster's URL too
        await redis.rpush(key, json.dumps(value))


async def record(job: pace.Job) -> None:
    """Push ``[class, args]`` onto ``test:ran``."""
    await _rpush(RAN, [job.class_name, job.args])


async def slow(job: pace.Job) -> None:
    """Args ``[seconds, tag]``: push the tag onto ``test:started``, sleep, push it onto
    ``test:finished``."""
    seconds, tag = job.args
    await _rpush(STARTED, tag)
    await asyncio.sleep(seconds)
    await _rpush(FINISHED, tag)


async def slow_cleanup(job: pace.Job) -> None:
    """Args ``[seconds, tag]``: like ``slow``, but cancelling it takes one more second of
    cleanup (closing a session, say) before the cancellation goes on."""
    seconds, tag = job.args
    await _rpush(STARTED, tag)
    try:
        await asyncio.sleep(seconds)
    finally:
        await asyncio.sleep(1.0)
    await _rpush(FINISHED, tag)


async def stubborn(job: pace.Job) -> None:
    """Args ``[tag]``: push the tag onto ``test:started``, then run forever, swallowing every
    cancellation."""
    await _rpush(STARTED, job.args[0])
    while True:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(3600)


DONE = "test:done"
"""Set of the ids of the ``Mark`` jobs that ran (of one enqueued without an id, by Ruby's
client, its first argument)."""
_shared: Redis | None = None


async def _redis() -> Redis:
    """One connection shared by every job of the process (a cluster's URL too)."""
    global _shared
    if _shared is None:
        _shared = await pace.connect(os.environ["REDIS_URL"])
    return _shared


async def mark(job: pace.Job) -> None:
    """Add the job's id (or, for a job without one, its first argument) to ``test:done`` (on
    one connection shared by every job); a job of class ``Boom`` fails after that."""
    await asyncio.sleep(0.001)
    await (await _redis()).sadd(DONE, job.id or str(job.args[0]))
    if job.class_name == "Boom":
        raise ValueError("boom")


STAMPS = "test:stamps"
"""List of the times (``time.time()``) the ``stamp`` jobs started."""


async def stamp(job: pace.Job) -> None:
    """Push the time the job started onto ``test:stamps``."""
    started = time.time()
    await (await _redis()).rpush(STAMPS, repr(started))


BEGUN = "test:begun"
"""Hash of ``<job id>:<pid>`` to the time a ``span`` job started, in that process."""
SPANS = "test:spans"
"""List of ``[job id, pid, start, end]`` JSON of the ``span`` jobs that ran to the end."""


async def span(job: pace.Job) -> None:
    """Args ``[seconds]``: record the start in ``test:begun``, sleep, push the run's span onto
    ``test:spans``."""
    started, pid = time.time(), os.getpid()
    redis = await _redis()
    await redis.hset(BEGUN, f"{job.id}:{pid}", repr(started))
    await asyncio.sleep(job.args[0])
    await redis.rpush(SPANS, json.dumps([job.id, pid, started, time.time()]))


async def to_file(job: pace.Job) -> None:
    """Append ``[class, args]`` as a JSON line to the file ``$PACE_TEST_OUT``."""
    with open(os.environ["PACE_TEST_OUT"], "a", encoding="utf-8") as out:
        out.write(json.dumps([job.class_name, job.args]) + "\n")


registry = {"Record": record, "Slow": slow, "SlowCleanup": slow_cleanup, "Stubborn": stubborn}
"""A registry app: a job class missing from it becomes a failure."""


def not_a_coroutine(job: pace.Job) -> None:
    """A plain function: ``--app`` must refuse it."""
