"""pace.testing and its pytest plugin: drains run the real worker on the plugin's Redis."""

from __future__ import annotations

import asyncio
import importlib.metadata
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import pace
from pace.embedded import EmbeddedRedis
from pace.testing import Failed, InlineWorker
from pace.wire import loads


async def greet(job: pace.Job) -> None:
    """Succeeds."""


async def refuse(job: pace.Job) -> None:
    raise ValueError(f"no mailbox {job.args[0]}")


async def test_drain_runs_what_was_enqueued_and_says_what_ran_and_what_failed(
    pace_redis: EmbeddedRedis,
) -> None:
    inline = InlineWorker({"Greet": greet, "Mail": refuse}, redis_url=pace_redis.url)
    await pace.enqueue("a", "Greet", "ann")  # pace's default URL is pace_redis's in the test
    await pace.enqueue("b", "Mail", "bob")
    await pace.enqueue("b", "Nobody")

    drained = await inline.drain()

    assert [job.args for job in drained.processed] == [["ann"]]
    assert sorted((run.job.class_name, type(run.exception).__name__) for run in drained.runs) == [
        ("Greet", "NoneType"),
        ("Mail", "ValueError"),
        ("Nobody", "UnknownJobClass"),
    ]
    assert sorted(str(failed.exception) for failed in drained.failed) == [
        "no handler for job class 'Nobody' (registered: Greet, Mail)",
        "no mailbox bob",
    ]
    mail = next(f for f in drained.failed if isinstance(f.exception, ValueError))
    assert isinstance(mail.payload, dict)
    assert mail.payload["args"] == ["bob"]
    async with pace.Client() as client:
        info = await client.info()
        records = [
            loads(raw) for raw in await (await client.redis()).lrange("resque:failed", 0, -1)
        ]
    assert (info.processed_total, info.failed_total, info.queues) == (3, 2, {"a": 0, "b": 0})
    assert sorted(record["exception"] for record in records) == [
        "ValueError",
        "pace.errors.UnknownJobClass",
    ]
    assert await inline.drain() == type(drained)(), "nothing left: an empty drain"


async def test_retries_wait_on_the_schedule_until_due_within_covers_them(
    pace_redis: EmbeddedRedis,
) -> None:
    policy = pace.RetryPolicy(attempts=3, backoff=30, jitter=0)
    inline = InlineWorker({"Mail": refuse}, redis_url=pace_redis.url, retry=policy)
    await pace.enqueue("mail", "Mail", "bob")

    first = await inline.drain()
    assert [run.job.attempt for run in first.runs] == [1]
    assert first.failed == []
    later = await inline.drain(due_within=45)  # attempt 2 (due in 30 s); attempt 3 is due in 60
    assert [run.job.attempt for run in later.runs] == [2]
    rest = await inline.drain(due_within=None)
    assert [run.job.attempt for run in rest.runs] == [3]
    [failed] = rest.failed
    assert isinstance(failed, Failed)
    assert str(failed.exception) == "no mailbox bob"
    assert isinstance(failed.payload, dict)
    assert failed.payload["pace_attempt"] == 3


async def test_jobs_enqueued_by_jobs_and_hooks_run_in_the_same_drain(
    pace_worker: InlineWorker,
) -> None:
    async def chain(job: pace.Job) -> None:
        if job.args[0] < 3:
            await pace.enqueue(f"q{job.args[0] + 1}", "Chain", job.args[0] + 1)

    seen: list[object] = []
    pace_worker.handlers["Chain"] = chain
    pace_worker.add_hook("processed", lambda job: seen.append(job.args[0]))
    await pace.enqueue("q0", "Chain", 0)

    drained = await pace_worker.drain()

    assert [job.args[0] for job in drained.processed] == [0, 1, 2, 3]
    assert seen == [0, 1, 2, 3]


@pytest.mark.parametrize("run", [1, 2])
async def test_pace_redis_is_flushed_for_each_test_and_is_pace_s_default(
    pace_redis: EmbeddedRedis, run: int
) -> None:
    assert pace.redis_url == pace_redis.url
    async with pace.Client() as client:
        redis = await client.redis()
        assert await redis.dbsize() == 0, "the test before left its keys"
        await client.enqueue("q", "Left", run)


async def test_bad_settings_handlers_and_horizons_are_refused_at_once(
    pace_redis: EmbeddedRedis,
) -> None:
    with pytest.raises(pace.ConfigError, match="coroutine function"):
        InlineWorker({"Greet": print})  # type: ignore[dict-item]
    with pytest.raises(pace.ConfigError, match="concurrency"):
        InlineWorker({}, concurrency=0)
    with pytest.raises(TypeError, match="retyr"):
        InlineWorker({}, retyr=None)
    with pytest.raises(pace.ConfigError, match="due_within"):
        await InlineWorker({}).drain(due_within=-1)


def test_the_plugin_is_pace_worker_s_pytest11_entry_point_and_loads_on_its_own(
    tmp_path: Path,
) -> None:
    [entry] = importlib.metadata.entry_points(group="pytest11", name="pace")
    assert entry.value == "pace.testing_plugin"
    assert entry.dist is not None
    assert entry.dist.name == "pace-worker"
    (tmp_path / "test_nothing.py").write_text("def test_nothing():\n    pass\n")
    script = textwrap.dedent(
        """
        import sys, pytest
        assert pytest.main(["-q", "-p", "no:cacheprovider", sys.argv[1]]) == 0
        loaded = sorted(name for name in sys.modules if name.startswith("pace"))
        print("pace modules:", loaded)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # no pace.embedded (so no redis-server), no pace.testing, no worker
    assert "pace modules: ['pace', 'pace.errors', 'pace.testing_plugin']" in done.stdout


async def test_a_drain_leaves_no_task_behind(pace_worker: InlineWorker) -> None:
    pace_worker.handlers["Greet"] = greet
    await pace.enqueue("q", "Greet")
    await pace_worker.drain()
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []
