"""The progress tracker: stored JSON, throttling, ETA, totals, expiry, queries, the worker."""

from __future__ import annotations

import asyncio
import json
import re
import sys

import pytest
from redis.asyncio import Redis

import pace
from pace.progress import MemoryStore, RedisStore, Tick, jobs
from tests.support import Starter, wait_for

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$")
START = 1_800_000_000.0


class Clock:
    """A fake ``time.time`` the test moves by hand."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr("pace.progress._now", fake)
    return fake


async def test_the_stored_json_has_every_field_of_the_spec(redis: Redis, clock: Clock) -> None:
    store = RedisStore(redis)
    progress = await pace.Progress(
        ("user", 3421), total=200, job_id="j1", name="import", params={"file": "a.csv"}, store=store
    )
    clock.now += 10
    await progress.tick(50, force=True)
    entry = json.loads(await redis.hget("resque:pace:user:3421", "j1"))
    for key in ("percent", "count", "total", "started_at", "estimated_finished_at", "finished_at"):
        assert key in entry
    assert (entry["percent"], entry["count"], entry["total"]) == (25, 50, 200)
    assert ISO.match(entry["started_at"])
    assert ISO.match(entry["estimated_finished_at"])
    assert entry["estimated_finished_at"] == "2027-01-15T08:00:40+00:00"  # 4 x 10 s after start
    assert entry["finished_at"] is None
    assert (entry["failed_at"], entry["error"], entry["error_count"]) == (None, None, 0)
    assert (entry["name"], entry["params"]) == ("import", {"file": "a.csv"})
    await progress.fail("disk full")
    entry = json.loads(await redis.hget("resque:pace:user:3421", "j1"))
    assert ISO.match(entry["failed_at"])
    assert (entry["error"], entry["error_count"]) == ("disk full", 1)


async def test_a_job_ticking_10000_times_writes_a_handful_of_times(clock: Clock) -> None:
    store = MemoryStore()
    progress = pace.Progress("s", total=10_000, store=store)
    for _ in range(10_000):
        clock.now += 0.001  # ten seconds in all
        await progress.tick()
    assert 3 <= store.writes <= 8, store.writes
    (tick,) = (await jobs("s", store=store)).values()
    assert tick.count == 10_000
    assert tick.percentage == 100


async def test_a_write_needs_the_interval_and_a_new_whole_percent(clock: Clock) -> None:
    store = MemoryStore()
    progress = await pace.Progress("s", total=1000, store=store)  # write 1: the 0% marker
    clock.now += 10
    await progress.tick(5)  # 0.5%: interval passed, same whole percent
    assert store.writes == 1
    await progress.tick(5)  # 1%: written
    assert store.writes == 2
    await progress.tick(20)  # 3%, but within the interval
    assert store.writes == 2
    await progress.tick(force=True)
    assert store.writes == 3
    await progress.tick(969)  # the last tick: count reaches total
    assert store.writes == 4


async def test_eta_is_within_ten_percent_for_a_steady_rate(clock: Clock) -> None:
    store = MemoryStore()
    progress = await pace.Progress("s", total=1000, store=store)
    for _ in range(300):
        clock.now += 0.01
        await progress.tick()
    tick = progress.snapshot()
    assert tick.eta is not None
    expected = START + 1000 * 0.01
    assert abs(tick.eta.timestamp() - expected) <= 0.1 * 10
    assert tick.elapsed.total_seconds() == pytest.approx(3.0)
    assert tick.status == "running"


async def test_a_total_of_zero_is_done_and_none_is_unknown(clock: Clock) -> None:
    store = MemoryStore()
    empty = await pace.Progress("s", total=0, job_id="zero", store=store)
    unknown = await pace.Progress("s", total=None, job_id="unknown", store=store)
    clock.now += 3
    await unknown.tick(7)
    ticks = await jobs("s", store=store)
    assert ticks["zero"].percentage == 100
    assert ticks["zero"].eta is None
    assert ticks["unknown"].percentage is None
    assert ticks["unknown"].eta is None
    assert ticks["unknown"].count == 7
    assert ticks["unknown"].status == "running"
    await empty.complete()
    assert (await jobs("s", store=store))["zero"].status == "completed"


async def test_finished_entries_expire_one_by_one(redis: Redis, clock: Clock) -> None:
    store = RedisStore(redis)
    done = await pace.Progress(("team", 1), total=1, job_id="done", expire=60, store=store)
    running = await pace.Progress(("team", 1), total=10, job_id="running", store=store)
    await done.complete()
    assert set(await jobs(("team", 1), store=store)) == {"done", "running"}
    clock.now += 61
    assert set(await jobs(("team", 1), store=store)) == {"running"}
    assert not await redis.hexists("resque:pace:team:1", "done")
    assert await redis.ttl("resque:pace:team:1") > 0, "the hash lives on for the running one"
    await running.tick()
    await pace.progress.flush(("team", 1), "running", store=store)
    assert not await redis.exists("resque:pace:team:1")


async def test_async_with_completes_or_fails(redis: Redis) -> None:
    store = RedisStore(redis)
    async with pace.Progress("s", total=2, job_id="ok", store=store) as progress:
        await progress.tick()
    with pytest.raises(ValueError, match="bad row"):
        async with pace.Progress("s", total=2, job_id="bad", store=store):
            raise ValueError("bad row")
    ticks = await jobs("s", store=store)
    assert ticks["ok"].status == "completed"
    assert ticks["ok"].count == 2
    assert ticks["bad"].status == "failed"
    assert ticks["bad"].error == "bad row"


async def test_a_query_from_a_second_process_sees_the_scope(redis: Redis, redis_url: str) -> None:
    first = await pace.Progress(("user", 7), total=4, job_id="a", store=RedisStore(redis))
    second = await pace.Progress(("user", 7), total=8, job_id="b", store=RedisStore(redis))
    await first.tick(2, force=True)
    await second.complete()
    script = (
        "import asyncio, json, pace\n"
        f"ticks = asyncio.run(pace.progress.jobs(('user', 7), redis_url={redis_url!r}))\n"
        "print(json.dumps({k: [t.status, t.percentage] for k, t in ticks.items()}))\n"
    )
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, stdout=asyncio.subprocess.PIPE
    )
    stdout, _ = await asyncio.wait_for(child.communicate(), timeout=30)
    assert child.returncode == 0
    assert json.loads(stdout) == {"a": ["running", 50.0], "b": ["completed", 100.0]}


async def test_redis_errors_in_a_progress_write_never_fail_the_job() -> None:
    store = RedisStore(Redis.from_url("redis://127.0.0.1:1/0"))
    progress = await pace.Progress("s", total=3, store=store)
    await progress.tick(force=True)
    await progress.complete()
    await store.redis.aclose()


async def test_the_worker_marks_a_crashed_jobs_progress_failed(
    client: pace.Client, redis: Redis, start: Starter
) -> None:
    async def handler(job: pace.Job) -> None:
        progress = await job.progress(("user", job.args[0]), total=10)
        await progress.tick(3)
        raise RuntimeError("lost the connection")

    job_id = await client.enqueue("q", "Import", 42)
    await start(["q"], handler)
    await wait_for(lambda: redis.llen("resque:failed"))
    ticks = await jobs(("user", 42), store=RedisStore(redis))
    tick = ticks[job_id]
    assert tick.status == "failed"
    assert tick.error == "RuntimeError: lost the connection"
    assert (tick.count, tick.name, tick.params) == (3, "Import", [42])


async def test_two_jobs_in_one_scope_in_a_worker(
    client: pace.Client, redis: Redis, start: Starter
) -> None:
    async def handler(job: pace.Job) -> None:
        async with job.progress("batch", total=5) as progress:
            for _ in range(5):
                await asyncio.sleep(0)
                await progress.tick()

    ids = await client.enqueue_many("q", "Job", [[1], [2]])
    await start(["q"], handler)

    async def both_done() -> bool:
        ticks = await jobs("batch", store=RedisStore(redis))
        return len(ticks) == 2 and all(tick.completed for tick in ticks.values())

    await wait_for(both_done)
    assert set(await jobs("batch", store=RedisStore(redis))) == set(ids)


@pytest.mark.parametrize("scope", [(), ("",), "", ("worker", 1), "schedule"])
def test_bad_scopes_are_refused(scope: object) -> None:
    with pytest.raises(pace.ConfigError):
        pace.Progress(scope, total=1)  # type: ignore[arg-type]


def test_tick_status_properties() -> None:
    tick = Tick.from_json("x", {"count": 0, "total": 5, "started_at": "2026-11-23T00:00:00+00:00"})
    assert (tick.status, tick.running, tick.completed, tick.failed) == (
        "started",
        True,
        False,
        False,
    )


async def test_the_cli_shows_a_scope_as_bars(redis: Redis, cli_env: dict[str, str]) -> None:
    store = RedisStore(redis)
    half = await pace.Progress(("user", 5), total=200, job_id="a" * 32, name="Import", store=store)
    await half.tick(100, force=True)
    done = await pace.Progress(("user", 5), total=10, job_id="b" * 32, name="Mail", store=store)
    await done.complete()
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pace.cli", "progress", "user:5", env=cli_env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(child.communicate(), timeout=30)
    assert child.returncode == 0, err
    lines = out.decode().splitlines()
    assert any(
        "Import aaaaaaaaaaaa" in line and "50.0%" in line and "ETA" in line for line in lines
    )
    assert any(
        "Mail bbbbbbbbbbbb" in line and "100.0%" in line and "completed" in line for line in lines
    )
