"""Fleet-wide limits held by a fleet: four ``pace-worker run`` processes on one limited queue."""

from __future__ import annotations

import asyncio
import bisect
import json
import os
import signal
import sys
import time
from pathlib import Path

from redis.asyncio import Redis

import pace
from pace.keys import Keys
from tests.cli_apps.jobs import BEGUN, DONE, SPANS, STAMPS
from tests.support import wait_for
from tests.test_limits import in_flight

TESTS = Path(__file__).parent
KEYS = Keys()


async def worker(
    queue: str, app: str, env: dict[str, str], *options: str
) -> asyncio.subprocess.Process:
    """A ``pace-worker run`` process of ``queue``, concurrency 20."""
    env = {**env, "PYTHONPATH": str(TESTS.parent) + os.pathsep + env.get("PYTHONPATH", "")}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pace.cli", "run", queue, "--app", f"cli_apps.jobs:{app}",
        "--concurrency", "20", "--log-level", "WARNING", *options,
        cwd=TESTS, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip


async def fleet(queue: str, app: str, *args: str, **env: str) -> list[asyncio.subprocess.Process]:
    """Four worker processes of ``queue``."""
    return [await worker(queue, app, env, *args) for _ in range(4)]


async def stop(workers: list[asyncio.subprocess.Process]) -> None:
    for worker in workers:
        if worker.returncode is None:
            worker.send_signal(signal.SIGTERM)
    for worker in workers:
        await worker.wait()


async def test_four_workers_hold_a_rate_in_every_sliding_second(
    client: pace.Client, redis: Redis, cli_env: dict[str, str]
) -> None:
    """100/s over four processes for 8 s: no second of job starts (any second, not one of a
    fixed grid) holds more than 100, and the fleet runs at 100/s within 3%: 800 jobs start in
    8 s (the window is a second and 10 ms, so 1% under, and a job's slot opens a second after
    it started, not after it was taken)."""
    await pace.Limits(redis).set("limited", rate="100/s")
    await client.enqueue_many("limited", "Stamp", [[i] for i in range(850)])
    workers = await fleet("limited", "stamp", **cli_env)
    try:
        await wait_for(lambda: _length(redis, STAMPS, 850), timeout=60)
    finally:
        await stop(workers)
    starts = sorted(float(at) for at in await redis.lrange(STAMPS, 0, -1))
    busiest = max(bisect.bisect_left(starts, at + 1.0) - i for i, at in enumerate(starts))
    assert busiest <= 100
    assert 97.0 <= 800 / (starts[800] - starts[0]) <= 103.0
    assert await redis.hget(KEYS.limit("limited"), "admitted") == b"850"


async def test_four_workers_share_a_concurrency_and_a_killed_one_gives_its_slots_back(
    client: pace.Client, redis: Redis, cli_env: dict[str, str]
) -> None:
    """Five in flight over four processes of concurrency 20: never more than five jobs run at
    once, and five do (a slot that frees is taken again at once); a worker SIGKILLed while it
    holds slots gives them back when the others find it dead, and every job runs to the end."""
    await pace.Limits(redis).set("capped", concurrency=5)
    ids = await client.enqueue_many("capped", "Span", [[0.4] for _ in range(25)])
    workers = await fleet("capped", "span", "--dead-after", "1", **cli_env)
    by_pid = {worker.pid: worker for worker in workers}
    limit = KEYS.limit("capped")
    try:
        await wait_for(lambda: _length(redis, SPANS, 10), timeout=30)
        holders = {  # a fetch list: <lane>:<fetch>, the lane ends with the worker id
            int(field.decode().rsplit(":", 3)[1])
            for field in await redis.hkeys(limit)
            if field.startswith(b"resque:pace:inflight")
        }
        killed_at = time.time()
        victim = by_pid[holders.pop()]
        victim.send_signal(signal.SIGKILL)
        await victim.wait()
        await wait_for(lambda: _length(redis, SPANS, 25), timeout=30)
        await wait_for(lambda: _no_slots(redis), timeout=5)
    finally:
        await stop(workers)
    spans = [json.loads(raw) for raw in await redis.lrange(SPANS, 0, -1)]
    assert {job_id for job_id, *_ in spans} == set(ids)  # at least once: the victim's jobs
    # that ended before their success was stored ran again
    ended = {f"{job_id}:{pid}" for job_id, pid, *_ in spans}
    cut = [  # the jobs the kill stopped ran until then
        (float(at), killed_at)
        for run, at in (await redis.hgetall(BEGUN)).items()
        if run.decode() not in ended
    ]
    runs = [(start, end) for _, _, start, end in spans] + cut
    assert max(_at_once(runs, at) for at, _ in runs) == 5
    first = min(start for start, _ in runs)
    assert _mean_at_once(runs, first, killed_at) >= 4.0


async def _length(redis: Redis, key: str, count: int) -> bool:
    return bool(await redis.llen(key) >= count)


async def _no_slots(redis: Redis) -> bool:
    return await in_flight(redis, "capped") == 0


def _at_once(runs: list[tuple[float, float]], at: float) -> int:
    return sum(1 for start, end in runs if start <= at < end)


def _mean_at_once(runs: list[tuple[float, float]], begin: float, end: float) -> float:
    """The jobs running at once, on average over ``begin`` to ``end``."""
    covered = sum(max(0.0, min(stop, end) - max(start, begin)) for start, stop in runs)
    return covered / (end - begin)


async def test_a_pace_worker_run_serves_its_other_queue_while_a_limit_holds_the_first(
    client: pace.Client, redis: Redis, cli_env: dict[str, str]
) -> None:
    """``pace-worker run limited,other``: while ``limited`` waits for its rate (2/m), every
    job of ``other`` runs, and ``limited``'s jobs wait in their queue."""
    await pace.Limits(redis).set("limited", rate="2/m")
    limited = await client.enqueue_many("limited", "Mark", [[i] for i in range(50)])
    other = await client.enqueue_many("other", "Mark", [[i] for i in range(300)])
    process = await worker("limited,other", "mark", cli_env)
    try:
        await wait_for(lambda: _all_done(redis, other), timeout=30)
    finally:
        await stop([process])
    done = {member.decode() for member in await redis.smembers(DONE)}
    assert len(done & set(limited)) == 2
    assert await redis.llen("resque:queue:limited") == 48  # more than the worker has room for


async def _all_done(redis: Redis, ids: list[str]) -> bool:
    done = await redis.smismember(DONE, ids)
    return all(done)
