"""Multi-step tasks (pace/multistep.py) with real workers: finalization order and exactly-once
under 50 concurrent completions, a failure holding finalization until requeued, jobs added
from inside a job, odd slugs, cleanup, and examples/multistep.py."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from redis.asyncio import Redis

import pace
from pace.keys import Keys
from pace.queues import QueueSelector, check_queue_name
from pace.workflows.batch import Batch
from tests.support import Starter, noop, on_both, wait_for
from tests.test_batch import batch_keys, no_batch_keys
from tests.test_examples import run_example

KEYS = Keys()


async def counts(task: pace.MultiStepTask) -> tuple[int, ...]:
    """The task's counts, as resque-multi-step names them."""
    return (
        await task.total_job_count(),
        await task.normal_job_count(),
        await task.finalize_job_count(),
        await task.completed_count(),
        await task.failed_count(),
    )


async def not_known(redis: Redis, queue: str) -> bool:
    return not await redis.sismember(KEYS.queues, queue)


def gone(redis: Redis, task: pace.MultiStepTask) -> Any:
    """A wait_for condition: the task's state is deleted."""

    async def condition() -> bool:
        return not await redis.exists(KEYS.batch(task.task_id))

    return condition


@on_both
async def test_finalization_runs_once_in_order_after_50_jobs_finish_together(
    client: pace.Client, redis: Redis, start: Starter
) -> None:
    started, done, finals = [], [], []
    all_started = asyncio.Event()
    running_finals = 0

    async def normal(job: pace.Job) -> None:
        started.append(job.args[0])
        if len(started) == 50:
            all_started.set()
        await all_started.wait()  # then all 50 finish at the same moment, on three workers
        done.append(job.args[0])

    async def final(job: pace.Job) -> None:
        nonlocal running_finals
        running_finals += 1
        finals.append((job.args[0], len(done), running_finals))
        await asyncio.sleep(0.02)
        running_finals -= 1

    async with pace.MultiStepTask.create("fifty", client=client) as task:
        await task.add_jobs("Normal", [[i] for i in range(50)])
        for i in range(4):
            await task.add_finalization_job("Final", i)
    handlers = {"Normal": normal, "Final": final}
    queue = task.queue_name
    for extra in ([], ["spare-a"], ["spare-b"]):
        await start([queue, *extra], handlers, concurrency=20)
    await wait_for(gone(redis, task), timeout=10)
    assert sorted(done) == list(range(50))
    assert finals == [(i, 50, 1) for i in range(4)], "in order, each once, one at a time"
    assert await redis.get("resque:stat:processed") == b"54"
    await wait_for(lambda: no_batch_keys(redis))
    await wait_for(lambda: not_known(redis, queue))  # on a cluster: from the outbox, just after
    assert not await redis.exists(KEYS.queue(queue))
    with pytest.raises(pace.NoSuchMultiStepTask):
        await pace.MultiStepTask.find(task.task_id, client=client)


@on_both
async def test_a_failed_job_holds_finalization_until_requeued_and_successful(
    client: pace.Client, redis: Redis, start: Starter
) -> None:
    broken = True
    finals: list[str] = []
    counts_in_final: list[tuple[int, ...]] = []

    async def normal(job: pace.Job) -> None:
        if job.args[0] == 1 and broken:
            raise RuntimeError("boom")

    async def final(job: pace.Job) -> None:
        task = job.multi_step_task
        assert task is not None
        counts_in_final.append(await counts(task))
        finals.append(job.class_name)

    async with pace.MultiStepTask.create("held", client=client, expire=3600) as task:
        await task.add_jobs("Normal", [[0], [1], [2]])
        await task.add_finalization_job("Final")
    await start([task.queue_name], {"Normal": normal, "Final": final})

    async def held() -> bool:
        return (await task.state()).blocked

    await wait_for(held)
    await asyncio.sleep(0.3)
    assert finals == []
    # total (normal + finalization), normal, finalization, completed, failed: the gem's
    assert await counts(task) == (4, 3, 1, 2, 1)
    ttl = await redis.pttl(KEYS.batch(task.task_id))
    assert 3_590_000 < ttl <= 3_600_000, "a stuck task's state expires, in time"
    (failure,) = await pace.Failures(client).list()
    assert failure.payload["pace_batch"] == task.task_id
    assert failure.queue == task.queue_name

    broken = False
    await pace.Failures(client).requeue(0)
    await wait_for(lambda: finals == ["Final"])
    # the requeued job counts as completed, its failure still counts (as in the gem), and the
    # gem's percentage, completed / total, is 75% while the finalization job runs: not 100%
    assert counts_in_final == [(4, 3, 1, 3, 1)]
    await wait_for(gone(redis, task))
    await wait_for(lambda: no_batch_keys(redis))


async def test_a_running_job_and_a_found_task_add_jobs_to_it(
    client: pace.Client, redis: Redis, start: Starter
) -> None:
    done: list[Any] = []
    seen_by_final: list[list[Any]] = []

    async def parent(job: pace.Job) -> None:
        task = job.multi_step_task
        assert task is not None
        assert task.task_id == job.queue
        for i in range(3):
            await task.add_job("Child", i)

    async def child(job: pace.Job) -> None:
        await asyncio.sleep(0.05)
        done.append(job.args[0])

    async def final(job: pace.Job) -> None:
        seen_by_final.append(sorted(done, key=str))

    task = await pace.MultiStepTask.create("family", client=client)  # no block: finalize later
    await task.add_job("Parent")
    found = await pace.MultiStepTask.find(task.task_id, client=client)
    await found.add_job("Child", "found")
    await found.add_finalization_job("Final")
    assert not await found.finalizable()
    await start([task.queue_name], {"Parent": parent, "Child": child, "Final": final})
    await wait_for(lambda: len(done) == 4)
    await asyncio.sleep(0.1)
    assert seen_by_final == [], "not sealed yet: finalization waits"
    await found.finalize()
    await wait_for(lambda: seen_by_final)
    assert seen_by_final == [[0, 1, 2, "found"]]
    await wait_for(gone(redis, task))


async def test_jobs_cannot_be_added_once_finalization_has_begun(
    client: pace.Client, redis: Redis, start: Starter
) -> None:
    finalizing, release = asyncio.Event(), asyncio.Event()

    async def final(job: pace.Job) -> None:
        finalizing.set()
        await release.wait()

    async with pace.MultiStepTask.create("late", client=client) as task:
        await task.add_job("Normal")
        await task.add_finalization_job("Final")
    await start([task.queue_name], {"Normal": noop, "Final": final})
    await finalizing.wait()
    with pytest.raises(pace.StageComplete):
        await task.add_job("Normal")
    await task.add_finalization_job("Final")  # a later finalization job is fine
    assert await task.finalize_job_count() == 2
    release.set()
    await wait_for(gone(redis, task))


async def test_an_exception_in_the_block_deletes_the_task_and_its_queue(
    client: pace.Client, redis: Redis
) -> None:
    task = pace.MultiStepTask.create("oops", client=client)

    async def build() -> None:
        async with task:
            await task.add_jobs("Normal", [[1], [2]])
            raise RuntimeError("half-built")

    with pytest.raises(RuntimeError):
        await build()
    assert not await redis.exists(KEYS.queue(task.queue_name))
    assert not await redis.sismember(KEYS.queues, task.queue_name)
    assert await batch_keys(redis) == []
    with pytest.raises(pace.NoSuchMultiStepTask):
        await pace.MultiStepTask.find(task.task_id, client=client)


@pytest.mark.parametrize(
    "slug",
    ["pirate-take-over", "a b:c*d?[e]{f}!g", "Ünïcødé slug", "", None, 42, ":::", "x" * 300],
)
async def test_any_slug_makes_a_valid_unique_queue(client: pace.Client, slug: object) -> None:
    first = await pace.MultiStepTask.create(slug, client=client)
    second = await pace.MultiStepTask.create(slug, client=client)
    assert first.task_id != second.task_id
    for task in (first, second):
        check_queue_name(task.queue_name)
        assert QueueSelector([task.queue_name]).dynamic is False, "no glob characters"
        assert not task.queue_name.startswith("!")
        assert (await task.state()).name == (
            str(slug) if slug not in (None, "") else "multi-step-task"
        )


async def test_find_of_an_unknown_or_staged_id_raises(client: pace.Client) -> None:
    for task_id in ("nope", "a:b"):
        with pytest.raises(pace.NoSuchMultiStepTask) as caught:
            await pace.MultiStepTask.find(task_id, client=client)
        assert isinstance(caught.value, LookupError)
    group = await pace.StagedGroup.create("g", client=client)
    with pytest.raises(pace.NoSuchMultiStepTask):
        await pace.MultiStepTask.find(group.group_id, client=client)


async def test_a_task_never_awaited_or_entered_says_so(client: pace.Client) -> None:
    task = pace.MultiStepTask.create("forgot", client=client)
    uses = (lambda: task.add_job("Work"), task.completed_count, task.finalize, task.exists)
    for use in uses:
        with pytest.raises(pace.PaceError, match="never stored") as caught:
            await use()
        assert not isinstance(caught.value, pace.NoSuchBatch)
        assert "MultiStepTask.create(...) returns a MultiStepTask to await" in str(caught.value)
    await task
    assert await task.exists()
    await task.add_job("Work")
    assert await counts(task) == (1, 1, 0, 0, 0)


async def test_job_staged_of_a_multistep_job_keeps_its_status_message(
    client: pace.Client, redis: Redis, start: Starter
) -> None:
    release = asyncio.Event()
    read_back: list[Any] = []

    async def normal(job: pace.Job) -> None:
        assert job.staged is not None
        read_back.append(await job.staged.set_status_message("converted"))
        read_back.append(await job.staged.status_message())

    async def final(job: pace.Job) -> None:
        await release.wait()

    async with pace.MultiStepTask.create("messages", client=client) as task:
        job_id = await task.add_job("Normal")
        await task.add_finalization_job("Final")
    await start([task.queue_name], {"Normal": normal, "Final": final})
    await wait_for(lambda: len(read_back) == 2)
    assert read_back == [True, "converted"]
    info = await Batch(redis, KEYS, task.task_id).job(job_id)
    assert info is not None
    assert info.status_message == "converted"
    release.set()
    await wait_for(gone(redis, task))


async def test_a_plain_job_has_no_task(client: pace.Client, redis: Redis, start: Starter) -> None:
    seen: list[Any] = []

    async def handler(job: pace.Job) -> None:
        seen.append((job.multi_step_task, job.staged))

    await client.enqueue("q", "Plain")
    await start(["q"], handler)
    await wait_for(lambda: seen)
    assert seen == [(None, None)]


async def test_multistep_example_runs_finalization_in_order(
    redis: Redis, cli_env: dict[str, str]
) -> None:
    status, out, err = await run_example("multistep", cli_env)
    assert status == 0, err
    lines = out.splitlines()
    commit = next(i for i, line in enumerate(lines) if line.startswith("CommitSolr"))
    unlock = next(i for i, line in enumerate(lines) if line.startswith("UnlockBlog"))
    assert commit < unlock
    assert "20 posts converted, 24 of 26 jobs done" in lines[commit]
    assert sum("tweeted post" in line for line in lines[:commit]) == 4
    assert "is gone: it finished and cleaned up" in out
    assert "done: 26 jobs processed, 0 failed" in out
    assert await batch_keys(redis) == []
