"""Crash recovery end to end: workers killed with SIGKILL mid-run lose no job, on one Redis
and on a 3-master Redis Cluster (six queues spread over its masters), with jobs enqueued by
pace's client or by Ruby's (``tests/ruby/resque_client.rb``), which then reads the failure."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

import pace
from tests.cli_apps.jobs import DONE
from tests.support import lanes_left, needs_ruby, ruby, wait_for

TESTS = Path(__file__).parent
JOBS = 10_000


async def spawn_worker(env: dict[str, str], queues: list[str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pace.cli", "run", ",".join(queues), "--app", "cli_apps.jobs:mark",
        "--concurrency", "50", "--dead-after", "1", "--log-level", "WARNING",
        cwd=TESTS, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip


async def enqueue(by: str, client: pace.Client, redis_url: str, queues: list[str]) -> set[str]:
    """Enqueue ``JOBS`` ``Mark`` jobs, 1,000 a queue in turn, and one ``Boom`` on the last
    queue, by pace's client or Ruby's; return what they add to ``DONE`` when they run: the ids
    pace's client gave them, or (Ruby's gives none) their first arguments."""
    jobs = [(queues[i // 1000 % len(queues)], "Mark", [i]) for i in range(JOBS)]
    jobs.append((queues[-1], "Boom", ["boom"]))
    if by == "ruby":
        await ruby(redis_url, "enqueue", jobs)
        return {str(args[0]) for _, _, args in jobs}
    ids: set[str] = set()
    for (queue, class_name), group in itertools.groupby(jobs, key=lambda job: job[:2]):
        ids.update(await client.enqueue_many(queue, class_name, [args for *_, args in group]))
    return ids


async def failures(by: str, redis: Redis, redis_url: str) -> list[dict[str, Any]]:
    """The records of ``resque:failed``, as Ruby's client reads them or as Python's json
    does."""
    if by == "ruby":
        return await ruby(redis_url, "failed")
    return [json.loads(raw) for raw in await redis.lrange("resque:failed", 0, -1)]


@pytest.mark.parametrize("by", ["pace", pytest.param("ruby", marks=needs_ruby)])
@pytest.mark.parametrize(
    ("redis_url", "queues", "kills"),
    [("single", ["crash"], 3), ("cluster", [f"crash{i}" for i in range(6)], 1)],
    indirect=["redis_url"],
)
async def test_sigkilled_workers_lose_no_job(
    client: pace.Client,
    redis: Redis,
    redis_url: str,
    cli_env: dict[str, str],
    queues: list[str],
    kills: int,
    by: str,
) -> None:
    """Jobs enqueued by pace's client or Ruby's all run, none is left, and the failing one's
    record reads right (to Ruby, when Ruby enqueued)."""
    expected = await enqueue(by, client, redis_url, queues)
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    env = {**cli_env, "PYTHONPATH": str(TESTS.parent) + os.pathsep + cli_env.get("PYTHONPATH", "")}

    for kill in range(kills):  # workers each killed at a random moment of its run
        worker = await spawn_worker(env, queues)
        before = await redis.scard(DONE)
        target = before + rng.randrange(200, 2000)

        async def ran_some(target: int = target) -> bool:
            return await redis.scard(DONE) >= target

        await wait_for(ran_some, timeout=30)
        await asyncio.sleep(rng.uniform(0, 0.2))
        worker.send_signal(signal.SIGKILL)
        await worker.wait()
        assert await redis.scard(DONE) <= JOBS, f"seed {seed}: kill {kill} came too late to test"

    survivor = await spawn_worker(env, queues)
    try:

        async def all_done() -> bool:
            return await redis.scard(DONE) == len(expected)

        async def every_dead_worker_recovered() -> bool:
            """A worker killed holding only jobs it had run (their acknowledgement not yet
            stored) leaves nothing to run: the survivor recovers it once its alive key
            expires (``--dead-after 1``), maybe after the last job ran."""
            return await redis.scard("resque:pace:workers") <= 1

        await wait_for(all_done, timeout=60)
        await wait_for(every_dead_worker_recovered, timeout=10)
    finally:
        survivor.send_signal(signal.SIGTERM)
        await survivor.wait()
    done = {member.decode() for member in await redis.smembers(DONE)}
    assert done == expected, f"seed {seed}"
    assert [await redis.llen(f"resque:queue:{queue}") for queue in queues] == [0] * len(queues)
    (failure,) = await failures(by, redis, redis_url)
    assert list(failure) == [
        "failed_at", "payload", "exception", "error", "backtrace", "worker", "queue"
    ]  # fmt: skip
    payload = failure["payload"]
    assert (payload["class"], payload["args"], failure["exception"], failure["error"]) == (
        "Boom", ["boom"], "ValueError", "boom"
    )  # fmt: skip
    assert failure["queue"] == queues[-1]
    assert "cli_apps/jobs.py" in failure["backtrace"][0], "innermost first, as Ruby's"
    assert failure["worker"].split(":")[2] == ",".join(queues)  # host:pid:queues
    assert int(await redis.get("resque:stat:failed") or 0) == 1
    assert not await lanes_left(redis)
