"""Helpers shared by the tests (fixtures live in conftest.py)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import pace
from pace.worker.inflight import Fenced, InFlight, Member, Ref

on_both = pytest.mark.parametrize("redis_url", ["single", "cluster"], indirect=True)
"""Run a test on the session's Redis and again on its 3-master cluster (``conftest.py``): the
``redis``, ``client``, ``start`` and ``cli_env`` fixtures follow."""

on_both_queues = pytest.mark.parametrize(
    ("redis_url", "queue"), [("single", "stages"), ("cluster", "{stages}")], indirect=["redis_url"]
)
"""A staged-group test on one Redis (its default queue) and on the cluster, where a group's
queue has a hash tag."""

on_cluster = pytest.mark.parametrize("redis_url", ["cluster"], indirect=True)
"""Run a test on the session's 3-master cluster only."""

Starter = Callable[..., Awaitable[pace.Worker]]
"""The ``start`` fixture: ``await start(queues, handler, **worker_settings)``."""


async def wait_for(condition: Callable[[], Any], timeout: float = 5.0) -> None:
    """Poll ``condition`` (sync, or returning an awaitable) until it is truthy; fail after
    ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def keys_matching(redis: Any, pattern: str) -> list[bytes]:
    """The keys matching ``pattern`` (``SCAN``: on every master of a cluster, where ``KEYS``
    asks one node)."""
    return [key async for key in redis.scan_iter(match=pattern)]


async def lanes_left(redis: Any) -> list[bytes]:
    """The in-flight keys left, but for the fences of recovered lanes (they expire)."""
    keys = await keys_matching(redis, "resque:pace:inflight:*")
    return [key for key in keys if not key.endswith(b":fenced")]


async def noop(job: pace.Job) -> None:
    """A handler that does nothing."""


async def take_one(inflight: InFlight, queue: str) -> Ref:
    """Take the job at the head of ``queue`` into a worker's lane, as its fetch does."""
    (ref,) = await inflight.exchange([], {queue: 1})
    return ref


def raw_of(ref: Ref) -> bytes:
    """The payload of a job fetched."""
    take, index = ref
    return take.raws[index]


async def succeed(inflight: InFlight, ref: Ref, member: Member | None) -> int:
    """Store a job's success as a worker does; return how many jobs that settled (0 if it
    was settled before or recovered by another worker)."""
    exchange = await inflight.prepare([(ref, member)], {})
    with contextlib.suppress(Fenced):  # its worker was recovered: its lanes refuse it
        await inflight.send(exchange)
    return exchange.settled
