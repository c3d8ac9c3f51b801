"""The progress tracker: stored JSON, throttling, ETA, totals, expiry, queries, the worker."""

from __future__ import annotations

import asyncio
import json
import re
import sys
from datetime import UTC, datetime, timedelta, timezone

import pytest
from redis.asyncio import Redis

import pace
from pace.progress import MemoryStore, RedisStore, Tick, jobs
from tests.support import Starter, on_both, wait_for

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$")
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
    monkeypatch.setattr("pace.progress._tick.now", fake)
    return fake


@on_both
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
    # 4 x 10 s after start
    assert entry["estimated_finished_at"] == "2027-01-15T08:00:40.000000+00:00"
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


@on_both
async def test_an_eta_read_back_equals_the_live_one(redis: Redis, clock: Clock) -> None:
    clock.now = START + 0.95  # late in a second: whole seconds would put the start 0.95 s early
    store = RedisStore(redis)
    progress = await pace.Progress("s", total=1000, job_id="late", store=store)
    for i in range(160):  # a steady 10 a second, to 16%
        clock.now += 0.1
        await progress.tick(force=i == 159)
    live = progress.snapshot().eta
    read_back = (await jobs("s", store=store))["late"].eta
    assert live is not None
    assert read_back is not None
    assert abs((read_back - live).total_seconds()) < 0.1, (read_back, live)
    assert abs(live.timestamp() - (START + 0.95 + 1000 * 0.1)) < 0.1


async def test_tick_takes_a_whole_number_of_at_least_one(clock: Clock) -> None:
    progress = await pace.Progress("s", total=100, store=MemoryStore())
    for bad in (-5, 0, "3", 2.5, True, None):
        with pytest.raises(pace.ConfigError, match="tick must be a whole number >= 1"):
            await progress.tick(bad)  # type: ignore[arg-type]
    assert progress.count == 0
    await progress.tick(3)
    assert progress.percent == 3


@pytest.mark.parametrize("end", ["complete", "fail"])
async def test_a_tick_after_the_end_raises(end: str) -> None:
    progress = await pace.Progress("s", total=10, store=MemoryStore())
    await (progress.complete() if end == "complete" else progress.fail("stopped"))
    over = "completed" if end == "complete" else "failed"
    with pytest.raises(pace.PaceError, match=f"already {over}: no tick after complete"):
        await progress.tick()
    with pytest.raises(pace.PaceError, match=over):
        await progress.tick(force=True)


@on_both
async def test_a_total_of_zero_is_done_and_none_is_unknown(redis: Redis, clock: Clock) -> None:
    store = RedisStore(redis)
    empty = await pace.Progress("s", total=0, job_id="zero", store=store)
    unknown = await pace.Progress("s", total=None, job_id="unknown", store=store)
    clock.now += 3
    await unknown.tick(7)
    ticks = await jobs("s", store=store)
    assert ticks["zero"].status == "completed", "nothing to do: done, not started at 100%"
    assert ticks["zero"].finished_at == ticks["zero"].started_at
    assert not empty.running
    assert ticks["zero"].percentage == 100
    assert ticks["zero"].eta is None
    assert ticks["unknown"].percentage is None
    assert ticks["unknown"].eta is None
    assert ticks["unknown"].count == 7
    assert ticks["unknown"].status == "running"


@on_both
async def test_finished_entries_expire_one_by_one(redis: Redis, clock: Clock) -> None:
    store = RedisStore(redis)
    done = await pace.Progress(("team", 1), total=1, job_id="done", expire=60, store=store)
    running = await pace.Progress(("team", 1), total=10, job_id="running", store=store)
    await done.complete()
    assert set(await jobs(("team", 1), store=store)) == {"done", "running"}
    clock.now += 61
    assert set(await jobs(("team", 1), store=store)) == {"running"}
    assert not await redis.hexists("resque:pace:team:1", "done")
    assert await redis.pttl("resque:pace:team:1") == -1, "the hash lives on for the running one"
    await running.tick()
    await pace.progress.flush(("team", 1), "running", store=store)
    assert not await redis.exists("resque:pace:team:1")


@on_both
async def test_a_running_entry_lives_as_long_as_it_runs(redis: Redis) -> None:
    store = RedisStore(redis)
    key = "resque:pace:team:2"
    running = await pace.Progress(("team", 2), total=10, job_id="slow", expire=1, store=store)
    assert await redis.pttl(key) == -1, "no end while it runs, however long between writes"
    await running.tick(force=True)
    assert await redis.pttl(key) == -1
    await running.complete()
    assert 0 < await redis.pttl(key) <= 1000, "a finished entry: expire seconds from its end"


@on_both
async def test_the_scope_lives_as_long_as_its_longest_lived_entry(redis: Redis) -> None:
    store = RedisStore(redis)
    key = "resque:pace:team:3"
    kept = await pace.Progress(("team", 3), total=1, job_id="kept", expire=3600, store=store)
    await kept.complete()
    running = await pace.Progress(("team", 3), total=1, job_id="run", expire=60, store=store)
    assert await redis.pttl(key) == -1
    in_two_hours = datetime.now(timezone(timedelta(hours=-5))) + timedelta(hours=2)
    ruby = {"id": "ruby", "count": 1, "total": 1, "started_at": "2026-11-23 10:00:00 +0000",
            "expires_at": in_two_hours.strftime("%Y-%m-%d %H:%M:%S %z")}  # fmt: skip
    await redis.hset(key, "ruby", json.dumps(ruby, separators=(",", ":")))
    await running.complete()  # the last one running: the hash ends with the latest entry
    assert 7_190_000 < await redis.pttl(key) <= 7_200_000
    await redis.hdel(key, "ruby")
    tricky = {"expires_at": "2000-01-01T00:00:00+00:00"}
    again = await pace.Progress(("team", 3), total=1, job_id="again", params=tricky, store=store)
    other = await pace.Progress(("team", 3), total=1, job_id="other", expire=60, store=store)
    await other.complete()
    assert await redis.pttl(key) == -1, "'again' still runs, whatever its params hold"
    await pace.progress.flush(("team", 3), again.job_id, store=store)
    assert 3_590_000 < await redis.pttl(key) <= 3_600_000, "kept's end, once none runs"


@on_both
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


@on_both
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


@on_both
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


@on_both
async def test_a_job_failing_after_its_progress_block_closed_is_marked_failed(
    client: pace.Client, redis: Redis, start: Starter
) -> None:
    async def handler(job: pace.Job) -> None:
        async with job.progress("late", total=2) as progress:
            await progress.tick(2)
        raise RuntimeError("failed while saving the results")

    job_id = await client.enqueue("q", "Import")
    await start(["q"], handler)
    await wait_for(lambda: redis.llen("resque:failed"))
    tick = (await jobs("late", store=RedisStore(redis)))[job_id]
    assert (tick.status, tick.finished_at) == ("failed", None)
    assert tick.error == "RuntimeError: failed while saving the results"


@on_both
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


@on_both
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


@on_both
async def test_progress_reports_into_a_ruby_apps_progressrus_scope(
    redis: Redis, redis_url: str
) -> None:
    progress = await pace.Progress(
        ("user", 3421), total=4, job_id="py", prefix="progressrus", redis_url=redis_url
    )
    await progress.tick(2, force=True)
    entry = json.loads(await redis.hget("progressrus:user:3421", "py"))
    # exactly the keywords of Progressrus.new (lib/progressrus.rb): Ruby raises on any other
    progressrus_keys = {"name", "id", "scope", "started_at", "completed_at", "failed_at",
                        "expires_at", "count", "total", "params", "error_count"}  # fmt: skip
    assert set(entry) == progressrus_keys
    assert (entry["id"], entry["scope"], entry["count"], entry["total"]) == (
        "py", ["user", "3421"], 2, 4
    )
    await progress.complete()
    await progress.aclose()
    ruby = {"name": "rb", "id": "rb", "scope": ["user", "3421"], "count": 5, "total": 10,
            "started_at": "2026-11-23 10:00:00 -0500", "completed_at": None, "failed_at": None,
            "expires_at": None, "params": {}, "error_count": 0}  # fmt: skip
    await redis.hset("progressrus:user:3421", "rb", json.dumps(ruby))
    ticks = await jobs(("user", 3421), store=RedisStore(redis, prefix="progressrus"))
    assert (ticks["py"].status, ticks["py"].count) == ("completed", 4)
    assert (ticks["rb"].status, ticks["rb"].percentage) == ("running", 50.0)
    assert ticks["rb"].started_at == datetime(2026, 11, 23, 15, tzinfo=UTC)
    assert not await redis.exists("resque:pace:user:3421")
    with pytest.raises(pace.ConfigError, match="Progressrus prefix"):
        RedisStore(redis, prefix="progressrus:")
