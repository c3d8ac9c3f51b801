"""Faults between a worker and Redis, and inputs that break the building of an outcome."""

from __future__ import annotations

import asyncio
import json
import logging
import tempfile
import time
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

import pace
import pace.connection
from pace.embedded import EmbeddedRedis
from pace.keys import Keys
from pace.worker.schedule import move_due
from tests.faultproxy import FaultProxy
from tests.support import Starter, noop, wait_for


async def test_a_failure_whose_payload_cannot_be_encoded_again_keeps_the_raw_text(
    redis: Redis,
) -> None:
    """A payload nested 1,000 deep decodes, but encoding its record raised RecursionError:
    the job stayed in flight with no record and went back to its queue, to fail again."""
    deep = '{"class":"Deep","args":' + "[" * 1000 + "]" * 1000 + "}"
    await redis.rpush("resque:queue:q", deep)

    async def broken(job: pace.Job) -> None:
        raise ValueError("no")

    await pace.Worker(["q"], redis=redis, burst=True).start(broken)
    (raw,) = await redis.lrange("resque:failed", 0, -1)
    record = json.loads(raw)
    assert (record["exception"], record["payload"]) == ("ValueError", deep)
    assert await redis.llen("resque:queue:q") == 0


async def test_an_exception_whose_message_raises_still_gets_a_record(redis: Redis) -> None:
    class Unprintable(Exception):
        def __str__(self) -> str:
            raise RuntimeError("cannot say")

    await pace.Client(redis=redis).enqueue("q", "Job")

    async def broken(job: pace.Job) -> None:
        raise Unprintable

    await pace.Worker(["q"], redis=redis, burst=True).start(broken)
    (raw,) = await redis.lrange("resque:failed", 0, -1)
    assert "whose message raised an error" in json.loads(raw)["error"]


@pytest.fixture
def clock_behind(monkeypatch: pytest.MonkeyPatch) -> None:
    """This machine's clock 20 s behind Redis' (and every other worker's)."""
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() - 20)


@pytest.mark.usefixtures("clock_behind")
async def test_a_retry_is_due_by_redis_clock_not_the_workers(
    client: pace.Client, start: Starter
) -> None:
    """A worker 20 s behind ran Retry(delay=3) after 0.1 s (one 20 s ahead after 23 s)."""
    runs: list[float] = []

    async def handler(job: pace.Job) -> None:
        runs.append(time.monotonic())
        if job.attempt == 1:
            raise pace.Retry(delay=1)

    await client.enqueue("q", "Job")
    await start(["q"], handler)
    await wait_for(lambda: len(runs) == 2, timeout=10)
    assert runs[1] - runs[0] >= 0.95


@pytest.mark.usefixtures("clock_behind")
async def test_enqueue_in_is_due_by_redis_clock(client: pace.Client, redis: Redis) -> None:
    await client.enqueue_in(30, "q", "Later")
    seconds, micros = await redis.time()
    ((_member, due),) = await redis.zrange("resque:pace:schedule", 0, -1, withscores=True)
    assert due - (seconds + micros / 1e6) == pytest.approx(30, abs=1)


async def test_ten_thousand_jobs_due_at_once_are_moved_in_one_pass(redis: Redis) -> None:
    """The scheduler moved at most 500 per 0.25 s: 10,000 due jobs ran up to 5 s late."""
    entries = {f'q:{{"class":"Job","args":[{i}]}}': i / 1000 for i in range(10_000)}
    await redis.zadd("resque:pace:schedule", entries)
    assert await move_due(redis, Keys()) == 10_000
    assert await redis.zcard("resque:pace:schedule") == 0
    first, last = await redis.lindex("resque:queue:q", 0), await redis.lindex("resque:queue:q", -1)
    assert (json.loads(first)["args"], json.loads(last)["args"]) == ([0], [9999]), "due order"


async def test_a_redis_restart_is_logged_as_one_outage(caplog: pytest.LogCaptureFixture) -> None:
    """Workers logged 2-4 'unavailable'/'back' pairs per outage."""
    with tempfile.TemporaryDirectory(prefix="pace-") as directory:
        server = EmbeddedRedis(directory).start()
        try:
            async with pace.Client(server.url) as client:
                await client.enqueue_many("q", "Job", [[i] for i in range(200)])
            ran: list[Any] = []

            async def handler(job: pace.Job) -> None:
                ran.append(job.args[0])
                await asyncio.sleep(0.01)

            worker = pace.Worker(["q"], redis_url=server.url, concurrency=5)
            task = asyncio.create_task(worker.start(handler))
            with caplog.at_level(logging.WARNING, logger="pace"):
                await wait_for(lambda: len(ran) > 20)
                server.stop()
                await wait_for(lambda: "Redis is unavailable" in caplog.text)
                server.start()
                await wait_for(lambda: len(ran) >= 200, timeout=30)
                await wait_for(lambda: "Redis is back" in caplog.text, timeout=10)
                await worker.stop()
                await task
            messages = [r.getMessage() for r in caplog.records]
            assert sum(m.startswith("Redis is unavailable") for m in messages) == 1, messages
            assert sum(m == "Redis is back" for m in messages) == 1, messages
        finally:
            server.stop()


async def test_every_loop_recovers_from_a_half_open_connection(
    redis: Redis, redis_server: EmbeddedRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With redis-py's defaults (no read timeout), a connection whose peer went silent hung
    the loops forever; pace sets its own timeouts (here shortened to 1 s)."""
    monkeypatch.setitem(pace.connection.TIMEOUTS, "socket_timeout", 1.0)
    ran: list[int] = []
    errors: list[BaseException] = []

    async def handler(job: pace.Job) -> None:
        ran.append(job.args[0])

    async with FaultProxy(str(redis_server.socket_path)) as proxy:
        worker = pace.Worker(["q"], redis_url=proxy.url, dead_after=2.0)
        worker.add_hook("error", lambda payload, exc: errors.append(exc))
        task = asyncio.create_task(worker.start(handler))
        client = pace.Client(redis=redis)
        await client.enqueue("q", "Job", 1)
        await wait_for(lambda: ran == [1])
        proxy.blackhole()
        await wait_for(lambda: errors, timeout=10)
        proxy.heal()
        alive = f"resque:pace:worker:{worker.id}:alive"
        await redis.delete(alive, f"resque:pace:worker:{worker.id}:metrics")
        await wait_for(lambda: redis.exists(alive), timeout=10)  # liveness
        await wait_for(lambda: redis.exists(f"resque:pace:worker:{worker.id}:metrics"))
        await pace.Pauses(redis).pause_worker(worker.id)
        await wait_for(lambda: worker.paused, timeout=10)  # remote control
        await pace.Pauses(redis).resume_worker(worker.id)
        await client.enqueue("q", "Job", 2)
        await wait_for(lambda: ran == [1, 2], timeout=10)  # fetch
        await worker.stop()
        await task


async def test_redis_going_away_while_a_worker_registers_is_waited_out(
    client: pace.Client, redis: Redis, redis_url: str
) -> None:
    """It raised redis' own ConnectionError out of start() (a traceback from the CLI)."""
    failures = 3

    class AwayAtFirst(Redis):
        async def execute_command(self, *args: Any, **options: Any) -> Any:
            nonlocal failures
            if args[0] == "TIME" and failures:  # the heartbeat's clock, read while registering
                failures -= 1
                raise RedisConnectionError("Redis restarting")
            return await super().execute_command(*args, **options)

    await client.enqueue("q", "Job")
    away = AwayAtFirst.from_url(redis_url)
    try:
        await pace.Worker(["q"], redis=away, burst=True).start(noop)
    finally:
        await away.aclose()
    assert failures == 0
    assert await redis.get("resque:stat:processed") == b"1"
