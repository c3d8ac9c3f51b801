"""Faults between a worker and Redis, and inputs that break the building of an outcome."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import sys
import tempfile
import time
from asyncio.subprocess import DEVNULL, PIPE, Process
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import ConnectionError as RedisConnectionError

import pace
import pace.connection
import pace.wire
from pace.embedded import EmbeddedRedis
from pace.keys import Keys
from pace.lua import script
from pace.worker.inflight import InFlight
from pace.worker.schedule import move_due
from tests.cli_apps.jobs import RAN
from tests.faultproxy import FaultProxy
from tests.support import Starter, lanes_left, noop, wait_for

TESTS = Path(__file__).parent


async def one_job_in_burst(client: pace.Client, redis: Redis, handler: Any) -> None:
    """Enqueue a job in 'q' and run a burst worker on ``redis`` (closed after)."""
    await client.enqueue("q", "Job")
    try:
        await pace.Worker(["q"], redis=redis, burst=True).start(handler)
    finally:
        await redis.aclose()


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

    await one_job_in_burst(client, AwayAtFirst.from_url(redis_url), noop)
    assert failures == 0
    assert await redis.get("resque:stat:processed") == b"1"


async def spawn_worker(queues: str, url: str, env: dict[str, str], *more: str) -> Process:
    """``pace-worker run`` on ``queues`` through ``url``; its jobs record what they ran on the
    test's own Redis (``$REDIS_URL``, tests/cli_apps/jobs.py)."""
    env = {**env, "PYTHONPATH": str(TESTS.parent) + os.pathsep + env.get("PYTHONPATH", "")}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pace.cli", "run", queues, "--app", "cli_apps.jobs:registry",
        "--redis-url", url, "--log-level", "WARNING", *more,
        cwd=TESTS, env=env, stdin=DEVNULL, stdout=DEVNULL, stderr=PIPE,
    )  # fmt: skip


async def ran(redis: Redis) -> list[int]:
    return sorted(json.loads(raw)[1][0] for raw in await redis.lrange(RAN, 0, -1))


async def test_a_fetch_held_in_the_network_past_dead_after_takes_nothing(
    client: pace.Client, redis: Redis, redis_server: EmbeddedRedis, cli_env: dict[str, str],
    start: Starter,
) -> None:
    """Worker A is cut off longer than dead_after; B recovers it. A's fetch, held in the
    network, reached Redis after A died and moved jobs into A's lane, which nobody recovers:
    10 jobs lost. A recovered worker's lanes are fenced: the late fetch takes nothing."""
    async with FaultProxy(str(redis_server.socket_path)) as proxy:
        a = await spawn_worker("q", proxy.url, cli_env, "--dead-after", "2")
        try:
            await client.enqueue("q", "Record", 0)
            await wait_for(lambda: redis.llen(RAN), timeout=20)  # A runs, its lane exists
            a_id = f"{socket.gethostname()}:{a.pid}:q"
            await start(["other"], noop, dead_after=1.0)  # B, on Redis directly
            proxy.hold()  # A's next fetch (within 0.5 s: it polls) waits in the network
            await client.enqueue_many("q", "Record", [[i] for i in range(1, 21)])

            async def recovered() -> bool:  # B found A dead (no beat for 2 s), recovered it
                return not await redis.sismember("resque:pace:workers", a_id)

            await wait_for(recovered, timeout=10)
        finally:
            a.kill()
            await a.wait()
        await proxy.release()  # A's fetch runs in Redis now, A gone

    async def record(job: pace.Job) -> None:
        await redis.rpush(RAN, json.dumps([job.class_name, job.args]))

    async def every_job_ran() -> bool:
        return set(await ran(redis)) == set(range(21))

    await start(["q"], record)  # C: runs what is in the queue
    await wait_for(every_job_ran, timeout=10)
    assert await redis.exists(f"resque:pace:inflight:{{resque:queue:q}}:{a_id}:fenced")


async def test_a_worker_taken_for_dead_goes_on_under_a_fresh_id(
    client: pace.Client, redis: Redis, start: Starter
) -> None:
    """Its jobs went back to their queues: it runs them again (at least once), stores no
    outcome of what it held, and registers again under a fresh id; nothing is lost."""
    runs: list[int] = []
    first = asyncio.Event()

    async def handler(job: pace.Job) -> None:
        runs.append(job.args[0])
        if len(runs) == 1:
            await first.wait()

    await client.enqueue_many("q", "Job", [[i] for i in range(3)])
    worker = await start(["q"], handler, concurrency=1, dead_after=30.0)
    await wait_for(lambda: runs == [0])
    old = worker.id
    await redis.delete(f"resque:pace:worker:{old}:alive")  # taken for dead (a partition)
    assert await InFlight(redis, Keys(), "recoverer").release(old) == 1
    first.set()  # its success is refused, its next fetch too
    await wait_for(lambda: sorted(runs) == [0, 0, 1, 2])
    assert worker.id == f"{old}:2"
    assert await redis.smembers("resque:workers") == {worker.id.encode()}
    await wait_for(lambda: redis.get("resque:stat:processed"))
    await wait_for(lambda: worker._settler.acks == [] and not worker._settler.pending)
    assert await redis.get("resque:stat:processed") == b"3", "job 0's first run not counted"


async def test_a_worker_stopped_while_it_takes_a_fresh_id_leaves_no_id_behind(
    client: pace.Client, redis: Redis, start: Starter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Taken for dead, it gives back what it held under its old id; a stop that comes then
    frees its ids, so a new worker on the same queues starts in the same process."""
    ran = asyncio.Event()

    async def handler(job: pace.Job) -> None:
        ran.set()

    await client.enqueue("q", "Job", 1)
    worker = await start(["q"], handler, dead_after=30.0)
    await wait_for(ran.is_set)
    giving_back, release = asyncio.Event(), InFlight.release

    async def slow_release(self: InFlight, *args: Any) -> int:
        if self is not worker._inflight or giving_back.is_set():
            return await release(self, *args)
        giving_back.set()
        await asyncio.Event().wait()  # until the stop cancels it
        raise AssertionError("unreachable")

    monkeypatch.setattr(InFlight, "release", slow_release)
    await redis.delete(f"resque:pace:worker:{worker.id}:alive")  # taken for dead
    await InFlight(redis, Keys(), "recoverer").release(worker.id)
    await wait_for(giving_back.is_set)
    await asyncio.wait_for(worker.stop(), timeout=10)
    await start(["q"], noop)  # "another Worker in this process serves the same queues" before


@pytest.mark.parametrize("close", [True, False], ids=["connection-dropped", "read-timeout"])
async def test_the_jobs_of_a_fetch_whose_reply_was_lost_run_and_a_burst_worker_waits(
    client: pace.Client,
    redis: Redis,
    redis_server: EmbeddedRedis,
    monkeypatch: pytest.MonkeyPatch,
    close: bool,
) -> None:
    """Redis ran the fetch, its reply never came: the exchange is sent again and reads the
    fetch's list back, so its jobs run at once, and a burst worker runs them before it exits."""
    monkeypatch.setitem(pace.connection.TIMEOUTS, "socket_timeout", 1.0)
    await client.enqueue_many("q", "Job", [[i] for i in range(20)])
    ran: list[int] = []

    async def handler(job: pace.Job) -> None:
        ran.append(job.args[0])

    async with FaultProxy(str(redis_server.socket_path)) as proxy:
        proxy.lose_reply(script("fetch").sha.encode(), close=close)
        worker = pace.Worker(["q"], redis_url=proxy.url, burst=True, batch_size=5)
        await asyncio.wait_for(worker.start(handler), timeout=20)
        assert proxy._lose is None, "a fetch reply was lost"
    assert sorted(ran) == list(range(20))
    assert await redis.llen("resque:queue:q") == 0
    assert not await lanes_left(redis)
    assert await redis.get("resque:stat:processed") == b"20"


async def test_a_job_that_ignores_cancellation_is_abandoned_after_the_grace_period(
    client: pace.Client, redis: Redis
) -> None:
    """A stop waited 5 s twice for a handler that swallows CancelledError, put its job back
    after the others (out of order), and a late end of it would have been acknowledged."""
    let_go = asyncio.Event()
    ended: list[int] = []

    async def handler(job: pace.Job) -> None:
        if job.args[0] == 1:
            while not let_go.is_set():
                with contextlib.suppress(asyncio.CancelledError):
                    await let_go.wait()
        else:
            await asyncio.sleep(60)
        ended.append(job.args[0])

    raws = [pace.wire.new_job("Job", [i])[1] for i in range(4)]
    await redis.rpush("resque:queue:q", *raws)
    worker = pace.Worker(["q"], redis=redis, concurrency=2)
    task = asyncio.create_task(worker.start(handler))
    await wait_for(lambda: len(worker.running_jobs()) == 2)
    await asyncio.wait_for(worker.stop(0.1), timeout=0.1 + 1 + 3)  # was over 10 s
    await task
    assert await redis.lrange("resque:queue:q", 0, -1) == raws, "back in the order taken"
    let_go.set()
    await wait_for(lambda: ended == [1])
    for _ in range(5):
        await asyncio.sleep(0)
    assert worker._settler.acks == [], "the abandoned job's late end is not acknowledged"
    assert await redis.get("resque:stat:processed") is None


async def commandstats(redis: Redis) -> dict[str, int]:
    """Calls per command since the last CONFIG RESETSTAT."""
    stats = await redis.info("commandstats")
    return {name.removeprefix("cmdstat_"): value["calls"] for name, value in stats.items()}


async def test_a_fetch_asks_only_about_queues_worth_trying(redis: Redis, start: Starter) -> None:
    """Under '*', every fetch asked for the length of every queue: 5,000 LLENs a fetch with
    5,000 queues. Queues found empty nap; jobs pushed (as Ruby pushes them) into any queue
    still run."""
    names = [f"q{i:04}" for i in range(5000)]
    await redis.sadd("resque:queues", *names)
    await redis.rpush("resque:queue:q2500", *(f'{{"class":"J","args":[{i}]}}' for i in range(300)))
    ran: list[tuple[str, int]] = []

    async def handler(job: pace.Job) -> None:
        ran.append((job.queue, job.args[0]))

    await redis.config_resetstat()
    await start(["*"], handler, concurrency=1, batch_size=1)
    await wait_for(lambda: len(ran) == 300, timeout=30)
    calls = await commandstats(redis)
    fetches = calls["evalsha"]  # the fetches, and a few moves of the schedule
    assert fetches >= 300
    assert calls["llen"] / fetches < 1000, calls  # was 5,000: one per queue
    await redis.rpush("resque:queue:q4999", '{"class":"J","args":[-1]}')
    await redis.rpush("resque:queue:q0000", '{"class":"J","args":[-2]}')
    await wait_for(lambda: len(ran) == 302, timeout=10)
    assert set(ran[300:]) == {("q4999", -1), ("q0000", -2)}


async def test_a_second_stop_exits_at_once_even_while_redis_is_unreachable(
    client: pace.Client, redis: Redis, redis_server: EmbeddedRedis, start: Starter
) -> None:
    """Putting jobs back waited for the read timeout (30 s) after a hard stop; now the
    worker gives up after a second and leaves its jobs to recovery."""
    await client.enqueue("q", "Job", 1)
    ran: list[int] = []

    async def handler(job: pace.Job) -> None:
        ran.append(job.args[0])
        await asyncio.sleep(60)

    async with FaultProxy(str(redis_server.socket_path)) as proxy:
        worker = pace.Worker(["q"], redis_url=proxy.url, dead_after=1.0)
        task = asyncio.create_task(worker.start(handler))
        await wait_for(lambda: ran == [1])
        proxy.blackhole()
        worker.request_stop(None)  # a drain with no limit ...
        worker.request_stop(0)  # ... cut short: TERM after QUIT
        await asyncio.wait_for(task, timeout=1 + 3)  # a second, and a margin

    async def record(job: pace.Job) -> None:
        ran.append(job.args[0])

    await start(["q", "other"], record, dead_after=1.0)  # another id than the first's
    await wait_for(lambda: ran == [1, 1], timeout=10)  # recovered


async def test_a_failure_record_written_again_after_a_lost_reply_is_written_once(
    client: pace.Client, redis: Redis, redis_url: str
) -> None:
    """Redis wrote a failure record, and its reply was lost: the write was sent again and the
    job had two records (seen once by the model test, across a Redis restart)."""

    class LosingPipeline(Pipeline):
        lost = False

        async def execute(self, raise_on_error: bool = True) -> list[Any]:
            writing = any(args[0] == "LREM" for args, _ in self.command_stack)
            replies: list[Any] = await super().execute(raise_on_error)
            if writing and not LosingPipeline.lost:
                LosingPipeline.lost = True
                raise RedisConnectionError("the reply was lost")
            return replies

    class Losing(Redis):
        def pipeline(self, transaction: bool = True, shard_hint: str | None = None) -> Pipeline:
            return LosingPipeline(
                self.connection_pool, self.response_callbacks, transaction, shard_hint
            )

    async def broken(job: pace.Job) -> None:
        raise ValueError("no")

    await one_job_in_burst(client, Losing.from_url(redis_url), broken)
    assert LosingPipeline.lost
    assert await redis.llen("resque:failed") == 1
    assert await redis.get("resque:stat:failed") == b"1"


async def test_a_busy_worker_taken_for_dead_learns_it_at_its_next_beat(
    client: pace.Client, redis: Redis, start: Starter
) -> None:
    """A worker busy with long jobs (no room to fetch) kept re-registering its old id until
    one of them ended; its beat now finds it unregistered and it goes on under a fresh id."""
    gate = asyncio.Event()
    runs: list[int] = []

    async def handler(job: pace.Job) -> None:
        runs.append(job.args[0])
        await gate.wait()

    await client.enqueue_many("q", "Job", [[0], [1]])
    worker = await start(["q"], handler, concurrency=1, dead_after=2.0)
    await wait_for(lambda: runs == [0])
    old = worker.id
    recoverer = InFlight(redis, Keys(), "recoverer")
    while True:  # taken for dead: its alive key gone (a beat may land in between)
        await redis.delete(f"resque:pace:worker:{old}:alive")
        if await recoverer.release(old) == 1:
            break
    await wait_for(lambda: worker.id != old, timeout=5)  # its next beat: within 0.5 s

    async def registered_anew() -> bool:
        return await redis.smembers("resque:workers") == {worker.id.encode()}

    await wait_for(registered_anew)
    gate.set()
    await wait_for(lambda: sorted(runs) == [0, 0, 1])
