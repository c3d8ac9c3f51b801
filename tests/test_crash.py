"""Crash recovery end to end: workers killed with SIGKILL mid-run lose no job, on one Redis
and on a 3-master Redis Cluster (six queues spread over its masters)."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sys
from pathlib import Path

import pytest
from redis.asyncio import Redis

import pace
from tests.cli_apps.jobs import DONE
from tests.support import lanes_left, wait_for

TESTS = Path(__file__).parent
JOBS = 10_000


async def spawn_worker(env: dict[str, str], queues: list[str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pace.cli", "run", ",".join(queues), "--app", "cli_apps.jobs:mark",
        "--concurrency", "50", "--dead-after", "1", "--log-level", "WARNING",
        cwd=TESTS, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("redis_url", "queues", "kills"),
    [("single", ["crash"], 3), ("cluster", [f"crash{i}" for i in range(6)], 1)],
    indirect=["redis_url"],
)
async def test_sigkilled_workers_lose_no_job(
    client: pace.Client, redis: Redis, cli_env: dict[str, str], queues: list[str], kills: int
) -> None:
    ids: set[str] = set()
    for start in range(0, JOBS, 1000):
        queue = queues[start // 1000 % len(queues)]
        ids.update(
            await client.enqueue_many(queue, "Mark", [[i] for i in range(start, start + 1000)])
        )
    boom = await client.enqueue(queues[-1], "Boom", "x")
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
            return await redis.scard(DONE) == JOBS + 1

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
    assert done == ids | {boom}, f"seed {seed}"
    assert [await redis.llen(f"resque:queue:{queue}") for queue in queues] == [0] * len(queues)
    (failure,) = [json.loads(raw) for raw in await redis.lrange("resque:failed", 0, -1)]
    assert list(failure) == [
        "failed_at", "payload", "exception", "error", "backtrace", "worker", "queue"
    ]  # fmt: skip
    assert (failure["payload"]["class"], failure["exception"], failure["queue"]) == (
        "Boom", "ValueError", queues[-1]
    )
    assert failure["worker"].endswith(":" + ",".join(queues))
    assert int(await redis.get("resque:stat:failed") or 0) == 1
    assert not await lanes_left(redis)
