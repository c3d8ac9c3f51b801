"""Crash recovery end to end: workers killed with SIGKILL mid-run lose no job."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
from pathlib import Path

from redis.asyncio import Redis

import pace
from tests.cli_apps.jobs import DONE
from tests.support import lanes_left, wait_for

TESTS = Path(__file__).parent
JOBS = 10_000


async def spawn_worker(env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pace.cli", "run", "crash", "--app", "cli_apps.jobs:mark",
        "--concurrency", "50", "--dead-after", "1", "--log-level", "WARNING",
        cwd=TESTS, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip


async def test_sigkilled_workers_lose_no_job(
    client: pace.Client, redis: Redis, cli_env: dict[str, str]
) -> None:
    ids: set[str] = set()
    for start in range(0, JOBS, 1000):
        ids.update(
            await client.enqueue_many("crash", "Mark", [[i] for i in range(start, start + 1000)])
        )
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    env = {**cli_env, "PYTHONPATH": str(TESTS.parent) + os.pathsep + cli_env.get("PYTHONPATH", "")}

    for kill in range(3):  # three workers, each killed at a random moment of its run
        worker = await spawn_worker(env)
        before = await redis.scard(DONE)
        target = before + rng.randrange(200, 2000)

        async def ran_some(target: int = target) -> bool:
            return await redis.scard(DONE) >= target

        await wait_for(ran_some, timeout=30)
        await asyncio.sleep(rng.uniform(0, 0.2))
        worker.send_signal(signal.SIGKILL)
        await worker.wait()
        assert await redis.scard(DONE) < JOBS, f"seed {seed}: kill {kill} came too late to test"

    survivor = await spawn_worker(env)
    try:

        async def all_done() -> bool:
            return await redis.scard(DONE) == JOBS

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
    assert {member.decode() for member in await redis.smembers(DONE)} == ids, f"seed {seed}"
    assert await redis.llen("resque:queue:crash") == 0
    assert await redis.llen("resque:failed") == 0
    assert not await lanes_left(redis)
