"""Helpers shared by the tests (fixtures live in conftest.py)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
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


RESQUE_CLIENT = Path(__file__).parent / "ruby" / "resque_client.rb"
"""Ruby's side of the Resque contract (redis-rb and json only): what Resque enqueues and how
``Resque::Failure::Redis`` reads ``resque:failed``."""


def _ruby_missing() -> str | None:
    """Why Ruby's client cannot run here (``None``: it can)."""
    try:
        found = subprocess.run(["ruby", "-e", 'require "redis"'], capture_output=True, timeout=60)
    except FileNotFoundError:
        return "ruby is not installed"
    return None if found.returncode == 0 else "ruby cannot load redis-rb"


RUBY_MISSING = _ruby_missing()
needs_ruby = pytest.mark.skipif(
    RUBY_MISSING is not None and not os.environ.get("CI"),
    reason=f"{RUBY_MISSING} (Debian: apt-get install ruby ruby-redis; make test does it)",
)
"""For a test that runs Ruby's client: skipped where Ruby cannot run, but never in CI
(``CI`` set), whose ``make test`` installs it: there the test runs and fails."""


async def ruby(redis_url: str, command: str, lines: Iterable[Any] = ()) -> list[Any]:
    """Run Ruby's client (:data:`RESQUE_CLIENT`) on ``redis_url``: ``command`` with ``lines``
    as JSON lines on its stdin; return what it printed, a JSON value a line.

    Example::

        await ruby(redis_url, "enqueue", [["mail", "SendMail", ["bob@example.com"]]])
        (record,) = await ruby(redis_url, "failed")
    """
    assert RUBY_MISSING is None, RUBY_MISSING
    process = await asyncio.create_subprocess_exec(
        "ruby", str(RESQUE_CLIENT), redis_url, command,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdin = "".join(json.dumps(line) + "\n" for line in lines).encode()
    out, err = await process.communicate(stdin)
    assert process.returncode == 0, err.decode()
    return [json.loads(line) for line in out.splitlines()]
