"""Remote control: fleet-wide timed queue pauses and single-worker pauses, and their CLI."""

from __future__ import annotations

import asyncio
import sys
import time

import pytest
from redis.asyncio import Redis

import pace
from tests.support import Starter, noop, on_both, wait_for


@on_both
async def test_a_paused_queue_stops_within_a_second_and_resumes_by_itself(
    client: pace.Client, redis: Redis, start: Starter
) -> None:
    starts: dict[str, list[float]] = {"a": [], "b": []}

    async def handler(job: pace.Job) -> None:
        starts[job.queue].append(time.monotonic())
        await asyncio.sleep(0.01)

    await start(["a", "b"], handler, concurrency=4)
    feeding = asyncio.create_task(feed(client))
    try:
        await wait_for(lambda: len(starts["a"]) > 20)
        await pace.Pauses(redis).pause_queue("a", seconds=2.0)
        paused_at = time.monotonic()
        await asyncio.sleep(1.5)
        late = [t for t in starts["a"] if t > paused_at + 1.0]
        assert late == [], "a job of the paused queue started more than 1 s after the pause"
        count_b = len(starts["b"])
        await wait_for(lambda: len(starts["b"]) > count_b, timeout=2)  # b kept going
        await wait_for(lambda: any(t > paused_at + 2.0 for t in starts["a"]), timeout=3)
        assert await pace.Pauses(redis).list() == []
    finally:
        feeding.cancel()


async def feed(client: pace.Client) -> None:
    """Keep both queues supplied."""
    while True:
        await client.enqueue_many("a", "Job", [[i] for i in range(20)])
        await client.enqueue_many("b", "Job", [[i] for i in range(20)])
        await asyncio.sleep(0.1)


@on_both
async def test_a_field_pace_did_not_write_is_skipped_and_other_pauses_still_hold(
    redis: Redis, start: Starter
) -> None:
    """A progress scope named ``paused`` once wrote JSON into this hash: the remote-control
    loop raised on it, died, and the worker ignored every fleet pause from then on."""
    await redis.hset("resque:pace:paused", "job-id", '{"percent": 10}')
    await redis.hset("resque:pace:paused", "queue:q", "soon")
    worker = await start(["q"], noop)
    await pace.Pauses(redis).pause_worker(worker.id)
    await wait_for(lambda: worker.paused, timeout=3)
    assert [(p.kind, p.name) for p in await pace.Pauses(redis).list()] == [
        ("worker", worker.id)
    ]


@on_both
async def test_pausing_one_worker_and_resuming_it(
    client: pace.Client, redis: Redis, start: Starter
) -> None:
    ran: list[int] = []

    async def handler(job: pace.Job) -> None:
        ran.append(job.args[0])

    worker = await start(["q"], handler)
    pauses = pace.Pauses(redis)
    await pauses.pause_worker(worker.id)
    await wait_for(lambda: worker.paused, timeout=2)
    await client.enqueue("q", "Job", 1)
    await asyncio.sleep(0.3)
    assert ran == []
    assert [(p.kind, p.name, p.until) for p in await pauses.list()] == [("worker", worker.id, None)]
    await pauses.resume_worker(worker.id)
    await wait_for(lambda: ran == [1], timeout=2)
    assert not worker.paused


@on_both
async def test_bad_pauses_are_refused(redis: Redis) -> None:
    pauses = pace.Pauses(redis)
    with pytest.raises(pace.ConfigError):
        await pauses.pause_queue("a:b")
    with pytest.raises(pace.ConfigError):
        await pauses.pause_queue("q", seconds=-1)


@on_both
async def test_the_cli_pauses_and_resumes_a_queue(redis: Redis, cli_env: dict[str, str]) -> None:
    async def cli(*args: str) -> tuple[int, str]:
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "pace.cli", *args, env=cli_env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await asyncio.wait_for(child.communicate(), timeout=30)
        assert child.returncode is not None
        return child.returncode, out.decode()

    assert (await cli("pause", "mail", "--for", "30s"))[0] == 0
    (pause,) = await pace.Pauses(redis).list()
    assert (pause.kind, pause.name) == ("queue", "mail")
    assert pause.until is not None
    assert 25 < pause.until - time.time() <= 30
    status, out = await cli("pause", "mail", "--for", "soon")
    assert status == 2
    assert "--for" in out
    assert (await cli("resume", "mail"))[0] == 0
    assert await pace.Pauses(redis).list() == []
